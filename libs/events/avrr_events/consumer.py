"""The idempotent consumer loop: inbox, reactions and projections in one transaction.

For each batch of records: decode and validate every envelope (a record that
cannot be decoded is dead-lettered with its reason, never half-applied), then
in ONE transaction insert the inbox rows (the event ids already seen are
skipped) and apply the reactions and projections of the new ones; commit; only
then commit the offsets. Redelivery therefore never doubles an effect. If the
batch transaction fails, the batch is retried one record at a time, each with
bounded retries, and a record that keeps failing goes to the dead-letter topic
with the error and its original headers while the consumer moves on.

The offsets are committed twice: in the database (``ConsumerOffsets``, the
position the consumer resumes from) and to Kafka (what monitoring and
``kafka-consumer-groups`` read). The database's copy is the one that counts:
it is restored with the database, so a service restored from a backup reads
again what the backup does not hold.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import logs, tables, tracing
from avrr_events.adapters import postgres
from avrr_events.adapters.database import Database, unavailable
from avrr_events.bus import Message, MessageSource, Publisher, patiently
from avrr_events.commands import Cause as Cause
from avrr_events.envelope import Envelope, EnvelopeError
from avrr_events.latency import Latency
from avrr_events.personal import PersonalDataCipher
from avrr_events.projections import Projection, save_checkpoints
from avrr_events.registry import DomainEvent, EventDecodeError, EventRegistry
from avrr_events.store import ConcurrencyError, EventStore
from avrr_events.tracing import handling

if TYPE_CHECKING:
    from avrr_events.aggregate import Aggregate, Repository

    A = TypeVar("A", bound=Aggregate)

log = logging.getLogger(__name__)


@dataclass
class HandlerContext:
    """What a reaction gets besides the event: the open transaction, the store to append to,
    and the service's cipher (a reaction to an erasure shreds through its key store)."""

    conn: AsyncConnection
    envelope: Envelope
    store: EventStore | None
    cipher: PersonalDataCipher | None = None
    # The service's command object (``Service.commands``): reactions decide through the
    # same commands as the REST API, inside this context's transaction.
    commands: Any = None

    @property
    def cause(self) -> Cause:
        return Cause.of(self.envelope)

    async def record_on(
        self, repository: Repository[A], aggregate_id: str, decide: Callable[[A], object]
    ) -> bool:
        """How a reaction changes one aggregate: load it in this transaction, let ``decide``
        record on it, and append what it recorded as caused by this event. False when it
        recorded nothing (nothing appended), for a reaction that does more on a change."""
        aggregate = await repository.load(aggregate_id, conn=self.conn)
        decide(aggregate)
        return bool(await repository.save(aggregate, self.cause, conn=self.conn))


Reaction = Callable[[HandlerContext, Any], Awaitable[None]]


class DeadLetter(Exception):
    """Raised by a reaction for an event it must never apply (no retry): dead-letter it now."""


@dataclass
class ConsumerStats:
    applied: int = 0  # records whose transaction committed
    duplicates: int = 0
    dead_lettered: int = 0
    retries: int = 0
    not_held: int = 0
    reasons: list[str] = field(default_factory=list)
    batch_latency: Latency = field(default_factory=Latency)


@dataclass
class _Item:
    message: Message
    envelope: Envelope
    event: DomainEvent


Partition = tuple[str, int]  # (topic, partition)


def next_offsets(batch: Sequence[Message]) -> dict[Partition, int]:
    """Per partition, the offset after the last record of ``batch`` (where to read next)."""
    out: dict[Partition, int] = {}
    for m in batch:
        if m.offset >= 0:
            key = (m.topic, m.partition)
            out[key] = max(out.get(key, 0), m.offset + 1)
    return out


