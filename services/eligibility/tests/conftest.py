"""Fixtures of eligibility's tests: the service on real PostgreSQL + Kafka, through its runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from eligibility_fixtures import CASEWORKER

from avrr_eligibility.main import service
from avrr_events import Envelope, dataschema_uri
from avrr_events.bus import Message
from avrr_events.consumer import dead_letter_topic
from avrr_events.kafka import KafkaPublisher, KafkaSettings
from avrr_events.service import ServiceRuntime, ServiceSettings
from avrr_events.testing import eventually, read_topic


@dataclass
class Eligibility:
    """The running service, a caseworker's client on its app, and intake's side of Kafka."""

    runtime: ServiceRuntime
    http: httpx.AsyncClient
    kafka: KafkaSettings
    intake: KafkaPublisher

    @property
    def intake_topic(self) -> str:
        return self.runtime.settings.topic("intake")

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.runtime.group)

    async def from_intake(
        self, event_type: str, data: dict[str, Any], *, version: int = 1, subject: str = ""
    ) -> Envelope:
        """Publish one intake event as intake's relay would (CloudEvents on intake's topic)."""
        envelope = Envelope(
            source="/avrr/intake",
            type=f"avrr.intake.{event_type}",
            subject=subject or data.get("case_id") or "unknown",
            dataschema=dataschema_uri(f"avrr.intake.{event_type}", version),
            dataversion=version,
            correlationid=data.get("case_id") or "unknown",
            data=data,
        )
        await self.intake.publish([envelope.to_message(self.intake_topic)])
        return envelope

    async def assessment(self, case_id: str, **conditions: Any) -> dict[str, Any]:
        """Wait until the assessment's read model exists (and matches ``conditions``)."""
        found: dict[str, Any] = {}

        async def ready() -> bool:
            response = await self.http.get(f"/assessments/{case_id}")
            if response.status_code != 200:
                return False
            found.update(response.json())
            return all(found.get(k) == v for k, v in conditions.items())

        await eventually(ready, timeout=30)
        return found

    async def published(self, count: int, *, timeout: float = 30.0) -> list[Envelope]:
        """The first ``count`` events on eligibility's own topic."""
        messages = await read_topic(self.kafka, self.runtime.topic, count, timeout=timeout)
        return [Envelope.from_message(m) for m in messages]

    async def dead_letters(self, count: int) -> list[Message]:
        return await read_topic(self.kafka, self.dead_letter_topic, count)


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
