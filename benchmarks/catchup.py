"""Figure 4: a consumer catching up a backlog, against a raw aiokafka read of the same topic.

A backlog of realistic envelopes (the relay figure's: each case opened, then
notes; ~600 bytes with the CloudEvents headers) is published to a fresh topic
(``bench-<random>.catchup``, 6 partitions, deleted at the end) before anything
is timed. Ours is an ``EventConsumer`` of a fresh group on the service's path:
``KafkaSource`` (a consumer group resuming from the database's offsets),
decode and validate every envelope and event, one transaction per batch that
inserts the inbox rows (duplicates skipped), applies the reactions and the
projection and saves the offsets, then the Kafka commit. The projection is the
rebuild figure's set-based ``CaseSummary``; the reactions table reacts to
``CaseOpened`` (one row per case, as a service's reactions touch a few of the
types it reads). The baseline is a raw aiokafka ``getmany`` loop reading the
same topic, nothing applied (``relay.raw_consumer``).

``python -m benchmarks --only catchup`` (``BENCH_CATCHUP`` events, default
1,000,000), or alone: ``python -m benchmarks.catchup [--events N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import secrets
import sys
import time
from collections.abc import Sequence

from sqlalchemy import Column, MetaData, String, text

from avrr_events import Database, Message
from avrr_events.adapters.kafka import (
    KafkaPublisher,
    KafkaSettings,
    KafkaSource,
    TopicSpec,
    ensure_topics,
)
from avrr_events.bus import OffsetStore
from avrr_events.consumer import EventConsumer, HandlerContext, reactions_table
from avrr_events.serve import freeze_start_up
from avrr_events.tables import case_table
from benchmarks import rebuild, relay
from benchmarks.common import (
    Figure,
    database_url,
    delete_topics,
    envelope,
    every_event_per_second,
    fresh_database,
    kafka_settings,
    say,
)

PARTITIONS = 6
CHUNK = 20_000  # envelopes built and sent at a time: a 1M backlog never sits in memory
DEFAULT_EVENTS = 1_000_000
# The consumer's batch (records per transaction); unset: ``EventConsumer``'s default,
# what the services run with.
BATCH = os.environ.get("BENCH_CATCHUP_BATCH")

reactions_metadata = MetaData()
opened_cases = case_table(
    "bench_opened_cases", reactions_metadata, Column("office", String(100), nullable=False)
)


async def on_case_opened(ctx: HandlerContext, event: rebuild.CaseOpened) -> None:
    """The reaction: remember the case's office (one statement, in the batch's transaction)."""
    await ctx.conn.execute(
        opened_cases.insert().values(case_id=ctx.envelope.subject, office=event.office)
    )


REACTIONS = reactions_table({rebuild.CaseOpened: [on_case_opened]})


def _chunk(start: int, stop: int, total: int, topic: str) -> list[Message]:
    cases = min(relay.CASES, total)
    return [
        envelope(f"case-{i % cases:05d}", i, opened=i < cases).to_message(topic)
        for i in range(start, stop)
    ]


async def publish_backlog(settings: KafkaSettings, topic: str, n: int) -> None:
    """Publish ``n`` envelopes to ``topic`` with an idempotent producer, CHUNK at a time."""
    producer = relay.pipelined_producer(settings, timeout_ms=30000)
    await producer.start()
    try:
        for start in range(0, n, CHUNK):
            futures = [
                await producer.send(topic, value=m.value, key=m.key, headers=list(m.headers))
                for m in _chunk(start, min(n, start + CHUNK), n, topic)
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


class _TimedSource:
    """A ``KafkaSource`` that notes when its first records arrived (after the group join)."""

    def __init__(self, source: KafkaSource) -> None:
        self.source = source
        self.first: float | None = None

    async def start(self, offsets: OffsetStore | None = None) -> None:
        await self.source.start(offsets)

    async def stop(self) -> None:
        await self.source.stop()

    async def fetch(self, timeout_ms: int, max_records: int) -> list[Message]:
        batch = await self.source.fetch(timeout_ms, max_records)
        if batch and self.first is None:
            self.first = time.perf_counter()
        return batch

    async def commit(self, messages: Sequence[Message]) -> None:
        await self.source.commit(messages)


async def ours(url: str, settings: KafkaSettings, topic: str, expected: int) -> float:
    """An ``EventConsumer`` of a fresh group reading ``topic`` from the start; events/s.

    The clock starts when the first batch arrives (the group join before it is
    not catching up) and stops when the last event's transaction committed.
    """
    db = Database(url)
    async with db.transaction() as conn:  # empty, whatever the rebuild figure left there
        for metadata in (rebuild.read_models, reactions_metadata):
            await conn.run_sync(metadata.drop_all)
            await conn.run_sync(metadata.create_all)
    source = _TimedSource(KafkaSource(settings, f"bench-{secrets.token_hex(3)}", [topic]))
    dead_letters = KafkaPublisher(settings)
    consumer = EventConsumer(
        db=db,
        source=source,
        registry=rebuild.registry,
        group=source.source.group_id,
        dead_letters=dead_letters,
        reactions=REACTIONS,
        projections=[rebuild.CaseSummary()],
    )
    if BATCH:
        consumer.batch_size = int(BATCH)
    freeze_start_up()  # as a service process does before it serves (avrr_events.serve)
    task = asyncio.create_task(consumer.run())
    try:
        deadline = time.perf_counter() + max(120.0, expected / 1000)
        while consumer.stats.applied < expected:
            if task.done():
                await task  # raises what stopped it
                break
            if time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.01)
        end = time.perf_counter()
        consumer.stop()
        await task
        await _check(db, expected)
        if consumer.stats.dead_lettered:
            raise RuntimeError(f"catch-up dead-lettered {consumer.stats.dead_lettered} events")
        seconds = end - (source.first or end)
        return every_event_per_second("catch-up applied", consumer.stats.applied, expected, seconds)
    finally:
        if not task.done():
            consumer.stop()
            await asyncio.gather(task, return_exceptions=True)
        await dead_letters.stop()
        await db.dispose()


async def _check(db: Database, expected: int) -> None:
    """The effects are all there: every note counted once, every case opened once."""
    async with db.engine.connect() as conn:
        notes = (await conn.execute(text("SELECT sum(notes) FROM bench_case_summary"))).scalar()
        cases = (await conn.execute(text("SELECT count(*) FROM bench_opened_cases"))).scalar()
    opened = min(relay.CASES, expected)
    if (notes, cases) != (expected - opened, opened):
        raise RuntimeError(f"catch-up effects: {notes} notes, {cases} cases opened")


async def figure(url: str, settings: KafkaSettings, events: int) -> Figure:
    """Publish the backlog, time the raw read and our consumer over it; delete the topic."""
    topic = f"bench-{secrets.token_hex(3)}.catchup"
    await ensure_topics(settings, [TopicSpec(topic, PARTITIONS)])
    try:
        say(f"catchup: publishing a backlog of {events:,} events to {topic}")
        await publish_backlog(settings, topic, events)
        gc.collect()
        say("catchup: raw aiokafka getmany loop over the topic")
        raw = await relay.raw_consumer(settings, topic, events)
        say("catchup: EventConsumer (inbox, reactions, projection, offsets) from the start")
        mine = await ours(url, settings, topic, events)
    finally:
        await delete_topics(settings, [topic])
    return Figure(
        f"consumer catch-up, backlog {events:,}",
        "events/s",
        mine,
        raw,
        "raw aiokafka getmany loop, same topic",
        target_abs=10_000,
    )


def events_from_env() -> int:
    return int(os.environ.get("BENCH_CATCHUP", DEFAULT_EVENTS))


async def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.catchup", description=__doc__)
    p.add_argument("--events", type=int, default=events_from_env())
    args = p.parse_args(argv)
    async with fresh_database(database_url()) as db:
        schema = Database(db.url)
        await schema.create_schema()
        await schema.dispose()
        result = await figure(db.url, kafka_settings(), args.events)
    print(
        f"{result.name}: {result.ours:,.0f} events/s vs {result.baseline_name} "
        f"{result.baseline:,.0f}: {result.ratio:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