class ConsumerOffsets:
    """A consumer group's positions as its service's database records them.

    The consumer saves a batch's positions in the transaction that applied
    the batch, or, when some of its records are dead-lettered, once the dead
    letters are published: the table never claims a record whose effect or
    dead letter is missing. A source resumes from ``load`` (see
    ``kafka.KafkaSource``), so the database, not the broker, says what has
    been handled: a database restored from an older backup reads again the
    records since its backup, though the group committed past them.

    Not the inbox's highest offset: the inbox holds only the records applied.
    A record skipped (a type this group ignores) or dead-lettered leaves no
    row there, so resuming after the last inbox row would read the skipped
    ones again and publish a second dead letter for each poison record; and a
    dead letter is published after the transaction that applied the records
    behind it, so after a crash between the two the inbox is past a record
    whose dead letter was never sent.
    """

    def __init__(self, db: Database, group: str) -> None:
        self.db = db
        self.group = group

    async def load(self) -> dict[Partition, int]:
        """Every position recorded for the group: (topic, partition) -> next offset to read."""
        co = tables.consumer_offsets
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(
                select(co.c.topic, co.c.partition, co.c.offset).where(co.c.consumer == self.group)
            )
            return {(r.topic, r.partition): r.offset for r in rows}

    async def save(
        self, offsets: Mapping[Partition, int], conn: AsyncConnection | None = None
    ) -> None:
        """Record the positions, in ``conn``'s transaction or in one of their own."""
        if not offsets:
            return
        if conn is None:
            if self.db.is_postgres and self.db.unit() is None:
                # One statement is a transaction of its own: no BEGIN and COMMIT, and no
                # pool checkout (a batch of records the group skips costs only this).
                async with self.db.driver() as raw:
                    await postgres.save_offsets(raw, self.group, offsets)
                return
            async with self.db.transaction() as own:
                await self.save(offsets, own)
            return
        if self.db.is_postgres:
            await postgres.save_offsets(conn, self.group, offsets)
            return
        co = tables.consumer_offsets
        stmt = sqlite.insert(co).values(
            [
                {"consumer": self.group, "topic": t, "partition": p, "offset": o}
                for (t, p), o in sorted(offsets.items())
            ]
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[co.c.consumer, co.c.topic, co.c.partition],
                set_={"offset": stmt.excluded.offset, "updated_at": func.now()},
            )
        )


def dead_letter_topic(group: str) -> str:
    """``<prefix>.dlq.<service>`` for the consumer group ``<prefix>.<service>``.

    Under the configured topic prefix like every other topic of the platform,
    so one prefixed ACL (and one ``delete_topics`` of a test) covers them all.
    It used to be ``avrr.dlq.<group>`` whatever the prefix, a namespace of its
    own that the prefixed grants of a deployment did not reach. A group with no
    prefix (no dot) gets ``dlq.<group>``. ``legacy_dead_letter_topic`` names the
    old topic, which ``avrr dead-letters ... --topic`` still reads and redrives.
    """
    prefix, dot, name = group.rpartition(".")
    return f"{prefix}.dlq.{name}" if dot else f"dlq.{name}"


def legacy_dead_letter_topic(group: str) -> str:
    """Where releases before the prefixed dead-letter topics wrote them (``avrr.dlq.<group>``)."""
    return f"avrr.dlq.{group}"


