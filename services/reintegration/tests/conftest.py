"""Fixtures of reintegration's tests: the service on real PostgreSQL + Kafka (its runtime)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from reintegration_fixtures import RunningReintegration, catalogue

from avrr_events.kafka import KafkaPublisher, KafkaSettings
from avrr_events.service import ServiceRuntime, ServiceSettings
from avrr_reintegration.main import build_service


@pytest.fixture
def reintegration_settings(
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
async def reintegration(
    reintegration_settings: ServiceSettings, kafka_settings: KafkaSettings
) -> AsyncIterator[RunningReintegration]:
    """Reintegration with its lifespan running (relay and consumer) and an upstream publisher.

    The catalogue adds ``test-avr``: 2 places, a 1000 USD cap, at most 600 USD per plan.
    """
    runtime = ServiceRuntime(build_service(catalogue()), reintegration_settings)
    app = runtime.app()
    upstream = KafkaPublisher(kafka_settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://reint") as http:
                yield RunningReintegration(runtime, http, kafka_settings, upstream)
    finally:
        await upstream.stop()
