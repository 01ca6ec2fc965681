"""The outbox relay against real PostgreSQL and Kafka: nothing lost, order per case, one leader."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict

from sample_domain import SampleCase, case_ids
from sample_service import SampleService, kafka_consumer, repository
from sqlalchemy import select

from avrr_events import Cause, Database, Envelope, EventStore, tables
from avrr_events.adapters.kafka import KafkaPublisher, KafkaSettings, TopicSpec, ensure_topics
from avrr_events.adapters.postgres import LeaderLock
from avrr_events.outbox import OutboxRelay
from avrr_events.testing import LocalBroker, eventually, read_topic

CAUSE = Cause("corr-relay")
NOTES_PER_CASE = 5


async def write_cases(service: SampleService, n: int) -> int:
    """Open ``n`` cases with NOTES_PER_CASE notes each, one append per note; return events."""
    for cid in case_ids(n):
        case = SampleCase(cid)
        case.open("office")
        await service.repo.save(case, CAUSE)
    for i in range(NOTES_PER_CASE):
        for cid in case_ids(n):
            case = await service.repo.load(cid)
            case.add_note(f"note {i}")
            await service.repo.save(case, CAUSE)
    return n * (1 + NOTES_PER_CASE)


def assert_in_order_per_case(envelopes: list[Envelope], stream_versions: dict[str, int]) -> None:
    """Each case's events arrive in the order they were appended (note i before note i+1)."""
    seen: dict[str, list[str]] = defaultdict(list)
    for e in envelopes:
        seen[e.subject].append(e.data.get("text", "opened"))
    for subject, texts in seen.items():
        assert texts == ["opened"] + [f"note {i}" for i in range(NOTES_PER_CASE)], subject
    assert set(seen) == set(stream_versions)


async def test_events_committed_while_kafka_is_down_are_published_in_order_once_it_is_back(
    pg: Database, restartable_kafka: LocalBroker
) -> None:
    broker = restartable_kafka
    topic = "t.restarted.sample.events"  # a broker of its own, but never the platform's names
    await ensure_topics(broker.settings, [TopicSpec(topic, partitions=3)])
    store = EventStore(pg, topic)
    relay = OutboxRelay(pg, KafkaPublisher(broker.settings), poll_interval=0.1, retry_backoff=0.2)
    service = SampleService(pg, store, repository(store), relay, None, topic)  # type: ignore[arg-type]
    service.start(relay)
    try:
        await broker.stop()
        total = await write_cases(service, 8)
        await asyncio.sleep(2.0)
        assert await service.outbox_size() == total, "nothing leaves the outbox while Kafka is down"

        await broker.start()

        async def outbox_drained() -> bool:
            return await service.outbox_size() == 0

        await eventually(outbox_drained, timeout=60)
    finally:
        relay.stop()
        await asyncio.gather(*service._tasks)
        await relay.publisher.stop()
    records = await read_topic(broker.settings, topic, total)
    envelopes = [Envelope.from_message(m) for m in records]
    assert len(envelopes) == total
    assert len({e.id for e in envelopes}) == total, "each event published exactly once"
    assert_in_order_per_case(envelopes, {cid: 6 for cid in case_ids(8)})


class Crash(Exception):
    """Stands for the relay process dying."""


class RelayDyingBeforeMarkSent(OutboxRelay):
    async def mark_sent(self, ids: list[int]) -> None:
        raise Crash("killed between publish and mark-as-sent")


