"""A service under test, driven like its neighbours would: the harness of the services' tests.

``RunningService`` holds one running service (its runtime, an HTTP client on
its app, Kafka settings) and a publisher standing in for the upstream
services: a test puts an upstream event on its topic, waits until the
consumer took it in, reads the service's own topic and its read model. Each
service subclasses it with what only it has (travel's ``Travel``,
reintegration's ``RunningReintegration``): the read model a case is shown
in, its stream type, its domain steps.

The same harness runs on the real stack (``RunningService.started``: real
PostgreSQL and Kafka, as ``avrr_events.testing.running`` starts it) and on the
embedded default (``embedded``: SQLite and the in-process bus).

The contract tests' two steps are here too: ``neighbour_event`` finds a
neighbour's own event class (skipping where that service is not installed)
and ``as_published`` is a payload as that class serialises it.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Self

import httpx
import pytest
from sqlalchemy import Table, func, select

from avrr_events import tables
from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.adapters.kafka import KafkaPublisher, KafkaSettings
from avrr_events.bus import Publisher
from avrr_events.consumer import dead_letter_topic
from avrr_events.envelope import Envelope
from avrr_events.registry import DomainEvent, dataschema_uri
from avrr_events.settings import ServiceSettings
from avrr_events.testing import eventually, read_topic, running, serving
from avrr_events.web.service import Service, ServiceRuntime

SUPERVISOR = {"X-AVRR-User": "supervisor-1", "X-AVRR-Roles": "supervisor"}
"""A supervisor's headers, but for the offices (``supervisor(office)``)."""


def supervisor(office: str) -> dict[str, str]:
    """The headers of a supervisor of ``office``: who lists and resolves withdrawal conflicts."""
    return {**SUPERVISOR, "X-AVRR-Offices": office}


