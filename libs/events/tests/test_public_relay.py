"""The public relay renders each queued notice at the moment it publishes it (real PostgreSQL
and Kafka): a consent withdrawn after queueing stops the record, a failed publish leaves the
notice queued, and a withdrawal serialised against the renderer waits for an in-flight record."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Database, public
from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.adapters.kafka import KafkaPublisher, KafkaSettings, TopicSpec, ensure_topics
from avrr_events.adapters.postgres import lock_key
from avrr_events.bus import Message
from avrr_events.public import (
    Notice,
    PublicEvent,
    PublicRelay,
    Renderer,
    public_envelope,
    public_outbox,
    queue,
)
from avrr_events.testing import eventually, read_topic

metadata = MetaData()
shares = Table(  # the sample's consent: a person shares their name while a row exists
    "sample_shares",
    metadata,
    Column("person", String(50), primary_key=True),
    Column("name", String(100), nullable=False),
)


class NameShared(PublicEvent):
    event_type = "avrr.public.NameShared"

    reference: str
    name: str


def lock_of(person: str) -> int:
    return lock_key(f"sample-share:{person}")


def renderer(*, serialised: bool = False) -> Renderer:
    async def render(conn: AsyncConnection, notice: Notice) -> Any:
        if serialised:
            await conn.execute(
                text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": lock_of(notice.subject)}
            )
        name = await conn.scalar(select(shares.c.name).where(shares.c.person == notice.subject))
        if name is None:
            return None
        event = NameShared(reference=f"ref-{notice.notice['n']}", name=name)
        return public_envelope(
            event,
            event_id=notice.event_id,
            source="/avrr/sample",
            subject=event.reference,
            time=notice.created_at,
        )

    return render


async def prepare(db: Database, **people: str) -> None:
    await db.create_tables(public.metadata, metadata)
    async with db.transaction() as conn:
        for person, name in people.items():
            await conn.execute(shares.insert().values(person=person, name=name))


async def queue_for(db: Database, *people: str) -> None:
    async with db.transaction() as conn:
        for n, person in enumerate(people):
            await queue(conn, "names", NameShared.event_type, person, {"n": n})


async def queued(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(public_outbox)) or 0)


def creator(settings: KafkaSettings) -> Callable[[Iterable[str]], Any]:
    async def create(topics: Iterable[str]) -> None:
        await ensure_topics(settings, [TopicSpec(t, partitions=1) for t in topics])

    return create


async def test_a_consent_withdrawn_after_its_notice_was_queued_stops_the_record(
    any_db: Database, kafka_settings: KafkaSettings, topic_name: Callable[[str], str]
) -> None:
    pg = any_db  # PostgreSQL, and SQLite for the embedded default
    await prepare(pg, alice="Alice Quispe", bob="Bob Mamani")
    await queue_for(pg, "alice", "bob")
    async with pg.transaction() as conn:  # Bob withdraws before the relay runs
        await conn.execute(delete(shares).where(shares.c.person == "bob"))

    prefix = topic_name("public")
    relay = PublicRelay(
        pg,
        KafkaPublisher(kafka_settings),
        renderer(),
        topic_of=lambda channel: f"{prefix}.{channel}",
        ensure_topics=creator(kafka_settings),
    )
    try:
        assert await relay.drain() == 2
    finally:
        await relay.publisher.stop()

    [record] = await read_topic(kafka_settings, f"{prefix}.names", 1)
    assert record.value == b'{"reference":"ref-0","name":"Alice Quispe"}'
    assert record.header("ce_type") == "avrr.public.NameShared"
    assert record.key == b"ref-0" and record.header("ce_correlationid") == "ref-0"
    assert record.header("ce_traceparent") is None
    assert (relay.published, relay.withheld) == (1, 1)
    assert await queued(pg) == 0


class RefusingBroker:
    """A publisher whose broker is away."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, messages: Sequence[Message]) -> None:
        raise ConnectionError("broker unavailable")


async def test_a_notice_the_broker_refused_stays_queued_and_is_rendered_afresh(
    any_db: Database,
) -> None:
    pg = any_db
    await prepare(pg, alice="Alice Quispe")
    await queue_for(pg, "alice")
    down = PublicRelay(pg, RefusingBroker(), renderer(), topic_of=lambda c: f"p.{c}")
    try:
        await down.drain_once()
        raise AssertionError("the refused publish must fail the batch")
    except ConnectionError:
        pass
    assert await queued(pg) == 1, "the notice stays queued when the publish fails"

    async with pg.transaction() as conn:  # her name is corrected in the meantime
        await conn.execute(update(shares).values(name="Alicia Quispe"))
    bus = InProcessBus()
    up = PublicRelay(pg, bus.publisher(), renderer(), topic_of=lambda c: f"p.{c}")
    assert await up.drain() == 1
    [record] = bus.topics["p.names"]
    assert b"Alicia Quispe" in record.value and b"Alice " not in record.value
    assert await queued(pg) == 0


class GatedBroker:
    """Holds every publish until the test opens the gate."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.published: list[Message] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, messages: Sequence[Message]) -> None:
        self.entered.set()
        await self.gate.wait()
        self.published.extend(messages)


async def test_a_withdrawal_waits_for_the_record_being_published_and_stops_every_later_one(
    pg: Database,
) -> None:
    await prepare(pg, alice="Alice Quispe")
    await queue_for(pg, "alice")
    broker = GatedBroker()
    relay = PublicRelay(pg, broker, renderer(serialised=True), topic_of=lambda c: f"p.{c}")
    publishing = asyncio.create_task(relay.drain_once())
    await asyncio.wait_for(broker.entered.wait(), timeout=30)

    async def withdraw() -> None:
        async with pg.transaction() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_of("alice")})
            await conn.execute(delete(shares).where(shares.c.person == "alice"))

    withdrawal = asyncio.create_task(withdraw())

    async def withdrawal_waits_on_the_lock() -> bool:
        async with pg.engine.connect() as conn:
            waiting = await conn.scalar(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            )
        return bool(waiting)

    await eventually(withdrawal_waits_on_the_lock, timeout=30)
    assert not withdrawal.done()
    broker.gate.set()
    assert await publishing == 1
    await asyncio.wait_for(withdrawal, timeout=30)
    assert len(broker.published) == 1  # decided before the withdrawal committed

    await queue_for(pg, "alice")  # queued before or after: rendered after, so withheld
    assert await relay.drain() == 1
    assert len(broker.published) == 1 and relay.withheld == 1


async def test_a_notice_that_cannot_be_rendered_is_withheld_and_does_not_block_the_queue(
    any_db: Database,
) -> None:
    await prepare(any_db, alice="Alice Quispe", bob="Bob Mamani")
    await queue_for(any_db, "bob", "alice")
    render = renderer()

    async def strict(conn: AsyncConnection, notice: Notice) -> Any:
        if notice.subject == "bob":  # say his stored data no longer fits the public schema
            raise ValueError("name: does not match the published schema")
        return await render(conn, notice)

    bus = InProcessBus()
    relay = PublicRelay(any_db, bus.publisher(), strict, topic_of=lambda c: f"p.{c}")
    assert await relay.drain() == 2
    [record] = bus.topics["p.names"]
    assert b"Alice Quispe" in record.value
    assert (relay.published, relay.unrenderable) == (1, 1)