async def test_relay_killed_between_publish_and_mark_sent_loses_nothing_and_doubles_no_effect(
    kafka_service: SampleService, kafka_settings: KafkaSettings
) -> None:
    service = kafka_service
    total = await write_cases(service, 5)
    dying = RelayDyingBeforeMarkSent(service.db, KafkaPublisher(kafka_settings))
    with contextlib.suppress(Crash):
        await dying.drain_once()
    await dying.publisher.stop()
    assert await service.outbox_size() == total, "a crash before mark-as-sent keeps the rows"

    service.start()  # a new relay and the consumer

    async def all_notes_applied() -> bool:
        return await service.notes() == 5 * NOTES_PER_CASE and await service.outbox_size() == 0

    await eventually(all_notes_applied)
    records = await read_topic(kafka_settings, service.topic, 2 * total)
    assert len(records) == 2 * total, "the batch was published twice"
    await asyncio.sleep(0.5)  # let any late duplicate arrive
    assert await service.notes() == 5 * NOTES_PER_CASE, "duplicates changed the read model once"
    assert service.consumer.stats.duplicates >= total


async def test_only_one_relay_replica_holds_the_leader_lock(kafka_service: SampleService) -> None:
    engine = kafka_service.db.engine
    first, second = LeaderLock(engine, "relay-x"), LeaderLock(engine, "relay-x")
    assert await first.try_acquire(lambda: None)
    assert not await second.try_acquire(lambda: None)
    await first.release()
    assert await second.try_acquire(lambda: None)
    await second.release()


async def test_a_replica_refused_the_leader_lock_does_not_take_itself_for_the_leader(
    kafka_service: SampleService,
) -> None:
    engine = kafka_service.db.engine
    leader, standby = LeaderLock(engine, "relay-y"), LeaderLock(engine, "relay-y")
    assert await leader.try_acquire(lambda: None)
    assert not await standby.try_acquire(lambda: None)
    assert leader.is_alive() and not standby.is_alive(), "connected is not leading"
    await leader.release()
    await standby.release()


async def test_a_second_consumer_group_reads_the_same_history(
    kafka_service: SampleService, kafka_settings: KafkaSettings
) -> None:
    service = kafka_service
    service.start(service.relay)
    total = await write_cases(service, 3)
    other = kafka_consumer(service.db, kafka_settings, service.topic, f"other-{service.topic}")
    task = asyncio.create_task(other.run())

    async def other_saw_everything() -> bool:
        return other.stats.applied == total

    await eventually(other_saw_everything)
    other.stop()
    await task
    await other.dead_letters.stop()


# A record the local broker refuses: its message.max.bytes is Kafka's default, about 1 MiB.
OVER_THE_BROKERS_LIMIT = 1_500_000


async def test_a_record_larger_than_the_broker_accepts_is_set_aside_and_the_ones_behind_go_out(
    kafka_service: SampleService, kafka_settings: KafkaSettings
) -> None:
    service = kafka_service
    big = SampleCase("big-1")
    big.open("office")
    big.add_note("x" * OVER_THE_BROKERS_LIMIT)
    await service.repo.save(big, CAUSE)
    behind = SampleCase("behind-1")
    behind.open("office")
    behind.add_note("small")
    await service.repo.save(behind, CAUSE)

    assert await asyncio.wait_for(service.relay.drain(), timeout=120) == 3
    # At least once: records the first, refused attempt had delivered may come twice.
    records = await read_topic(kafka_settings, service.topic, 6, timeout=10)
    published = {(e.subject, e.type) for e in map(Envelope.from_message, records)}
    assert published == {
        ("behind-1", "avrr.sample.CaseOpened"),
        ("behind-1", "avrr.sample.NoteAdded"),
        ("big-1", "avrr.sample.CaseOpened"),
    }, "every record behind the refused one is published, the refused one is not"

    o = tables.outbox
    async with service.db.engine.connect() as conn:
        rows = (await conn.execute(select(o.c.failed_at, o.c.failure_reason))).all()
    [(failed_at, reason)] = rows
    assert failed_at is not None
    assert reason.startswith("too_large: record of ") and "MessageSizeTooLarge" in reason
    assert service.relay.set_aside == 1
    assert await service.relay.drain() == 0, "a set-aside row is not tried again"
    assert await service.outbox_size() == 1, "it stays in the outbox, with its reason"
