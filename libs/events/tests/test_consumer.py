"""The idempotent consumer against real Kafka and PostgreSQL: once-only effects, dead letters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping

import asyncpg
from aiokafka import AIOKafkaProducer
from sample_domain import NoteAdded, SampleCase
from sample_service import SampleService, kafka_consumer, opened, repository
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import (
    Cause,
    Database,
    Envelope,
    EventStore,
    HandlerContext,
    Message,
    dataschema_uri,
)
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.consumer import EventConsumer, Partition
from avrr_events.store import ConcurrencyError
from avrr_events.testing import eventually, read_topic

CAUSE = Cause("corr-consumer")


def note_envelope(case_id: str, text: str, *, version: int = 2, **data: object) -> Envelope:
    return Envelope(
        source="/test",
        type=NoteAdded.event_type,
        subject=case_id,
        dataschema=dataschema_uri(NoteAdded.event_type, version),
        dataversion=version,
        correlationid="corr",
        data={"text": text, "author": "tester", **data},
    )


async def produce(settings: KafkaSettings, messages: list[Message]) -> None:
    """Write records straight to the topic, as a misbehaving or duplicating producer would."""
    producer = AIOKafkaProducer(**settings.options())
    await producer.start()
    try:
        for m in messages:
            await producer.send_and_wait(m.topic, m.value, key=m.key, headers=list(m.headers))
    finally:
        await producer.stop()


async def open_case(service: SampleService, case_id: str) -> None:
    case = SampleCase(case_id)
    case.open("office")
    await service.repo.save(case, CAUSE)
    await service.relay.drain()  # published before the records the test produces by hand


async def test_the_same_event_delivered_twice_changes_the_read_model_once(
    kafka_service: SampleService, kafka_settings: KafkaSettings
) -> None:
    service = kafka_service
    await open_case(service, "dup")
    note = note_envelope("dup", "counselling held").to_message(service.topic)
    await produce(kafka_settings, [note, note])
    service.start()

    async def both_copies_consumed() -> bool:
        return service.consumer.stats.duplicates >= 1 and await service.notes() >= 1

    await eventually(both_copies_consumed)
    assert await service.notes() == 1
    assert service.consumer.stats.dead_lettered == 0


async def test_a_record_counts_as_applied_only_once_its_transaction_commits(
    kafka_service: SampleService, kafka_settings: KafkaSettings
) -> None:
    """``stats.applied`` (and ``avrr_events_consumed``) tells a reader the read models hold a
    record: inside the batch's transaction, where its positions are saved, it is not counted."""
    service = kafka_service
    await open_case(service, "counted")
    consumer = service.consumer
    counted_in_transaction: list[int] = []
    save = consumer.offsets.save

    async def saving(offsets: Mapping[Partition, int], conn: AsyncConnection | None = None) -> None:
        if conn is not None:  # the batch's own transaction, not yet committed
            counted_in_transaction.append(consumer.stats.applied)
        await save(offsets, conn)

    consumer.offsets.save = saving  # type: ignore[method-assign]
    await produce(kafka_settings, [note_envelope("counted", "one").to_message(service.topic)])
    service.start()

    async def noted() -> bool:
        return await service.notes() == 1 and consumer.stats.applied >= 1

    await eventually(noted)
    assert counted_in_transaction, "the batch saved its positions in its transaction"
    assert counted_in_transaction[-1] < consumer.stats.applied


