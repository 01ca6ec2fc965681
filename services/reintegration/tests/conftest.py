"""Fixtures of reintegration's tests: the service on real PostgreSQL + Kafka (its runtime)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from reintegration_fixtures import RunningReintegration, catalogue

from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.settings import ServiceSettings
from avrr_reintegration.main import build_service


@pytest.fixture
async def reintegration(
    service_settings: ServiceSettings, kafka_settings: KafkaSettings
) -> AsyncIterator[RunningReintegration]:
    """Reintegration with its lifespan running (relay and consumer) and an upstream publisher.

    The catalogue adds ``test-avr``: 2 places, a 1000 USD cap, at most 600 USD per plan.
    """
    service = build_service(catalogue())
    async with RunningReintegration.started(
        service, service_settings, kafka_settings, base_url="http://reint"
    ) as running:
        yield running
