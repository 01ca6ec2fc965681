"""PostgreSQL specifics: the one-round-trip append, the relay's leader lock and wake-up.

Round trips, not fsync, bound the write path (see PERFORMANCE.md), so the
append of events and their outbox rows is a single statement: a CTE that checks
the stream version, inserts every event and inserts the outbox rows. Outside a
transaction it needs no BEGIN/COMMIT either; the relays are then woken by a
NOTIFY sent apart (``Database.notify_outbox``), inside one by a NOTIFY in it.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

OUTBOX_CHANNEL = "avrr_outbox"

# The driver's own errors, named here so that the code above the adapters (the
# store's append, the problem handlers) tells them apart without importing it:
# a duplicate key on the driver's own connection (a concurrent append), and
# asyncpg's data exceptions, the server's (SQLSTATE class 22) and its own
# refusal to encode a parameter (an integer beyond 64 bits).
UNIQUE_VIOLATION: type[Exception] = asyncpg.exceptions.UniqueViolationError
DATA_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.exceptions.DataError,
    asyncpg.exceptions._base.DataError,
)

_APPEND = """
WITH cur AS (
    SELECT COALESCE(MAX(version), 0) AS v FROM events WHERE stream_id = $1
), ins AS (
    INSERT INTO events
        (event_id, stream_id, version, type, dataversion, subject, source, time, data, meta)
    SELECT e.event_id, $1, $2 + e.ord, e.type, e.dataversion, e.subject, e.source,
           e.time, e.data, e.meta
    FROM unnest($3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[],
                $8::timestamptz[], $9::jsonb[], $10::jsonb[])
         WITH ORDINALITY AS e(event_id, type, dataversion, subject, source, time, data, meta, ord)
    WHERE (SELECT v FROM cur) = $2
    ORDER BY e.ord
    RETURNING position
), ob AS (
    INSERT INTO outbox (position, topic) SELECT position, $11 FROM ins ORDER BY position
)
SELECT (SELECT count(*) FROM ins)
"""
# A command run under an Idempotency-Key (store.reservation) marks its
# reservation committed in the same statement, and inserts nothing unless the
# reservation is still its attempt's (created_at = $14): the UPDATE locks the
# row, so a retry taking the key over either waits and then finds it
# committed, or wins and this append finds no row to mark.
_APPEND_RESERVED = _APPEND.replace(
    "), ins AS (",
    """), mark AS (
    UPDATE idempotency_keys SET committed_at = now()
    WHERE scope = $12 AND key = $13 AND created_at = $14 AND (SELECT v FROM cur) = $2
    RETURNING 1
), ins AS (""",
).replace(
    "WHERE (SELECT v FROM cur) = $2\n",
    "WHERE (SELECT v FROM cur) = $2 AND EXISTS (SELECT 1 FROM mark)\n",
)
# Inside a caller's transaction the NOTIFY goes with it (sent when it commits).
_NOTIFY = (
    "SELECT (SELECT count(*) FROM ins)",
    f"SELECT (SELECT count(*) FROM ins), pg_notify('{OUTBOX_CHANNEL}', '')",
)
_APPEND_NOTIFY = _APPEND.replace(*_NOTIFY)
_APPEND_RESERVED_NOTIFY = _APPEND_RESERVED.replace(*_NOTIFY)


def _columns(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """The events' columns as the arrays an append's ``unnest`` takes, in its order."""
    return [
        [r["event_id"] for r in rows],
        [r["type"] for r in rows],
        [r["dataversion"] for r in rows],
        [r["subject"] for r in rows],
        [r["source"] for r in rows],
        [r["time"] for r in rows],
        [dumps(r["data"]) for r in rows],
        [dumps(r["meta"]) for r in rows],
    ]


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def loads(value: str | bytes) -> Any:
    return json.loads(value)


async def append(
    conn: Any,
    stream_id: str,
    expected_version: int,
    rows: list[dict[str, Any]],
    topic: str,
    *,
    own_commit: bool = False,
    reservation: tuple[str, str, datetime] | None = None,
) -> int:
    """Insert events + outbox rows in one statement; return how many events went in.

    Zero means the stream was not at ``expected_version``; a concurrent writer
    of the same version makes the unique constraint fail instead (asyncpg's
    UniqueViolationError with ``own_commit``, SQLAlchemy's IntegrityError without).

    ``conn`` is a SQLAlchemy connection, or with ``own_commit`` an asyncpg
    one from ``Database.driver``: the statement then runs outside any
    transaction (it is its own: no BEGIN/COMMIT round trips, no SQLAlchemy
    statement overhead) and without NOTIFY: PostgreSQL serialises the commits
    of notifying transactions (a global lock held through the commit's WAL
    flush), which held concurrent writers to the throughput of one. The caller
    then wakes the relays with ``Database.notify_outbox``. Inside a caller's
    transaction the NOTIFY stays in the statement.

    ``reservation`` (scope, key, created_at of an Idempotency-Key reservation)
    adds one branch to the statement: the reservation is marked committed with
    the events, and zero events go in if it is not at that ``created_at``.
    """
    params: tuple[Any, ...] = (stream_id, expected_version, *_columns(rows), topic)
    if reservation is not None:
        params = (*params, *reservation)
    if own_commit:  # conn is an asyncpg connection (Database.driver)
        statement = _APPEND if reservation is None else _APPEND_RESERVED
        return int(await conn.fetchval(statement, *params) or 0)
    statement = _APPEND_NOTIFY if reservation is None else _APPEND_RESERVED_NOTIFY
    result = await conn.exec_driver_sql(statement, params)
    row = result.first()
    return int(row[0]) if row else 0


# ``append_many``: the events of several streams, each checked at its expected version
# (nothing inserted if one moved on), and their outbox rows, in one statement.
_APPEND_MANY = """
WITH cur AS (
    SELECT w.stream_id, w.expected,
           (SELECT COALESCE(MAX(e.version), 0) FROM events e WHERE e.stream_id = w.stream_id) AS v
    FROM unnest($1::text[], $2::int[]) AS w(stream_id, expected)
), moved AS (
    SELECT stream_id FROM cur WHERE v <> expected LIMIT 1
), ins AS (
    INSERT INTO events
        (event_id, stream_id, version, type, dataversion, subject, source, time, data, meta)
    SELECT e.event_id, e.stream_id, e.version, e.type, e.dataversion, e.subject, e.source,
           e.time, e.data, e.meta
    FROM unnest($3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[],
                $8::timestamptz[], $9::jsonb[], $10::jsonb[], $11::text[], $12::int[])
         WITH ORDINALITY AS e(event_id, type, dataversion, subject, source, time, data, meta,
                              stream_id, version, ord)
    WHERE NOT EXISTS (SELECT 1 FROM moved)
    ORDER BY e.ord
    RETURNING position
), ob AS (
    INSERT INTO outbox (position, topic) SELECT position, $13 FROM ins ORDER BY position
)
SELECT (SELECT stream_id FROM moved)
"""


async def append_many(
    conn: Any, expected: dict[str, int], rows: list[dict[str, Any]], topic: str
) -> str | None:
    """``store.EventStore.append_many``'s one statement: every row (with its ``stream_id``
    and ``version``) and its outbox row, unless a stream is not at ``expected``; returns
    that stream (nothing inserted), else None.

    ``conn`` is an asyncpg connection (``Database.driver``: the statement is its own
    transaction, the caller sends NOTIFY) or a SQLAlchemy one inside a transaction.
    """
    params = (
        list(expected),
        list(expected.values()),
        *_columns(rows),
        [r["stream_id"] for r in rows],
        [r["version"] for r in rows],
        topic,
    )
    if isinstance(conn, AsyncConnection):
        row = (await conn.exec_driver_sql(_APPEND_MANY, params)).first()
        return None if row is None else row[0]
    moved: str | None = await conn.fetchval(_APPEND_MANY, *params)
    return moved


# The consumer's inbox rows of a batch in one statement: arrays, unnest, in the
# batch's order (the inbox id is the journal's order). Rows already there for
# the group are skipped; what went in comes back as (event_id, id).
_INSERT_INBOX = """
INSERT INTO inbox (consumer, event_id, type, subject, envelope, topic, partition, "offset")
SELECT $1, e.event_id, e.type, e.subject, e.envelope, e.topic, e.partition, e."offset"
FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::int[],
            $8::bigint[]) WITH ORDINALITY
     AS e(event_id, type, subject, envelope, topic, partition, "offset", ord)