async def test_invalid_events_are_dead_lettered_with_their_reason_and_the_consumer_goes_on(
    kafka_service: SampleService, kafka_settings: KafkaSettings
) -> None:
    service = kafka_service
    await open_case(service, "bad")
    topic = service.topic
    missing_field = Message(
        topic,
        b"bad",
        json.dumps({"author": "x"}).encode(),
        note_envelope("bad", "").to_message(topic).headers,
    )
    newer_version = note_envelope("bad", "from the future", version=3).to_message(topic)
    not_a_cloudevent = Message(topic, b"bad", b"hello", (("content-type", b"text/plain"),))
    good = note_envelope("bad", "valid note after the poison").to_message(topic)
    await produce(kafka_settings, [missing_field, newer_version, not_a_cloudevent, good])
    service.start()

    async def good_one_applied() -> bool:
        return await service.notes() == 1

    await eventually(good_one_applied)
    dead = await read_topic(kafka_settings, service.consumer.dead_letter_topic, 3)
    reasons = sorted(m.header("dlq_reason") or "" for m in dead)
    assert reasons == ["invalid_payload", "undecodable", "unsupported_version"]
    by_reason = {m.header("dlq_reason"): m for m in dead}
    assert "text" in (by_reason["invalid_payload"].header("dlq_error") or "")
    assert "v3" in (by_reason["unsupported_version"].header("dlq_error") or "")
    # The original record travels unchanged, headers included, for inspection and redrive.
    assert by_reason["unsupported_version"].value == newer_version.value
    assert by_reason["unsupported_version"].header("ce_id") == newer_version.header("ce_id")
    assert by_reason["undecodable"].header("dlq_topic") == topic


def reacting_to_notes(
    service: SampleService,
    kafka_settings: KafkaSettings,
    group: str,
    reaction: Callable[[HandlerContext, NoteAdded], Awaitable[None]],
    *,
    max_attempts: int,
) -> EventConsumer:
    """The service's consumer becomes one of group ``group`` whose reaction to a note is
    ``reaction``, retried up to ``max_attempts`` times without waiting long."""
    consumer = kafka_consumer(
        service.db,
        kafka_settings,
        service.topic,
        f"{group}-{service.topic}",
        reactions={NoteAdded.event_type: [reaction]},
        max_attempts=max_attempts,
        retry_backoff=0.01,
    )
    service.consumer = consumer
    return consumer


class PoisonAndFlaky:
    """Fails forever on the note "poison", and twice (then succeeds) on the note "flaky"."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {"poison": 0, "flaky": 0}

    async def __call__(self, ctx: HandlerContext, event: NoteAdded) -> None:
        self.calls[event.text] = self.calls.get(event.text, 0) + 1
        if event.text == "poison" or (event.text == "flaky" and self.calls["flaky"] <= 2):
            raise RuntimeError(f"failure #{self.calls[event.text]} on {event.text}")


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_bounded_retries(
    kafka_service: SampleService, kafka_settings: KafkaSettings
) -> None:
    service = kafka_service
    reaction = PoisonAndFlaky()
    consumer = reacting_to_notes(service, kafka_settings, "flaky", reaction, max_attempts=4)
    await open_case(service, "c")
    notes = [note_envelope("c", text).to_message(service.topic) for text in ("poison", "flaky")]
    await produce(kafka_settings, notes)
    service.start()

    async def both_settled() -> bool:
        return consumer.stats.dead_lettered == 1 and await service.notes() == 1

    await eventually(both_settled)
    dead = await read_topic(kafka_settings, consumer.dead_letter_topic, 1)
    assert dead[0].header("dlq_reason") == "handler_failed"
    assert dead[0].header("dlq_attempts") == "4"
    # The type and where it was raised: a foreign exception's message may quote data.
    assert (dead[0].header("dlq_error") or "").startswith("RuntimeError at test_consumer.py:")
    assert dead[0].header("ce_id") == notes[0].header("ce_id")
    assert reaction.calls["poison"] >= 4, "retried up to the bound"
    assert reaction.calls["flaky"] >= 3, "a transient failure is retried, then applied"
    await asyncio.sleep(0.3)
    assert consumer.stats.dead_lettered == 1


async def test_a_database_outage_neither_loses_nor_dead_letters_events(
    kafka_service: SampleService, kafka_settings: KafkaSettings
) -> None:
    service = kafka_service
    await open_case(service, "outage")
    healthy = service.consumer.db
    away = Database("postgresql+asyncpg://avrr:avrr@127.0.0.1:1/nowhere")
    service.consumer.db = away
    service.consumer.retry_backoff = 0.05
    await produce(
        kafka_settings, [note_envelope("outage", "during outage").to_message(service.topic)]
    )
    service.start(service.consumer)
    await asyncio.sleep(1.5)
    assert service.consumer.stats.dead_lettered == 0
    assert await service.notes() == 0

    service.consumer.db = healthy  # the database is back

    async def applied() -> bool:
        return await service.notes() == 1

    await eventually(applied)
    assert service.consumer.stats.dead_lettered == 0
    await away.dispose()


class FailingFirst:
    """A reaction that fails its first ``failures`` calls (``fail()`` raises), then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self, ctx: HandlerContext, event: NoteAdded) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            self.fail()

    def fail(self) -> None:
        raise NotImplementedError


