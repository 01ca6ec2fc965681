"""Fixtures of intake's tests: the service on real PostgreSQL + Kafka, through its runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from intake_fixtures import CASEWORKER, Intake

from avrr_events.kafka import KafkaSettings
from avrr_events.service import ServiceRuntime, ServiceSettings
from avrr_intake.main import service


@pytest.fixture
def intake_settings(
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
async def intake(intake_settings: ServiceSettings) -> AsyncIterator[Intake]:
    """Intake with its lifespan running (relay and consumer), and a caseworker's client."""
    runtime = ServiceRuntime(service, intake_settings)
    app = runtime.app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://intake", headers=CASEWORKER
        ) as http:
            yield Intake(runtime, http)
