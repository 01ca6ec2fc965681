"""The consumer resumes where its database is, not where its group committed.

Real Kafka and PostgreSQL. A database copied while the consumer is stopped
(a backup) and started again after the group went further reads again what
the copy lacks; records dead-lettered count as handled, so a restart
publishes no second dead letter; an event of the service's own topic that
its store does not hold (written after the backup) is not taken in.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

from sample_domain import summary_rows
from sample_service import SampleService, kafka_consumer
from sqlalchemy import select
from sqlalchemy.engine import make_url
from test_consumer import note_envelope, open_case, produce

from avrr_events import Database, EventConsumer, tables
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.testing import _create_database, _drop_database, eventually, read_topic


async def cases(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return {row[0] for row in await summary_rows(conn)}


async def inbox_ids(db: Database, group: str) -> Counter[str]:
    ib = tables.inbox
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(ib.c.event_id).where(ib.c.consumer == group))
        return Counter(r.event_id for r in rows)


async def consume_until(
    service: SampleService, consumer: EventConsumer, done: Callable[[], Awaitable[bool]]
) -> None:
    """Run ``consumer`` (alone) until ``done()`` holds, then stop it."""
    service.consumer = consumer
    service.start(consumer)
    try:
        await eventually(done)
    finally:
        await service.stop()
        await consumer.dead_letters.stop()


async def test_a_database_restored_from_a_backup_reads_again_what_the_backup_lacks(
    kafka_service: SampleService,
    kafka_settings: KafkaSettings,
    postgres_admin_url: str,
    database_url: str,
) -> None:
    service = kafka_service
    group = f"restore-{service.topic}"
    for c in ("a", "b", "c"):
        await open_case(service, c)

    async def three() -> bool:
        return await cases(service.db) == {"a", "b", "c"}

    await consume_until(
        service, kafka_consumer(service.db, kafka_settings, service.topic, group), three
    )

    # The backup: a copy of the database as it is now (nobody connected to it).
    await service.db.dispose()
    source = make_url(database_url).database
    assert source is not None
    backup_name = f"t_{uuid.uuid4().hex[:16]}"
    backup_url = await _create_database(postgres_admin_url, backup_name, template=source)
    backup = Database(backup_url)
    try:
        for c in ("d", "e", "f"):
            await open_case(service, c)

        async def six(db: Database = service.db) -> bool:
            return await cases(db) == set("abcdef")

        await consume_until(
            service, kafka_consumer(service.db, kafka_settings, service.topic, group), six
        )

        # The group committed past d, e and f; the restored database never saw them.
        assert await cases(backup) == {"a", "b", "c"}
        restored = kafka_consumer(backup, kafka_settings, service.topic, group)
        await consume_until(service, restored, lambda: six(backup))

        assert await inbox_ids(backup, group) == await inbox_ids(service.db, group)
        assert set((await inbox_ids(backup, group)).values()) == {1}
        assert restored.stats.duplicates == 0, "it read from where its database was"
        assert await restored.offsets.load() == await service.consumer.offsets.load()
    finally:
        await backup.dispose()
        await _drop_database(postgres_admin_url, backup_name)


async def test_a_record_dead_lettered_before_a_restart_is_not_dead_lettered_again(
    kafka_service: SampleService, kafka_settings: KafkaSettings
) -> None:
    service = kafka_service
    group = f"restart-{service.topic}"
    await open_case(service, "p")
    # Last on its partition, and never in the inbox: only the database's position says it
    # was handled.
    await produce(kafka_settings, [note_envelope("p", "x", version=3).to_message(service.topic)])
    first = kafka_consumer(service.db, kafka_settings, service.topic, group)

    async def dead_lettered() -> bool:
        return first.stats.dead_lettered == 1

    await consume_until(service, first, dead_lettered)

    second = kafka_consumer(service.db, kafka_settings, service.topic, group)
    # A later record on the same partition: once it is applied, the poison one was passed.
    await produce(kafka_settings, [note_envelope("p", "later").to_message(service.topic)])

    async def later_applied() -> bool:
        return second.stats.applied == 1

    await consume_until(service, second, later_applied)
    assert second.stats.dead_lettered == 0
    dead = await read_topic(kafka_settings, first.dead_letter_topic, 2, timeout=3)
    assert len(dead) == 1, [d.header("dlq_reason") for d in dead]


async def test_an_event_of_its_own_topic_its_store_does_not_hold_is_not_taken_in(
    kafka_service: SampleService, kafka_settings: KafkaSettings
) -> None:
    """A restored database lacks the events written after its backup; its read models must
    not show them (they would disagree with the store every decision is taken from)."""
    service = kafka_service
    group = f"own-{service.topic}"
    await open_case(service, "o")  # in the store, then on the topic
    lost = note_envelope("o", "written after the backup")
    await produce(kafka_settings, [lost.to_message(service.topic)])
    consumer = kafka_consumer(
        service.db, kafka_settings, service.topic, group, own_topic=service.topic
    )

    async def passed_over() -> bool:
        return consumer.stats.not_held == 1

    await consume_until(service, consumer, passed_over)
    assert await cases(service.db) == {"o"}
    assert await service.notes() == 0
    assert lost.id not in await inbox_ids(service.db, group)
