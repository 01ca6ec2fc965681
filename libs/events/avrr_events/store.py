"""The event store: append with optimistic concurrency, load a stream, read all.

Appending and the transactional outbox are one operation: the events and the
rows that tell the relay to publish them are written in the same transaction,
so nothing is committed that will not also be published, and nothing is
published that was not committed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import tables
from avrr_events.adapters import postgres
from avrr_events.adapters.database import Database
from avrr_events.bus import Message
from avrr_events.envelope import Envelope, utc, wire_time


class ConcurrencyError(Exception):
    """Someone else appended to the stream since it was loaded: reload and decide again."""

    def __init__(self, stream_id: str, expected_version: int) -> None:
        super().__init__(
            f"stream {stream_id} is no longer at version {expected_version}: "
            "it was changed concurrently"
        )
        self.stream_id = stream_id
        self.expected_version = expected_version


@dataclass(frozen=True)
class Reservation:
    """The Idempotency-Key reserved for the command running now (see ``http.IdempotencyKeys``).

    ``taken_at`` is the reservation's ``created_at``: it says whose attempt
    holds the key, so an attempt whose reservation a retry took over (after
    its lease) can no longer commit under it.
    """

    scope: str
    key: str
    taken_at: datetime


# Set by IdempotencyKeys while it runs a command. Every append made meanwhile
# marks the reservation committed in the same atomic write as its events, and
# appends nothing if the reservation is no longer this attempt's: a retry then
# knows for sure whether the command took effect.
reservation: ContextVar[Reservation | None] = ContextVar("avrr_reservation", default=None)


@dataclass(frozen=True)
class RecordedEvent:
    """An envelope as stored: its global position and its version within its stream."""

    position: int
    stream_id: str
    version: int
    envelope: Envelope


_META_FIELDS = ("dataschema", "correlationid", "causationid", "traceparent", "tracestate")


def envelope_row(envelope: Envelope) -> dict[str, Any]:
    """The columns of an envelope, with the optional attributes folded into ``meta``."""
    return {
        "event_id": envelope.id,
        "type": envelope.type,
        "dataversion": envelope.dataversion,
        "subject": envelope.subject,
        "source": envelope.source,
        "time": envelope.time,
        "data": envelope.data,
        "meta": {k: getattr(envelope, k) for k in _META_FIELDS if getattr(envelope, k)},
    }


def row_envelope(row: Any) -> Envelope:
    """Rebuild an envelope from a stored row (trusted: it was validated when appended)."""
    meta = row.meta if isinstance(row.meta, dict) else postgres.loads(row.meta)
    data = row.data if isinstance(row.data, dict) else postgres.loads(row.data)
    return Envelope.model_construct(
        specversion="1.0",
        id=str(row.event_id),
        source=row.source,
        type=row.type,
        subject=row.subject,
        time=utc(row.time),
        datacontenttype="application/json",
        dataschema=meta.get("dataschema", ""),
        dataversion=row.dataversion,
        correlationid=meta.get("correlationid", ""),
        causationid=meta.get("causationid"),
        traceparent=meta.get("traceparent"),
        tracestate=meta.get("tracestate"),
        data=data,
    )


# Exactly what ``json.dumps(data, separators=(",", ":"), ensure_ascii=False)`` writes,
# without building a new encoder per call.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_CONTENT_TYPE = ("content-type", b"application/json")
_SPECVERSION = ("ce_specversion", b"1.0")


def row_message(row: Any, topic: str) -> Message:
    """The Kafka record of a stored event: ``row_envelope(row).to_message(topic)``, byte for byte.

    The outbox relay turns every row it publishes into a record; building an
    Envelope on the way cost as much CPU as the producer itself, so the
    CloudEvents headers are written here straight from the row (same order,
    same encoding; test_outbox_encoding checks the two agree).
    """
    meta = row.meta if isinstance(row.meta, dict) else postgres.loads(row.meta)
    return encode_record(
        topic,
        row.event_id,
        row.source,
        row.type,
        row.subject,
        row.time,
        row.dataversion,
        row.data,
        str(meta.get("dataschema", "")),
        str(meta.get("correlationid", "")),
        meta.get("causationid"),
        meta.get("traceparent"),
        meta.get("tracestate"),
    )


def encode_record(
    topic: str,
    event_id: Any,
    source: str,
    type_: str,
    subject: str,
    time: Any,
    dataversion: int,
    data: Any,
    dataschema: str,
    correlationid: str,
    causationid: str | None,
    traceparent: str | None,
    tracestate: str | None,
) -> Message:
    """``row_message`` with the ``meta`` attributes already taken out (by the relay's query)."""
    if not isinstance(data, dict):
        data = postgres.loads(data)
    key = subject.encode()
    headers = [
        _CONTENT_TYPE,
        _SPECVERSION,
        ("ce_id", str(event_id).encode()),
        ("ce_source", source.encode()),
        ("ce_type", type_.encode()),
        ("ce_subject", key),
        ("ce_time", wire_time(time).encode()),
        ("ce_dataschema", dataschema.encode()),
        ("ce_dataversion", str(dataversion).encode()),
        ("ce_correlationid", correlationid.encode()),
    ]
    if causationid is not None:
        headers.append(("ce_causationid", str(causationid).encode()))
    if traceparent is not None:
        headers.append(("ce_traceparent", str(traceparent).encode()))
    if tracestate is not None:
        headers.append(("ce_tracestate", str(tracestate).encode()))
    return Message(
        topic=topic, key=key, value=_COMPACT_JSON.encode(data).encode(), headers=tuple(headers)
    )


class EventStore:
    """Streams of one service, in its own database, published to its domain topic."""

    def __init__(self, db: Database, topic: str) -> None:
        self.db = db
        self.topic = topic
        self.appended: Counter[str] = Counter()  # events written, by type (for /metrics)

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        envelopes: Sequence[Envelope],
        *,
        conn: AsyncConnection | None = None,
        topic: str | None = None,
    ) -> int:
        """Append after ``expected_version`` (0 for a new stream); return the new version.

        Pass ``conn`` to append inside a caller's transaction (a consumer
        applying an inbound event); without it the append commits on its own.
        Raises ConcurrencyError when the stream is not at ``expected_version``,
        or when a command's Idempotency-Key reservation (``reservation``) is no
        longer its own: a retry took it over after its lease.
        """
        if not envelopes:
            return expected_version
        target = topic or self.topic
        unit = self.db.unit() if conn is None else None
        if conn is not None:
            await self._append(conn, stream_id, expected_version, envelopes, target)
        elif unit is not None:  # a savepoint: a conflict leaves the unit usable
            async with unit.begin_nested():
                await self._append(unit, stream_id, expected_version, envelopes, target)
        elif self.db.is_postgres:
            # One statement on the driver, its own transaction (see postgres.append).
            async with self.db.driver() as raw:
                await self._append(
                    raw, stream_id, expected_version, envelopes, target, own_commit=True
                )
            self.db.appended()
            self.db.notify_outbox()
        else:
            async with self.db.transaction() as own:
                await self._append(own, stream_id, expected_version, envelopes, target)
            self.db.appended()
        self.appended.update(e.type for e in envelopes)
        return expected_version + len(envelopes)

    async def _append(
        self,
        conn: Any,  # AsyncConnection; an asyncpg connection with own_commit
        stream_id: str,
        expected_version: int,
        envelopes: Sequence[Envelope],
        topic: str,
        *,
        own_commit: bool = False,
    ) -> None:
        rows = [envelope_row(e) for e in envelopes]
        held = reservation.get()
        mark = None if held is None else (held.scope, held.key, held.taken_at)
        try:
            if self.db.is_postgres:
                inserted = await postgres.append(
                    conn,
                    stream_id,
                    expected_version,
                    rows,
                    topic,
                    own_commit=own_commit,
                    reservation=mark,
                )
            else:
                inserted = await _append_portable(
                    conn, stream_id, expected_version, rows, topic, held
                )
        except (IntegrityError, postgres.UNIQUE_VIOLATION) as exc:
            raise ConcurrencyError(stream_id, expected_version) from exc
        if inserted != len(rows):
            raise ConcurrencyError(stream_id, expected_version)

    async def append_many(self, appends: Sequence[tuple[str, int, Sequence[Envelope]]]) -> None:
        """Append to several streams at once, all or none: one transaction (one statement on
        PostgreSQL), each ``(stream_id, expected_version, envelopes)`` checked as ``append``
        checks one.

        For a run of many commands (``batch.HeldAppends``: an import of thousands
        of cases), where a transaction per command would bound the run by the
        database's commits per second. Raises ConcurrencyError naming a stream
        that is not at its expected version, or that another writer appended to
        meanwhile: then nothing is written. Outside any caller's transaction:
        it commits on its own (joining a unit of work if one runs).
        """
        if reservation.get() is not None:
            raise RuntimeError("a command under an Idempotency-Key appends to its one stream")
        expected: dict[str, int] = {}
        rows: list[dict[str, Any]] = []
        for stream_id, version, envelopes in appends:
            if not envelopes:
                continue
            if stream_id in expected:
                raise ValueError(f"stream {stream_id} is named twice")
            expected[stream_id] = version
            rows.extend(
                {**envelope_row(e), "stream_id": stream_id, "version": version + n}
                for n, e in enumerate(envelopes, start=1)
            )
        if not rows:
            return
        try:
            if self.db.is_postgres and self.db.unit() is None:
                async with self.db.driver() as raw:
                    moved = await postgres.append_many(raw, expected, rows, self.topic)
            else:
                async with self.db.transaction() as conn:
                    if self.db.is_postgres:
                        moved = await postgres.append_many(conn, expected, rows, self.topic)
                    else:
                        moved = await _append_many_portable(conn, expected, rows, self.topic)
                    if moved is not None:  # nothing was inserted: roll back all the same
                        raise ConcurrencyError(moved, expected[moved])
        except (IntegrityError, postgres.UNIQUE_VIOLATION) as exc:
            stream = next(iter(expected))  # which one the database does not say
            raise ConcurrencyError(stream, expected[stream]) from exc
        if moved is not None:
            raise ConcurrencyError(moved, expected[moved])
        if self.db.unit() is None:
            self.db.appended()
            self.db.notify_outbox()
        self.appended.update(r["type"] for r in rows)

    async def load_many(self, stream_ids: Iterable[str]) -> dict[str, list[RecordedEvent]]:
        """Every event of several streams, in one query; a stream with none maps to []."""
        found: dict[str, list[RecordedEvent]] = {s: [] for s in stream_ids}
        if not found:
            return found
        e = tables.events
        stmt = select(e).where(e.c.stream_id.in_(list(found))).order_by(e.c.stream_id, e.c.version)
        async with self.db.autocommit() as own:
            result = await own.execute(stmt)
        for r in result:
            found[r.stream_id].append(
                RecordedEvent(r.position, r.stream_id, r.version, row_envelope(r))
            )
        return found

    async def load(
        self, stream_id: str, *, conn: AsyncConnection | None = None
    ) -> list[RecordedEvent]:
        """Every event of one stream, in version order."""
        stmt = (
            select(tables.events)
            .where(tables.events.c.stream_id == stream_id)
            .order_by(tables.events.c.version)
        )
        if conn is not None:
            result = await conn.execute(stmt)
        else:
            async with self.db.autocommit() as own:
                result = await own.execute(stmt)
        return [RecordedEvent(r.position, r.stream_id, r.version, row_envelope(r)) for r in result]

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Events after a global position, in position order, at most ``limit`` of them.

        Positions are handed out at insert, so under concurrent writers a
        lower position can commit after a higher one. Readers that tail live
        history therefore consume Kafka (ordered per case), and this is for
        replays over a quiet store, such as a rebuild or an export.
        """
        stmt = (
            select(tables.events)
            .where(tables.events.c.position > after)
            .order_by(tables.events.c.position)
            .limit(limit)
        )
        async with self.db.engine.connect() as conn:
            result = await conn.execute(stmt)
            return [
                RecordedEvent(r.position, r.stream_id, r.version, row_envelope(r)) for r in result
            ]

    async def stream_version(self, stream_id: str) -> int:
        """The stream's current version (0: no such stream), for ETags and If-Match.

        On PostgreSQL one statement on a kept driver connection: every detail
        read of a case asks for it, and SQLAlchemy's checkout, BEGIN and
        ROLLBACK around a one-row query cost more than the query.
        """
        if self.db.is_postgres and self.db.unit() is None:
            async with self.db.driver() as raw:
                value = await raw.fetchval(
                    "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1", stream_id
                )
            return int(value)
        async with self.db.autocommit() as conn:
            value = await conn.scalar(
                select(func.coalesce(func.max(tables.events.c.version), 0)).where(
                    tables.events.c.stream_id == stream_id
                )
            )
        return int(value or 0)


async def _append_portable(
    conn: AsyncConnection,
    stream_id: str,
    expected_version: int,
    rows: list[dict[str, Any]],
    topic: str,
    held: Reservation | None = None,
) -> int:
    """Append on SQLite: check the version, mark the command's Idempotency-Key
    reservation committed (if one is held), insert events, insert outbox rows
    (one transaction)."""
    current = await conn.scalar(
        select(func.coalesce(func.max(tables.events.c.version), 0)).where(
            tables.events.c.stream_id == stream_id
        )
    )
    if current != expected_version:
        return 0
    if held is not None:
        t = tables.idempotency_keys
        marked = await conn.execute(
            update(t)
            .where(t.c.scope == held.scope, t.c.key == held.key, t.c.created_at == held.taken_at)
            .values(committed_at=datetime.now(UTC))
        )
        if marked.rowcount != 1:  # taken over by a retry: this attempt may not commit
            return 0
    positions = []
    for offset, row in enumerate(rows, start=1):
        result = await conn.execute(
            tables.events.insert().values(
                stream_id=stream_id, version=expected_version + offset, **row
            )
        )
        positions.append(int(result.inserted_primary_key[0]))  # type: ignore[index]
    await conn.execute(tables.outbox.insert(), [{"position": p, "topic": topic} for p in positions])
    return len(positions)


async def _append_many_portable(
    conn: AsyncConnection, expected: dict[str, int], rows: list[dict[str, Any]], topic: str
) -> str | None:
    """``append_many`` on SQLite: the streams' versions checked, the events inserted, and an
    outbox row for each, in position order; returns a stream that moved on (nothing
    inserted), else None.

    SQLite runs one write transaction at a time (BEGIN IMMEDIATE), so the
    events are those past the highest position before them: one plain
    ``executemany`` inserts them, where returning each one's position cost
    six times the CPU (SQLAlchemy's sorted INSERT ... RETURNING).
    """
    e = tables.events
    versions = await conn.execute(
        select(e.c.stream_id, func.max(e.c.version))
        .where(e.c.stream_id.in_(list(expected)))
        .group_by(e.c.stream_id)
    )
    current = {stream: int(version) for stream, version in versions}
    moved = next((s for s, v in expected.items() if current.get(s, 0) != v), None)
    if moved is not None:
        return moved
    before = await conn.scalar(select(func.coalesce(func.max(e.c.position), 0)))
    await conn.execute(e.insert(), rows)
    await conn.execute(
        tables.outbox.insert().from_select(
            ["position", "topic"],
            select(e.c.position, literal(topic))
            .where(e.c.position > before)
            .order_by(e.c.position),
        )
    )
    return None