ORDER BY e.ord
ON CONFLICT (consumer, event_id) DO NOTHING
RETURNING event_id, id
"""


async def insert_inbox(
    conn: AsyncConnection, consumer: str, rows: Sequence[tuple[str, str, str, str, str, int, int]]
) -> dict[str, int]:
    """Insert a batch's inbox rows (event_id, type, subject, envelope JSON text, topic,
    partition, offset) in the caller's transaction; return event_id -> inbox id of the new ones.

    One statement of arrays whatever the batch's size, run as driver SQL:
    SQLAlchemy compiled a multi-row VALUES anew for every batch (eight bind
    parameters a row), which cost a consumer catching up more CPU than
    everything else it did. Through ``exec_driver_sql``, not the asyncpg
    connection itself: the adapter begins its transaction at its first
    statement, and a statement sent past it would commit on its own.
    """
    columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(7)]
    result = await conn.exec_driver_sql(_INSERT_INBOX, (consumer, *columns))
    inserted: list[Any] = list(result)
    return {row[0]: row[1] for row in inserted}


# A consumer's bookkeeping of a batch, besides its inbox rows: where each of its
# projections is in the inbox (one position for all of them), where it is in each
# partition, and which of the events of its own topic its store holds. Driver SQL
# over arrays, one statement each whatever the number of projections or partitions:
# through SQLAlchemy Core each was built, cache-keyed and wrapped per batch, and the
# checkpoints were an UPDATE per projection (docs/benchmarks.md, session 10).
_SAVE_CHECKPOINTS = """
INSERT INTO projection_checkpoints (name, position)
SELECT c.name, $2 FROM unnest($1::text[]) AS c(name) ORDER BY c.name
ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position
"""

_SAVE_OFFSETS = """
INSERT INTO consumer_offsets (consumer, topic, partition, "offset")
SELECT $1, o.topic, o.partition, o."offset"
FROM unnest($2::text[], $3::int[], $4::bigint[]) AS o(topic, partition, "offset")
ORDER BY o.topic, o.partition
ON CONFLICT (consumer, topic, partition)
DO UPDATE SET "offset" = EXCLUDED."offset", updated_at = now()
"""

_HELD_EVENTS = "SELECT event_id::text FROM events WHERE event_id = ANY($1::uuid[])"


async def save_checkpoints(conn: AsyncConnection, names: Sequence[str], position: int) -> None:
    """Record, in the caller's transaction, that projections ``names`` are at ``position``."""
    await conn.exec_driver_sql(_SAVE_CHECKPOINTS, (sorted(names), position))


