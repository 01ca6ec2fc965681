"""What a consumer records of each batch besides its effects: every projection's checkpoint,
its positions, and only the events of its own topic its store holds.

On PostgreSQL these are driver statements over arrays (``adapters/postgres.py``), on SQLite
SQLAlchemy's; both are run here against the same expectations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from sample_domain import CaseOpened, CaseSummary, NoteAdded, registry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Database, DomainEvent, Envelope, Message, dataschema_uri, tables
from avrr_events.consumer import EventConsumer
from avrr_events.store import EventStore


class NoteCount(CaseSummary):
    """A second projection of the same events: its checkpoint moves with the first one's."""

    name: ClassVar[str] = "note_count"

    async def apply_batch(
        self, conn: AsyncConnection, items: Sequence[tuple[DomainEvent, Envelope]]
    ) -> None:
        """Writes nothing: only its checkpoint is looked at."""


class NoSource:
    """The consumer is fed batches by hand; committing to a broker is nothing here."""

    async def commit(self, messages: Sequence[Message]) -> None:
        return None


class NoDeadLetters:
    async def publish(self, messages: Sequence[Message]) -> None:
        raise AssertionError(f"nothing should be dead-lettered: {messages}")


def record(envelope: Envelope, topic: str, partition: int, offset: int) -> Message:
    message = envelope.to_message(topic)
    return Message(message.topic, message.key, message.value, message.headers, partition, offset)


def opened(case_id: str) -> Envelope:
    return Envelope(
        source="/test",
        correlationid="corr",
        type=CaseOpened.event_type,
        subject=case_id,
        dataschema=dataschema_uri(CaseOpened.event_type, 1),
        dataversion=1,
        data={"office": "office-a"},
    )


def consumer(db: Database, **kwargs: object) -> EventConsumer:
    return EventConsumer(
        db=db,
        source=NoSource(),  # type: ignore[arg-type]
        registry=registry,
        group="bookkeeping",
        dead_letters=NoDeadLetters(),  # type: ignore[arg-type]
        projections=[CaseSummary(), NoteCount()],
        **kwargs,  # type: ignore[arg-type]
    )


async def checkpoints(db: Database) -> dict[str, int]:
    cp = tables.projection_checkpoints
    async with db.engine.connect() as conn:
        return {r.name: r.position for r in await conn.execute(select(cp.c.name, cp.c.position))}


async def test_every_projection_is_checkpointed_and_every_position_saved(any_db: Database) -> None:
    await any_db.create_tables(CaseSummary.metadata)
    reader = consumer(any_db)
    await reader.process([record(opened("c-1"), "t.a", 0, 10), record(opened("c-2"), "t.a", 1, 4)])
    first = await checkpoints(any_db)
    assert set(first) == {"case_summary", "note_count"}
    assert len(set(first.values())) == 1 and min(first.values()) > 0
    assert await reader.offsets.load() == {("t.a", 0): 11, ("t.a", 1): 5}

    await reader.process([record(opened("c-3"), "t.a", 0, 11)])
    second = await checkpoints(any_db)
    assert second["case_summary"] == second["note_count"] > first["case_summary"]
    assert await reader.offsets.load() == {("t.a", 0): 12, ("t.a", 1): 5}


async def test_a_batch_of_skipped_records_saves_its_positions(any_db: Database) -> None:
    await any_db.create_tables(CaseSummary.metadata)
    reader = consumer(any_db)
    unrelated = "avrr.other.Unrelated"
    skipped = Envelope(
        source="/test",
        type=unrelated,
        subject="x",
        dataschema=dataschema_uri(unrelated, 1),
        dataversion=1,
        correlationid="c",
        data={},
    )
    await reader.process([record(skipped, "t.b", 2, 7), record(skipped, "t.b", 3, 0)])
    assert await reader.offsets.load() == {("t.b", 2): 8, ("t.b", 3): 1}
    assert await checkpoints(any_db) == {}
    await reader.process([record(skipped, "t.b", 2, 8)])
    assert (await reader.offsets.load())[("t.b", 2)] == 9


async def test_only_own_events_the_store_holds_are_taken_in(any_db: Database) -> None:
    await any_db.create_tables(CaseSummary.metadata)
    kept = Envelope(
        source="/test",
        correlationid="corr",
        type=NoteAdded.event_type,
        subject="case-own",
        dataschema=dataschema_uri(NoteAdded.event_type, 2),
        dataversion=2,
        data={"text": "kept", "author": "tester"},
    )
    await EventStore(any_db, "own").append("case-own", 0, [kept])
    lost = kept.model_copy(update={"id": "7d1b8c1e-5d0e-4a57-9a2b-2f6a0d5c9e11"})
    reader = consumer(any_db, own_topic="own")
    await reader.process([record(kept, "own", 0, 0), record(lost, "own", 0, 1)])
    inbox = tables.inbox
    async with any_db.engine.connect() as conn:
        taken = {str(r.event_id) for r in await conn.execute(select(inbox.c.event_id))}
    assert taken == {kept.id}
    assert reader.stats.not_held == 1
