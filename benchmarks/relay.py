"""Figure 2: the outbox relay draining a backlog, against a raw pipelined producer.

The backlog (events + outbox rows) is written with COPY before anything is
timed. Ours is ``OutboxRelay.drain()`` with the ``KafkaPublisher``: read a
batch of outbox rows joined to their events, publish it, delete the rows. The
baseline is a raw aiokafka producer with the same settings (idempotent,
acks=all) sending the very same records all at once and then awaiting every
acknowledgement: the publish-only ceiling, with no database at all.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from avrr_events import Database, Envelope, Message
from avrr_events.adapters.kafka import KafkaPublisher, KafkaSettings
from avrr_events.adapters.postgres import dumps
from avrr_events.outbox import OutboxRelay
from avrr_events.store import envelope_row
from benchmarks.common import Timer, envelope, every_event_per_second

CASES = 5000


def backlog(n: int) -> list[Envelope]:
    """``n`` events over ``CASES`` cases: each case opened first, then notes."""
    cases = min(CASES, n)
    return [envelope(f"case-{i % cases:05d}", i, opened=i < cases) for i in range(n)]


async def fill_outbox(dsn: str, events: list[Envelope], topic: str) -> None:
    """COPY the events into an empty store and put every one of them in the outbox."""
    cases = min(CASES, len(events))
    records = []
    for i, e in enumerate(events):
        r = envelope_row(e)
        records.append(
            (
                r["event_id"],
                e.subject,
                i // cases + 1,
                r["type"],
                r["dataversion"],
                r["subject"],
                r["source"],
                r["time"],
                dumps(r["data"]),
                dumps(r["meta"]),
            )
        )
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("TRUNCATE events, outbox RESTART IDENTITY")
        await conn.copy_records_to_table(
            "events",
            records=records,
            columns=[
                "event_id",
                "stream_id",
                "version",
                "type",
                "dataversion",
                "subject",
                "source",
                "time",
                "data",
                "meta",
            ],
        )
        await conn.execute(
            "INSERT INTO outbox (position, topic)"
            " SELECT position, $1 FROM events ORDER BY position",
            topic,
        )
        await conn.execute("VACUUM ANALYZE events")
        await conn.execute("VACUUM ANALYZE outbox")
    finally:
        await conn.close()


def _warm_record(topic: str) -> Message:
    return envelope("case-warm-up", 0).to_message(topic)


async def ours(url: str, settings: KafkaSettings, topic: str, expected: int) -> float:
    """``OutboxRelay.drain()`` of the whole backlog; return events/s."""
    db = Database(url)
    publisher = KafkaPublisher(settings)
    try:
        await publisher.publish([_warm_record(topic)])  # connection + metadata, not timed
        relay = OutboxRelay(db, publisher)
        with Timer() as timer:
            drained = await relay.drain()
        return every_event_per_second("relay drained", drained, expected, timer.seconds)
    finally:
        await publisher.stop()
        await db.dispose()


def pipelined_producer(settings: KafkaSettings, timeout_ms: int = 15000) -> AIOKafkaProducer:
    """The raw producer's settings, the relay's own (idempotent, acks=all, linger 5 ms)."""
    return AIOKafkaProducer(
        **settings.options(),
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=timeout_ms,
    )


async def raw_producer(settings: KafkaSettings, messages: list[Message]) -> float:
    """aiokafka, pipelined: ``send()`` every record, then await every acknowledgement."""
    topic = messages[0].topic
    producer = pipelined_producer(settings)
    await producer.start()
    try:
        warm = _warm_record(topic)
        await producer.send_and_wait(topic, value=warm.value, key=warm.key)
        start = time.perf_counter()
        futures = [
            await producer.send(topic, value=m.value, key=m.key, headers=list(m.headers))
            for m in messages
        ]
        await asyncio.gather(*futures)
        return len(messages) / (time.perf_counter() - start)
    finally:
        await producer.stop()


async def raw_consumer(settings: KafkaSettings, topic: str, expected: int) -> float:
    """aiokafka reading ``topic`` from the start with ``getmany``, without a group.

    The baseline the issue names for a projection rebuild: the rate at which
    the same events can merely be read off Kafka, nothing applied. Without a
    group (all partitions taken at start), the clock starts at the first fetch
    and times reading only, no group join.
    """
    consumer = AIOKafkaConsumer(
        topic,
        **settings.options(),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        seen = 0
        start = time.perf_counter()
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            seen += sum(len(records) for records in batches.values())
            if not batches and time.perf_counter() - start > 60:
                raise RuntimeError(f"raw consumer read {seen} of {expected} events from {topic}")
        return seen / (time.perf_counter() - start)
    finally:
        await consumer.stop()