class DatabaseRestarting(FailingFirst):
    """Fails as asyncpg does while PostgreSQL restarts (SQLSTATE 57P03), ``failures`` times."""

    def fail(self) -> None:
        # As SQLAlchemy's asyncpg adapter raises it: DBAPIError, orig = the adapter's
        # error, whose __cause__ is asyncpg's own (which carries the SQLSTATE).
        native = asyncpg.exceptions.CannotConnectNowError("the database system is starting up")
        try:
            raise RuntimeError("adapted driver error") from native
        except RuntimeError as driver:
            raise DBAPIError("INSERT INTO inbox ...", None, driver) from driver


async def test_a_database_restart_refusing_connections_does_not_dead_letter_events(
    kafka_service: SampleService, kafka_settings: KafkaSettings
) -> None:
    service = kafka_service
    restarting = DatabaseRestarting(failures=6)  # longer than the handler's retry bound
    consumer = reacting_to_notes(service, kafka_settings, "restart", restarting, max_attempts=3)
    await open_case(service, "restart")
    note = note_envelope("restart", "during the restart").to_message(service.topic)
    await produce(kafka_settings, [note])
    service.start()

    async def applied() -> bool:
        return await service.notes() == 1

    await eventually(applied)
    assert restarting.calls > restarting.failures, (
        "the batch was tried again until the database was back"
    )
    assert consumer.stats.dead_lettered == 0


class Contended(FailingFirst):
    """Loses an optimistic-concurrency race more often than ``max_attempts``, then wins."""

    def fail(self) -> None:
        raise ConcurrencyError("programme-shared", self.calls)


async def test_a_reaction_losing_concurrency_races_is_retried_not_dead_lettered(
    kafka_service: SampleService, kafka_settings: KafkaSettings
) -> None:
    # Another writer on a shared stream says nothing about the event: reload and decide
    # again, beyond the bound that dead-letters a failing handler (found by make chaos).
    service = kafka_service
    reaction = Contended(failures=7)  # races lost
    consumer = reacting_to_notes(service, kafka_settings, "contended", reaction, max_attempts=3)
    await open_case(service, "c")
    await produce(kafka_settings, [note_envelope("c", "contended").to_message(service.topic)])
    service.start()

    async def applied() -> bool:
        return reaction.calls == 8 and await service.notes() == 1

    await eventually(applied)
    assert consumer.stats.dead_lettered == 0


async def test_a_reaction_appends_what_it_recorded_on_an_aggregate_as_caused_by_its_event(
    any_db: Database,
) -> None:
    repo = repository(EventStore(any_db, "t.sample"))
    await opened(repo, "r", "office")
    upstream = note_envelope("r", "from another service")
    async with any_db.transaction() as conn:
        ctx = HandlerContext(conn=conn, envelope=upstream, store=repo.store)
        assert await ctx.record_on(repo, "r", lambda case: case.add_note("follow-up"))
        assert not await ctx.record_on(repo, "r", lambda case: None)  # recorded nothing

    recorded = await repo.store.load("case-r")
    assert [r.version for r in recorded] == [1, 2]
    assert recorded[-1].envelope.causationid == upstream.id
    assert (await repo.load("r")).notes == ["follow-up"]
