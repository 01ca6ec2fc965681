"""Fixtures of eligibility's tests: the service on real PostgreSQL + Kafka, through its runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from eligibility_fixtures import CASEWORKER, Eligibility

from avrr_eligibility.main import service
from avrr_events.kafka import KafkaPublisher, KafkaSettings
from avrr_events.service import ServiceRuntime, ServiceSettings


@pytest.fixture
def eligibility_settings(
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
async def eligibility(
    eligibility_settings: ServiceSettings, kafka_settings: KafkaSettings
) -> AsyncIterator[Eligibility]:
    """Eligibility with its lifespan running (relay and consumer) and a caseworker's client."""
    runtime = ServiceRuntime(service, eligibility_settings)
    app = runtime.app()
    intake = KafkaPublisher(kafka_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://eligibility", headers=CASEWORKER
        ) as http:
            yield Eligibility(runtime, http, kafka_settings, intake)
    await intake.stop()