async def save_offsets(conn: Any, consumer: str, offsets: Mapping[tuple[str, int], int]) -> None:
    """Record a consumer group's positions: (topic, partition) -> next offset to read.

    ``conn`` is a SQLAlchemy connection (in the caller's transaction) or an asyncpg
    one (``Database.driver``: the one statement is its own transaction).
    """
    ordered = sorted(offsets.items())
    params = (
        consumer,
        [topic for (topic, _), _ in ordered],
        [partition for (_, partition), _ in ordered],
        [offset for _, offset in ordered],
    )
    if isinstance(conn, AsyncConnection):
        await conn.exec_driver_sql(_SAVE_OFFSETS, params)
    else:
        await conn.execute(_SAVE_OFFSETS, *params)


async def held_events(conn: AsyncConnection, event_ids: Sequence[str]) -> set[str]:
    """Those of ``event_ids`` the event store holds."""
    result = await conn.exec_driver_sql(_HELD_EVENTS, (list(event_ids),))
    return {row[0] for row in result}


# The relay's read: the oldest outbox rows with the columns of their events, in
# outbox order (the order of the encoder ``store.encode_record``'s arguments). The
# attributes kept in ``meta`` come out as columns: no JSON to decode for them.
_FETCH_OUTBOX = """
SELECT o.id, o.topic, e.event_id, e.source, e.type, e.subject, e.time, e.dataversion,
       e.data, COALESCE(e.meta->>'dataschema', ''), COALESCE(e.meta->>'correlationid', ''),
       e.meta->>'causationid', e.meta->>'traceparent', e.meta->>'tracestate'
FROM outbox o JOIN events e ON e.position = o.position
WHERE o.id <> ALL($2::bigint[]) AND o.failed_at IS NULL
ORDER BY o.id
LIMIT $1
"""


async def driver_connection(conn: AsyncConnection) -> Any:
    """The asyncpg connection under a SQLAlchemy one (for the hot paths)."""
    fairy = await conn.get_raw_connection()
    return fairy.driver_connection


