"""Fixtures of reintegration's tests: the service on real PostgreSQL + Kafka (its runtime)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from reintegration_fixtures import RunningReintegration, catalogue

from avrr_events.adapters.kafka import KafkaPublisher, KafkaSettings
from avrr_events.settings import ServiceSettings
from avrr_events.testing import running
from avrr_reintegration.main import build_service


@pytest.fixture
async def reintegration(
    service_settings: ServiceSettings, kafka_settings: KafkaSettings
) -> AsyncIterator[RunningReintegration]:
    """Reintegration with its lifespan running (relay and consumer) and an upstream publisher.

    The catalogue adds ``test-avr``: 2 places, a 1000 USD cap, at most 600 USD per plan.
    """
    upstream = KafkaPublisher(kafka_settings)
    try:
        async with running(
            build_service(catalogue()), service_settings, base_url="http://reint"
        ) as (runtime, http):
            yield RunningReintegration(runtime, http, kafka_settings, upstream)
    finally:
        await upstream.stop()
