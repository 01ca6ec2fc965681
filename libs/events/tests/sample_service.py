"""libs/events wired as a service wires it: store, outbox relay, bus, consumer, projection."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sample_domain import CaseSummary, SampleCase, read_models, registry, total_notes
from sqlalchemy import func, select

from avrr_events import Cause, Database, EventConsumer, EventStore, Repository, tables
from avrr_events.adapters.kafka import KafkaPublisher, KafkaSettings, KafkaSource
from avrr_events.outbox import OutboxRelay
from avrr_events.web.http import Principal, current_principal
from avrr_events.web.service import Service, ServiceRuntime

# The caller of a sample route: any authenticated principal (the sample services' routes,
# and the tests' own small routers, take it this way).
User = Annotated[Principal, Depends(current_principal)]


async def open_db(url: str) -> Database:
    db = Database(url)
    await db.create_schema(read_models)
    return db


def repository(store: EventStore) -> Repository[SampleCase]:
    return Repository(store, registry, SampleCase, source="/avrr/sample")


async def opened(repo: Repository[SampleCase], case_id: str, office: str) -> SampleCase:
    """A case opened at ``office`` and saved: version 1 of its stream."""
    case = SampleCase(case_id)
    case.open(office)
    await repo.save(case, Cause.new())
    return case


@dataclass
class SampleService:
    db: Database
    store: EventStore
    repo: Repository[SampleCase]
    relay: OutboxRelay
    consumer: EventConsumer
    topic: str
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self, *parts: OutboxRelay | EventConsumer) -> None:
        """Run the relay and the consumer (or just the given parts) in the background."""
        for part in parts or (self.relay, self.consumer):
            self._tasks.append(asyncio.create_task(part.run()))

    async def stop(self) -> None:
        self.relay.stop()
        self.consumer.stop()
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, timeout=10)
            except TimeoutError:
                task.cancel()
        self._tasks.clear()

    async def notes(self) -> int:
        async with self.db.engine.connect() as conn:
            return await total_notes(conn)

    async def outbox_size(self) -> int:
        async with self.db.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(tables.outbox)) or 0)


def kafka_consumer(
    db: Database, kafka: KafkaSettings, topic: str, group: str, **options: Any
) -> EventConsumer:
    return EventConsumer(
        db=db,
        source=KafkaSource(kafka, group, [topic]),
        registry=registry,
        group=group,
        dead_letters=KafkaPublisher(kafka),
        projections=[CaseSummary()],
        store=EventStore(db, topic),
        **options,
    )


_rest = APIRouter()


@_rest.post("/cases/{case_id}")
async def _open_case(case_id: str, request: Request, _user: User) -> dict[str, str]:
    """Open a sample case through REST (a command as a frontend would send it)."""
    runtime: ServiceRuntime = request.app.state.runtime
    case = SampleCase(case_id)
    case.open("office")
    await repository(runtime.store).save(case, Cause.new())
    return {"case_id": case_id}


@_rest.post("/cases/{case_id}/notes")
async def _add_note(case_id: str, request: Request, _user: User) -> dict[str, str]:
    """A command on an existing case, as a caseworker's later request sends it."""
    runtime: ServiceRuntime = request.app.state.runtime
    repo = repository(runtime.store)
    case = await repo.load(case_id)
    case.add_note("seen at the office")
    await repo.save(case, Cause.new())
    return {"case_id": case_id}


def rest_service(name: str) -> Service:
    """A sample service with one REST command and the case-summary projection."""
    return Service(
        name=name,
        registry=registry,
        router=_rest,
        projections=lambda _rt: [CaseSummary()],
        read_models=[read_models],
    )