async def fetch_outbox(conn: AsyncConnection, limit: int, exclude: Sequence[int] = ()) -> list[Any]:
    """The oldest ``limit`` outbox rows but ``exclude`` joined to their events (asyncpg records).

    The relay reads every event it publishes through here; SQLAlchemy's row
    processing cost it more than the database did, hence the driver.
    """
    raw = await driver_connection(conn)
    return list(await raw.fetch(_FETCH_OUTBOX, limit, list(exclude)))


async def delete_outbox(conn: AsyncConnection, ids: list[int]) -> None:
    """Delete published outbox rows: one statement, its own transaction."""
    raw = await driver_connection(conn)
    await raw.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", ids)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name."""
    return zlib.crc32(name.encode()) - 2**31


async def lock_until_commit(conn: AsyncConnection, key: int | str, *, shared: bool = False) -> None:
    """Hold an advisory lock until this transaction ends: the one way the platform serialises
    transactions that optimistic concurrency cannot (schema creation, a withdrawal against
    its reactions, a destination's suspension against its clearances).

    ``key`` is a number (``lock_key``, a constant) or a name PostgreSQL hashes
    (``hashtext``); ``shared`` holders run together and wait only for the exclusive one.
    Nothing on SQLite: it runs one write transaction at a time anyway.
    """
    if conn.dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    await conn.execute(text(_advisory(function, key, ":key")), {"key": key})


async def try_lock_session(raw: Any, key: int | str) -> bool:
    """Take a session-level advisory lock on a driver connection if it is free: held until
    ``unlock_session`` or until the connection closes (a dead leader frees it)."""
    return bool(await raw.fetchval(_advisory("pg_try_advisory_lock", key), key))


async def unlock_session(raw: Any) -> None:
    """Release every session-level advisory lock this driver connection holds."""
    await raw.fetchval(_advisory("pg_advisory_unlock_all"))


def locked_before_rows(key: int | str, parameter: str) -> str:
    """A WHERE condition that takes this transaction's advisory lock on ``key`` (given as
    ``parameter``) before the statement makes any row: an InitPlan, evaluated once.

    For a single statement that must run after the lock, in its own transaction,
    in one round trip (the audit append), where ``lock_until_commit`` would need
    a transaction of its own and a round trip more.
    """
    return f"({_advisory('pg_advisory_xact_lock', key, parameter)}) IS NOT NULL"


def _advisory(function: str, key: int | str | None = None, parameter: str = "$1") -> str:
    """The one place that writes advisory-lock SQL: ``function`` called on ``key`` given as
    ``parameter``, a number as it is, a name hashed by PostgreSQL (``hashtext``)."""
    if key is None:
        return f"SELECT {function}()"
    argument = f"hashtext({parameter})" if isinstance(key, str) else parameter
    return f"SELECT {function}({argument})"


class LeaderLock:
    """A session-level advisory lock held on a dedicated connection.

    Only the replica holding it runs the relay; if that replica dies its
    connection closes and PostgreSQL releases the lock for another one.
    The same connection LISTENs for outbox notifications.
    """

    def __init__(self, engine: AsyncEngine, name: str) -> None:
        self._engine = engine
        self._key = lock_key(name)
        self._conn: AsyncConnection | None = None
        self._raw: Any = None
        self._listener: Callable[..., None] | None = None
        self._held = False

    async def try_acquire(self, on_notify: Callable[[], None] | None = None) -> bool:
        """Take the lock if free; while held, ``on_notify`` runs on every outbox NOTIFY."""
        if self._conn is None:
            self._conn = await self._engine.connect()
            fairy = await self._conn.get_raw_connection()
            self._raw = fairy.driver_connection
        got = await try_lock_session(self._raw, self._key)
        self._held = got
        if got and on_notify is not None:
            self._listener = lambda *_: on_notify()
            await self._raw.add_listener(OUTBOX_CHANNEL, self._listener)
        return got

    def is_alive(self) -> bool:
        """True while the lock is held on a live connection.

        A refused ``try_acquire`` leaves its connection open, so "connected"
        is not "leader": a standby that took one for the other would run too.
        """
        return self._held and self._raw is not None and not self._raw.is_closed()

    async def release(self) -> None:
        if self._conn is None:
            return
        try:
            if not self._raw.is_closed():
                if self._listener is not None:
                    await self._raw.remove_listener(OUTBOX_CHANNEL, self._listener)
                await unlock_session(self._raw)
        except Exception:
            pass
        finally:
            conn, self._conn, self._raw, self._listener = self._conn, None, None, None
            self._held = False
            await asyncio.shield(conn.invalidate())
            await conn.close()
