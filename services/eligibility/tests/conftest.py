"""Fixtures of eligibility's tests: the service on real PostgreSQL + Kafka, through its runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from eligibility_fixtures import CASEWORKER, Eligibility

from avrr_eligibility.main import service
from avrr_events.adapters.kafka import KafkaPublisher, KafkaSettings
from avrr_events.settings import ServiceSettings
from avrr_events.testing import running


@pytest.fixture
async def eligibility(
    service_settings: ServiceSettings, kafka_settings: KafkaSettings
) -> AsyncIterator[Eligibility]:
    """Eligibility with its lifespan running (relay and consumer) and a caseworker's client."""
    intake = KafkaPublisher(kafka_settings)
    async with running(
        service, service_settings, base_url="http://eligibility", headers=CASEWORKER
    ) as (runtime, http):
        yield Eligibility(runtime, http, kafka_settings, intake)
    await intake.stop()