class EventConsumer:
    """One consumer group of one service."""

    def __init__(
        self,
        *,
        db: Database,
        source: MessageSource,
        registry: EventRegistry,
        group: str,
        dead_letters: Publisher,
        reactions: Mapping[str, Sequence[Reaction]] | None = None,
        projections: Sequence[Projection] = (),
        store: EventStore | None = None,
        cipher: PersonalDataCipher | None = None,
        commands: Callable[[], Any] | None = None,
        max_attempts: int = 5,
        max_conflicts: int = 200,
        retry_backoff: float = 0.05,
        batch_size: int = 500,
        poll_timeout_ms: int = 500,
        own_topic: str | None = None,
    ) -> None:
        self.db = db
        self.own_topic = own_topic
        self.source = source
        self.registry = registry
        self.group = group
        self.dead_letters = dead_letters
        self.reactions = {k: list(v) for k, v in (reactions or {}).items()}
        self.projections = list(projections)
        self.store = store
        self.cipher = cipher
        self.commands = commands or (lambda: None)
        self.max_attempts = max_attempts
        self.max_conflicts = max_conflicts
        self.retry_backoff = retry_backoff
        self.batch_size = batch_size
        self.poll_timeout_ms = poll_timeout_ms
        self.dead_letter_topic = dead_letter_topic(group)
        self.offsets = ConsumerOffsets(db, group)
        self.stats = ConsumerStats()
        self._relevant = set(self.reactions)
        for p in self.projections:
            self._relevant |= p.event_types
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Consume until ``stop``.

        A batch that fails for a reason outside the events themselves (the
        database or the dead-letter topic unreachable) is not committed and is
        tried again after a pause, for as long as it takes: an outage must
        neither lose events nor dead-letter healthy ones.
        """
        await self.source.start(self.offsets)
        try:
            while not self._stopping.is_set():
                batch = await self.source.fetch(self.poll_timeout_ms, self.batch_size)
                if batch:
                    await patiently(
                        functools.partial(self.process, batch),
                        backoff=self.retry_backoff,
                        log=log,
                        waiting=f"consumer {self.group}: batch not handled",
                        stopping=self._stopping,
                    )
        finally:
            await self.source.stop()

    def stop(self) -> None:
        self._stopping.set()

    @property
    def event_types(self) -> frozenset[str]:
        """The types this group takes in (inbox, reactions, projections); others are skipped."""
        return frozenset(self._relevant)

    def add_reaction(self, event_type: str, reaction: Reaction) -> None:
        """React to one more event type (wiring at start-up, before ``run``)."""
        self.reactions.setdefault(event_type, []).append(reaction)
        self._relevant.add(event_type)

    async def process(self, batch: Sequence[Message]) -> None:
        """Handle a batch of records, dead-letter what cannot be handled, then commit offsets.

        The database's positions go in the batch's own transaction when every
        record of it applied or was skipped (one round trip fewer); otherwise
        in a transaction of their own once the dead letters are published.
        """
        started = time.perf_counter()
        items: list[_Item] = []
        dead: list[Message] = []
        for message in batch:
            try:
                envelope = Envelope.from_message(message)
                if envelope.type not in self._relevant:
                    continue
                items.append(_Item(message, envelope, self.registry.decode(envelope)))
            except EnvelopeError as exc:
                dead.append(self._dead_letter(message, "undecodable", str(exc)))
            except EventDecodeError as exc:
                dead.append(self._dead_letter(message, exc.reason, str(exc)))
        positions = next_offsets(batch)
        saved = False
        if items:
            try:
                await self._apply_in_one_transaction(items, {} if dead else positions)
                saved = not dead
            except Exception as exc:  # one bad record spoils the batch: go one by one
                log.info(
                    "batch of %d failed (%s); retrying record by record",
                    len(items),
                    logs.error_text(exc),
                )
                for item in items:
                    failure = await self._apply_with_retries(item)
                    if failure is not None:
                        dead.append(failure)
        if dead:
            await self.dead_letters.publish(dead)
            self.stats.dead_lettered += len(dead)
        if not saved:
            await self.offsets.save(positions)
        await self.source.commit(batch)
        if items:
            self.db.appended()
        self.stats.batch_latency.observe(time.perf_counter() - started)

    async def _apply_in_one_transaction(
        self, items: Sequence[_Item], positions: Mapping[Partition, int]
    ) -> None:
        async with self.db.transaction() as conn:
            fresh = await self._record_in_inbox(conn, items)
            await self._apply(conn, fresh)
            await self.offsets.save(positions, conn)
        self.stats.applied += len(fresh)  # committed: what a reader of the read models sees

    async def _apply_with_retries(self, item: _Item) -> Message | None:
        """Apply one record with bounded retries; return its dead letter if it never succeeds.

        A ``ConcurrencyError`` does not count against ``max_attempts``: another
        writer changed a stream the reaction appends to (a programme's shared
        budget stream, say), which says nothing about the event, and reloading
        and deciding again is the remedy. Such retries back off with jitter, up
        to ``max_conflicts`` of them (found by ``make chaos``: under 60 lifecycles
        at once, five quick retries on a contended programme stream all lost, and
        a healthy ArrivalConfirmed was dead-lettered).
        """
        error = ""
        attempt = conflicts = 0
        while attempt < self.max_attempts:
            try:
                async with self.db.transaction() as conn:
                    fresh = await self._record_in_inbox(conn, [item])
                    await self._apply(conn, fresh)
                self.stats.applied += len(fresh)
                return None
            except DeadLetter as exc:
                return self._dead_letter(item.message, "rejected", str(exc), attempt + 1)
            except Exception as exc:
                if unavailable(exc):
                    raise  # the database is away, not the event at fault: retry the batch later
                if isinstance(exc, ConcurrencyError) and conflicts < self.max_conflicts:
                    conflicts += 1
                    self.stats.retries += 1
                    cap = min(1.0, self.retry_backoff * 2 ** min(conflicts, 10))
                    await asyncio.sleep(random.uniform(0, cap))
                    continue
                attempt += 1
                # The type and SQLSTATE, not the message: a driver's can quote the row.
                error = logs.error_text(exc)
                with logs.event_context(
                    event_id=item.envelope.id,
                    event_type=item.envelope.type,
                    correlation_id=item.envelope.correlationid,
                ):
                    log.warning(
                        "handling failed (attempt %d/%d): %s", attempt, self.max_attempts, error
                    )
                if attempt < self.max_attempts:
                    self.stats.retries += 1
                    await asyncio.sleep(self.retry_backoff * 2 ** (attempt - 1))
        return self._dead_letter(item.message, "handler_failed", error, self.max_attempts)

    async def _record_in_inbox(self, conn: AsyncConnection, items: Sequence[_Item]) -> list[_Item]:
        """Insert inbox rows; return the items not seen before (first copy of each, in order)."""
        unique: dict[str, _Item] = {}
        for item in items:
            unique.setdefault(item.envelope.id, item)
        if self.own_topic is not None:
            unique = await self._held_by_store(conn, unique)
            if not unique:
                return []
        if self.db.is_postgres:
            inserted = await postgres.insert_inbox(
                conn,
                self.group,
                [
                    (
                        i.envelope.id,
                        i.envelope.type,
                        i.envelope.subject,
                        i.envelope.model_dump_json(),
                        i.message.topic,
                        i.message.partition,
                        i.message.offset,
                    )
                    for i in unique.values()
                ],
            )
        else:
            inserted = await self._insert_inbox_rows(conn, unique.values())
        self.stats.duplicates += len(items) - len(inserted)
        if inserted and self.projections:
            last = max(inserted.values())
            await save_checkpoints(conn, [p.name for p in self.projections], last)
        return [i for i in unique.values() if i.envelope.id in inserted]

    async def _insert_inbox_rows(
        self, conn: AsyncConnection, items: Iterable[_Item]
    ) -> dict[str, int]:
        """The inbox rows through SQLAlchemy (SQLite); event_id -> inbox id of the new ones."""
        stmt = (
            sqlite.insert(tables.inbox)
            .values(
                [
                    {
                        "consumer": self.group,
                        "event_id": i.envelope.id,
                        "type": i.envelope.type,
                        "subject": i.envelope.subject,
                        "envelope": i.envelope.model_dump(mode="json"),
                        "topic": i.message.topic,
                        "partition": i.message.partition,
                        "offset": i.message.offset,
                    }
                    for i in items
                ]
            )
            .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
            .returning(tables.inbox.c.event_id, tables.inbox.c.id)
        )
        return {row.event_id: row.id for row in await conn.execute(stmt)}

    async def _held_by_store(
        self, conn: AsyncConnection, unique: dict[str, _Item]
    ) -> dict[str, _Item]:
        """The items without this service's own events that its event store does not hold.

        Every event of the service's own topic was published from its store,
        so one the store lacks was lost with it: the database was restored
        from a backup taken before the event was written. Taken in, it would
        show in read models what the store (and so every later decision) no
        longer knows. A reaction the restored service runs again writes such
        an event again under the same id (``envelope.reaction_event_id``),
        which is taken in when it is published again.
        """
        own = [event_id for event_id, i in unique.items() if i.message.topic == self.own_topic]
        if not own:
            return unique
        if self.db.is_postgres:
            held = await postgres.held_events(conn, own)
        else:
            ev = tables.events
            rows = await conn.execute(select(ev.c.event_id).where(ev.c.event_id.in_(own)))
            held = {str(r.event_id) for r in rows}
        lost = set(own) - held
        if not lost:
            return unique
        self.stats.not_held += len(lost)
        log.warning(
            "consumer %s: %d events of its own topic are not in its event store "
            "(lost with a restore from a backup): not taken in",
            self.group,
            len(lost),
        )
        return {event_id: i for event_id, i in unique.items() if event_id not in lost}

    async def _apply(self, conn: AsyncConnection, items: Sequence[_Item]) -> None:
        """Run each item's reactions inside its span and log context, then the projections.

        The span and the log context are entered only where they hold something:
        around an event's reactions (whose log lines name the event, and whose
        events carry the span's trace onward), and, while spans are recorded, for
        every event (the trace shows each event handled). Entering them for
        every event of a catch-up, reactions or not, cost ~12 us per event.
        """
        spans = tracing.recording()
        for item in items:
            reactions = self.reactions.get(item.envelope.type, ())
            if not reactions:
                if spans:
                    with handling(item.envelope, self.group):
                        pass
                continue
            with (
                handling(item.envelope, self.group),
                logs.event_context(
                    event_id=item.envelope.id,
                    event_type=item.envelope.type,
                    correlation_id=item.envelope.correlationid,
                ),
            ):
                for reaction in reactions:
                    await reaction(
                        HandlerContext(
                            conn, item.envelope, self.store, self.cipher, self.commands()
                        ),
                        item.event,
                    )
        for projection in self.projections:
            mine = [
                (i.event, i.envelope) for i in items if i.envelope.type in projection.event_types
            ]
            if mine:
                await projection.apply_batch(conn, mine)

    def _dead_letter(self, message: Message, reason: str, error: str, attempts: int = 0) -> Message:
        """The dead-letter record: the original bytes and headers plus why and where from."""
        self.stats.reasons.append(reason)
        log.warning(
            "dead-lettering record %s/%d@%d: %s",
            message.topic,
            message.partition,
            message.offset,
            reason,
        )
        extra = (
            ("dlq_reason", reason),
            ("dlq_error", error[:2000]),
            ("dlq_group", self.group),
            ("dlq_topic", message.topic),
            ("dlq_partition", str(message.partition)),
            ("dlq_offset", str(message.offset)),
            ("dlq_attempts", str(attempts)),
        )
        return Message(
            topic=self.dead_letter_topic,
            key=message.key,
            value=message.value,
            headers=message.headers + tuple((k, v.encode()) for k, v in extra),
        )


def reactions_table(
    pairs: Mapping[type[DomainEvent], Sequence[Reaction]],
) -> dict[str, list[Reaction]]:
    """Key reactions by event type name, from the event classes a service reacts to."""
    return {cls.event_type: list(fns) for cls, fns in pairs.items()}
