"""Figure 1: the write path, one event per command (event + outbox row in one transaction).

Ours is ``EventStore.append`` on a SQLAlchemy/asyncpg engine; the baseline is
raw asyncpg doing INSERT event + INSERT outbox in one transaction on the same
tables. Each writer appends round-robin to its own streams, tracking their
expected versions, so there are no conflicts: what is measured is the cost of
a successful command. ``pyeventsourcing`` (optional) is its PostgreSQL
application recorder, one stored event per ``insert_events``, on threads.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import secrets
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import asyncpg
from sqlalchemy.engine import make_url

from avrr_events import Database, EventStore
from avrr_events.store import envelope_row
from benchmarks.common import FILLER, envelope

TOPIC = "avrr.bench.append"
STREAMS_PER_WRITER = 50
WARMUP_COMMANDS = 20

Command = Callable[[str, int, int], Awaitable[int]]  # (stream, expected, n) -> new version


async def _run_writers(
    make_command: Callable[[int], Command], writers: int, seconds: float
) -> float:
    """Run ``writers`` tasks appending for ``seconds`` after a warm-up; return commands/s."""
    prefix = secrets.token_hex(3)
    commands = [make_command(w) for w in range(writers)]
    versions: list[dict[str, int]] = [{} for _ in range(writers)]

    async def one(w: int, n: int) -> None:
        stream = f"case-{prefix}-{w}-{n % STREAMS_PER_WRITER}"
        expected = versions[w].get(stream, 0)
        versions[w][stream] = await commands[w](stream, expected, n)

    async def warm(w: int) -> None:
        for n in range(WARMUP_COMMANDS):
            await one(w, n)

    await asyncio.gather(*(warm(w) for w in range(writers)))
    counts = [0] * writers
    deadline = time.perf_counter() + seconds

    async def loop(w: int) -> None:
        n = WARMUP_COMMANDS
        while time.perf_counter() < deadline:
            await one(w, n)
            n += 1
            counts[w] += 1

    start = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in range(writers)))
    return sum(counts) / (time.perf_counter() - start)


async def ours(url: str, writers: int, seconds: float) -> float:
    """``EventStore.append`` of one new envelope per command."""
    db = Database(url, pool_size=max(writers, 2))
    store = EventStore(db, TOPIC)
    try:

        def make(_: int) -> Command:
            async def command(stream: str, expected: int, n: int) -> int:
                return await store.append(stream, expected, [envelope(stream, n)])

            return command

        return await _run_writers(make, writers, seconds)
    finally:
        await db.dispose()


_RAW_EVENT = """
INSERT INTO events
    (event_id, stream_id, version, type, dataversion, subject, source, time, data, meta)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING position
"""
_RAW_OUTBOX = "INSERT INTO outbox (position, topic) VALUES ($1, $2)"


async def raw_asyncpg(dsn: str, writers: int, seconds: float) -> float:
    """Hand-written asyncpg: BEGIN; INSERT event; INSERT outbox row; COMMIT; one connection each."""
    conns = [await asyncpg.connect(dsn) for _ in range(writers)]
    try:

        def make(w: int) -> Command:
            conn = conns[w]

            async def command(stream: str, expected: int, n: int) -> int:
                row = envelope_row(envelope(stream, n))
                async with conn.transaction():
                    position = await conn.fetchval(
                        _RAW_EVENT,
                        row["event_id"],
                        stream,
                        expected + 1,
                        row["type"],
                        row["dataversion"],
                        row["subject"],
                        row["source"],
                        row["time"],
                        json.dumps(row["data"]),
                        json.dumps(row["meta"]),
                    )
                    await conn.execute(_RAW_OUTBOX, position, TOPIC)
                return expected + 1

            return command

        return await _run_writers(make, writers, seconds)
    finally:
        for conn in conns:
            await conn.close()


def pyeventsourcing(url: str, threads: int, seconds: float) -> float:
    """pyeventsourcing's PostgreSQL application recorder, one stored event per insert, threads."""
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    u = make_url(url)
    datastore = PostgresDatastore(
        dbname=str(u.database),
        host=str(u.host),
        port=int(u.port or 5432),
        user=str(u.username),
        password=str(u.password),
        pool_size=threads,
    )
    try:
        recorder = PostgresApplicationRecorder(datastore, events_table_name="pyes_events")
        recorder.create_table()
        state = json.dumps({"text": FILLER * 2, "author": "caseworker"}).encode()
        counts = [0] * threads
        clock = [0.0, 0.0]  # start, deadline: set when every thread has warmed up

        def start_clock() -> None:
            clock[0] = time.perf_counter()
            clock[1] = clock[0] + seconds

        warmed = threading.Barrier(threads, action=start_clock)

        def worker(w: int) -> None:
            streams = [uuid.uuid4() for _ in range(STREAMS_PER_WRITER)]
            versions = [0] * STREAMS_PER_WRITER

            def one(n: int) -> None:
                k = n % STREAMS_PER_WRITER
                versions[k] += 1
                recorder.insert_events(
                    [StoredEvent(streams[k], versions[k], "bench:NoteAdded", state)]
                )

            for n in range(WARMUP_COMMANDS):
                one(n)
            warmed.wait()
            n = WARMUP_COMMANDS
            while time.perf_counter() < clock[1]:
                one(n)
                n += 1
                counts[w] += 1

        with ThreadPoolExecutor(threads) as pool:
            futures = [pool.submit(worker, w) for w in range(threads)]
            for f in futures:
                f.result()
        return sum(counts) / (time.perf_counter() - clock[0])
    finally:
        datastore.close()


def pyeventsourcing_available() -> bool:
    """Whether benchmarks/requirements.txt is installed (``make bench`` installs it)."""
    return all(importlib.util.find_spec(m) for m in ("eventsourcing", "psycopg", "psycopg_pool"))