@dataclass
class RunningService:
    """A running service, an HTTP client on its app, and a fake upstream publisher."""

    runtime: ServiceRuntime
    http: httpx.AsyncClient
    kafka: KafkaSettings
    upstream: Publisher

    stream_type: ClassVar[str]
    """The stream of a case's aggregate (``<stream_type>-<case_id>``)."""
    view_path: ClassVar[str]
    """The read model of one case, ``{}`` standing for the case id."""
    viewer: ClassVar[dict[str, str]]
    """The headers ``view`` reads it with."""
    actor: ClassVar[dict[str, str]]
    """The headers ``post`` sends a command with, unless told others."""

    @classmethod
    @asynccontextmanager
    async def started(
        cls, service: Service, settings: ServiceSettings, kafka: KafkaSettings, *, base_url: str
    ) -> AsyncIterator[Self]:
        """The service with its lifespan running (relay and consumer) on real PostgreSQL and
        Kafka, and an upstream publisher on the same Kafka."""
        upstream = KafkaPublisher(kafka)
        try:
            async with running(service, settings, base_url=base_url) as (runtime, http):
                yield cls(runtime, http, kafka, upstream)
        finally:
            await upstream.stop()

    @classmethod
    def on_bus(cls, runtime: ServiceRuntime, http: httpx.AsyncClient, bus: InProcessBus) -> Self:
        """The harness on the embedded default: no Kafka (its settings are never used)."""
        return cls(runtime, http, KafkaSettings("unused:9092"), bus.publisher())

    @property
    def topic(self) -> str:
        return self.runtime.topic

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.runtime.group)

    async def publish(
        self, service: str, event_type: str, subject: str, data: dict[str, Any], version: int = 1
    ) -> Envelope:
        """Put an upstream service's event on its topic, as that service's relay would."""
        envelope = Envelope(
            source=f"/avrr/{service}",
            type=event_type,
            subject=subject,
            dataschema=dataschema_uri(event_type, version),
            dataversion=version,
            correlationid=f"corr-{subject}",
            data=data,
        )
        await self.upstream.publish([envelope.to_message(self.runtime.settings.topic(service))])
        return envelope

    async def handled(self, *envelopes: Envelope) -> None:
        """Wait until the consumer took these events in (inbox rows; effects are in the same tx)."""
        ids = {e.id for e in envelopes}
        ib = tables.inbox

        async def taken_in() -> bool:
            async with self.runtime.db.engine.connect() as conn:
                seen = await conn.scalars(
                    select(ib.c.event_id).where(
                        ib.c.consumer == self.runtime.group, ib.c.event_id.in_(ids)
                    )
                )
                return set(seen) == ids

        await eventually(taken_in, timeout=30)

    async def taken_in(self, case_id: str, event_type: str, count: int) -> None:
        """Wait until the consumer took in ``count`` events of a type for the case (inbox)."""

        async def seen() -> bool:
            async with self.runtime.db.engine.connect() as conn:
                n = await conn.scalar(
                    select(func.count())
                    .select_from(tables.inbox)
                    .where(tables.inbox.c.subject == case_id, tables.inbox.c.type == event_type)
                )
            return n == count

        await eventually(seen)

    async def events(
        self,
        *,
        subject: str | None = None,
        wanted: str | None = None,
        count: int = 1,
        timeout: float = 30,
    ) -> list[Envelope]:
        """Envelopes on the service's topic (of ``subject``) once ``count`` of ``wanted`` are."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            records = await read_topic(self.kafka, self.topic, 100_000, timeout=1.5)
            found = [Envelope.from_message(m) for m in records]
            if subject is not None:
                found = [e for e in found if e.subject == subject]
            if wanted is None or sum(e.type == wanted for e in found) >= count:
                return found
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"{count} {wanted} of {subject} not on {self.topic} within {timeout}s"
                )

    async def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """A command, as ``actor`` unless ``headers`` say who."""
        return await self.http.post(path, json=body, headers=headers or self.actor)

    async def stream_version(self, case_id: str) -> int:
        return await self.runtime.store.stream_version(f"{self.stream_type}-{case_id}")

    async def view(self, case_id: str) -> dict[str, Any] | None:
        """The case's read model as the API serves it; None while there is none (404)."""
        response = await self.http.get(self.view_path.format(case_id), headers=self.viewer)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def wait_for(self, case_id: str, **expected: Any) -> dict[str, Any]:
        """The case's read model once it exists and shows ``expected`` (read models lag)."""
        seen: dict[str, Any] = {}

        async def shows() -> bool:
            nonlocal seen
            seen = await self.view(case_id) or {}
            return bool(seen) and all(seen.get(k) == v for k, v in expected.items())

        await eventually(shows, timeout=30)
        return seen

    # -- what intake publishes about a withdrawal, and the supervisors' list it may raise

    async def withdraw_case(self, case_id: str, withdrawn_at: datetime, **extra: Any) -> Envelope:
        """Intake's CaseWithdrawn (the withdrawal's time is ``withdrawn_at``, as intake sets it)."""
        data = {
            "case_id": case_id,
            "reason": "changed_mind",
            "withdrawn_at": withdrawn_at,
            "withdrawn_by": "caseworker-1",
        }
        return await self.publish(
            "intake", "avrr.intake.CaseWithdrawn", case_id, _json({**data, **extra})
        )

    async def withdraw_consent(
        self, case_id: str, purpose: str, withdrawn_at: datetime, **extra: Any
    ) -> Envelope:
        """Intake's ConsentWithdrawn of ``purpose`` for the case."""
        data = {
            "case_id": case_id,
            "purpose": purpose,
            "withdrawn_at": withdrawn_at,
            "recorded_by": "caseworker-1",
        }
        return await self.publish(
            "intake", "avrr.intake.ConsentWithdrawn", case_id, _json({**data, **extra})
        )

    async def transferred(
        self,
        case_id: str,
        to_office: str,
        *,
        from_office: str,
        at: datetime,
        recorded: Table | None = None,
    ) -> Envelope:
        """Intake's TransferAccepted of the case (avrr_events.transfers); with ``recorded``,
        the service's ``case_transfers_table``, once the service recorded where it went."""
        data = {
            "case_id": case_id,
            "transfer_id": f"transfer-{case_id}-{to_office}",
            "from_office": from_office,
            "to_office": to_office,
            "note": None,
            "recorded_by": f"supervisor-{to_office}",
            "accepted_at": at,
        }
        envelope = await self.publish(
            "intake", "avrr.intake.TransferAccepted", case_id, _json(data)
        )
        if recorded is not None:
            table = recorded

            async def there() -> bool:
                async with self.runtime.db.autocommit() as conn:
                    office = await conn.scalar(
                        select(table.c.office).where(table.c.case_id == case_id)
                    )
                return bool(office == to_office)

            await eventually(there, timeout=30)
        return envelope

    async def withdrawal_conflicts(self, office: str, status: str = "open") -> list[dict[str, Any]]:
        """The supervisors' list of the office's withdrawal conflicts (``status``: open,
        resolved, all), read as a supervisor of that office."""
        response = await self.http.get(
            "/withdrawal-conflicts",
            params={"office": office, "status": status},
            headers=supervisor(office),
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["conflicts"]
        return items


def _json(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its datetimes in ISO 8601, as an event's JSON carries them."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


@asynccontextmanager
async def embedded(
    service: Service,
    database: Path,
    *,
    base_url: str,
    keys: Path | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient, InProcessBus]]:
    """A service as the embedded default runs it: SQLite at ``database``, the in-process
    bus, migrated on start; its lifespan running and an HTTP client on its app (sending
    ``headers``). ``keys``: the key store in a SQLite file of its own, as ``make run``
    keeps it (one SQLite writer per file); else in ``database``."""
    bus = InProcessBus()
    own_keys: dict[str, Any] = (
        {} if keys is None else {"keystore_url": f"sqlite+aiosqlite:///{keys}"}
    )
    settings = ServiceSettings(
        database_url=f"sqlite+aiosqlite:///{database}",
        kafka_bootstrap_servers=None,
        dev=True,
        relay_poll_interval=0.1,
        migrate_on_start=True,  # as the embedded default does
        **own_keys,
    )
    runtime = ServiceRuntime(service, settings, bus=bus)
    async with serving(runtime, base_url=base_url, headers=headers) as http:
        yield runtime, http, bus


def neighbour_event(module: str, name: str) -> type[DomainEvent]:
    """A neighbour's own event class, for a contract test; skips where it is not installed
    (every service is, in the monorepo's .venv)."""
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        pytest.skip(f"{module}.{name} is not installed here")
    assert isinstance(cls, type) and issubclass(cls, DomainEvent)
    return cls


def as_published(cls: type[DomainEvent], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as the publisher's own class validates and serialises it."""
    return cls.model_validate(data).model_dump(mode="json")
