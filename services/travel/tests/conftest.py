"""Fixtures of travel's tests: the service on real PostgreSQL + Kafka, through its runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from travel_fixtures import Travel

from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.settings import ServiceSettings
from avrr_travel.main import service


@pytest.fixture
async def travel(
    service_settings: ServiceSettings, kafka_settings: KafkaSettings
) -> AsyncIterator[Travel]:
    """Travel with its lifespan running (relay and consumer) and an upstream publisher."""
    async with Travel.started(
        service, service_settings, kafka_settings, base_url="http://travel"
    ) as running:
        yield running
