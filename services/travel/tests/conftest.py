"""Fixtures of travel's tests: the service on real PostgreSQL + Kafka, through its runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from travel_fixtures import Travel

from avrr_events.kafka import KafkaPublisher, KafkaSettings
from avrr_events.service import ServiceRuntime, ServiceSettings
from avrr_travel.main import service


@pytest.fixture
def travel_settings(
    database_url: str, kafka_settings: KafkaSettings, topic_name: Callable[[str], str]
) -> ServiceSettings:
    return ServiceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_settings.bootstrap_servers,
        dev=True,
        topic_prefix=topic_name("avrr"),
        topic_partitions=3,
        relay_poll_interval=0.2,
    )


@pytest.fixture
async def travel(
    travel_settings: ServiceSettings, kafka_settings: KafkaSettings
) -> AsyncIterator[Travel]:
    """Travel with its lifespan running (relay and consumer) and an upstream publisher."""
    runtime = ServiceRuntime(service, travel_settings)
    app = runtime.app()
    upstream = KafkaPublisher(kafka_settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://travel") as http:
                yield Travel(runtime, http, kafka_settings, upstream)
    finally:
        await upstream.stop()
