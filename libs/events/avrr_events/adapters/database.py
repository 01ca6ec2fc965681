"""One service's database: an async SQLAlchemy engine on PostgreSQL or SQLite.

The URL decides the adapter (``postgresql+asyncpg://`` for the real stack,
``sqlite+aiosqlite://`` for the embedded default); application code never
asks which one it got.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import asyncpg
from sqlalchemy import MetaData, Table, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from avrr_events import tables
from avrr_events.adapters.postgres import (
    OUTBOX_CHANNEL,
    driver_connection,
    lock_key,
    lock_until_commit,
)

log = logging.getLogger(__name__)

# Failures of the infrastructure rather than of the event or its handler.
UNAVAILABLE = (OperationalError, InterfaceError, ConnectionError, OSError)
# SQLSTATE classes of a server that cannot serve anyone right now: 08 connection
# exception, 53 insufficient resources (too many connections), 57P operator
# intervention (shutting down, crashed, starting up: "cannot connect now").
_AWAY_SQLSTATES = ("08", "53", "57P")

# The transaction of the unit of work running in a task (``Database.unit_of_work``),
# with the task it belongs to: tasks started inside it copy the variable but
# must not use its connection.
_unit: ContextVar[tuple[AsyncConnection, asyncio.Task[Any] | None] | None] = ContextVar(
    "avrr_unit_of_work", default=None
)


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is away, rather than the event or its handler at fault.

    While PostgreSQL shuts down or starts up, asyncpg's refusals (SQLSTATE
    57P01-57P03) reach us as SQLAlchemy's generic DBAPIError, not as an
    OperationalError: without looking at the SQLSTATE a restart of the database
    dead-lettered the healthy events in flight (found by ``make chaos``).
    """
    if isinstance(exc, UNAVAILABLE) or _connection_gone(exc):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    # The asyncpg adapter keeps asyncpg's own error (with its sqlstate) as __cause__.
    driver: BaseException | None = exc.orig
    native = driver.__cause__ if driver is not None and driver.__cause__ is not None else driver
    if isinstance(native, UNAVAILABLE):  # a refused or reset connection, wrapped
        return True
    if native is not None and _connection_gone(native):
        return True
    code = getattr(driver, "pgcode", None)
    return isinstance(code, str) and code.startswith(_AWAY_SQLSTATES)


def deadlocked(exc: BaseException) -> bool:
    """Whether PostgreSQL chose ``exc``'s transaction as the victim of a deadlock (40P01).

    The victim's work is undone whole and the other transaction goes on, so
    running the victim again is safe: the caller may retry what it was doing.
    """
    driver = exc.orig if isinstance(exc, DBAPIError) else None
    return getattr(driver, "pgcode", None) == "40P01"


def _connection_gone(exc: BaseException) -> bool:
    """asyncpg's own word that the server or the connection went away.

    It reaches a route unwrapped when it surfaces outside a SQLAlchemy call
    (a connection lost between statements): by its SQLSTATE (08003, 57P01),
    or, without one, asyncpg's "connection is closed".
    """
    code = getattr(exc, "sqlstate", None)
    if isinstance(code, str) and code.startswith(_AWAY_SQLSTATES):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)


# Held while a database's schema changes (migrations, tables of services without any).
SCHEMA_LOCK = lock_key("avrr-schema")

# The least time between two NOTIFYs of one process that woke other relays (seconds).
NOTIFY_INTERVAL = 0.01


class Database:
    """An engine plus the in-process signal "new events are in the outbox"."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect not in ("postgresql", "sqlite"):
            raise ValueError(f"unsupported database {self.dialect!r}: use PostgreSQL or SQLite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_postgres:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if not self.is_postgres:
            _sqlite_serialised_writes(self.engine)
        self._append_listeners: list[Callable[[], None]] = []
        self._notifier: asyncio.Task[None] | None = None
        self._notify_again = False
        self._parked: list[tuple[AsyncConnection, Any]] = []
        self._parked_max = pool_size

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction, committed when the block ends without error.

        Inside a unit of work it is a savepoint of the unit's transaction: its
        writes commit with the unit, and an error inside it undoes only its own.
        """
        unit = self.unit()
        if unit is not None:
            async with unit.begin_nested():
                yield unit
            return
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection where each statement is its own transaction.

        A command's append is one statement, so running it without BEGIN and
        COMMIT saves two round trips per command. Queries use it too: a read of
        committed state needs no transaction around it, and SQLAlchemy's
        implicit BEGIN and ROLLBACK would double a detail read's round trips.
        Inside a unit of work it is the unit's connection, so that a command
        reads what it has written.
        """
        unit = self.unit()
        if unit is not None:
            yield unit
            return
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncConnection]:
        """One transaction for everything the current task writes until the block ends.

        A command sent with an Idempotency-Key commits its events and the
        response it answers in this one transaction (``http.IdempotencyKeys``),
        so a process killed at any moment leaves either neither (the retry runs
        the command) or both (the retry gets the original response), never an
        effect whose answer is lost. Appends, ``transaction`` and ``autocommit``
        of the same task join it; tasks it starts do not. The outbox relays are
        woken once it has committed.
        """
        if self.unit() is not None:
            raise RuntimeError("a unit of work is already running in this task")
        async with self.engine.begin() as conn:
            held = _unit.set((conn, asyncio.current_task()))
            try:
                yield conn
            finally:
                _unit.reset(held)
        self.appended()
        self.notify_outbox()

    def unit(self) -> AsyncConnection | None:
        """The connection of the unit of work this task runs in, if any, on this database."""
        current = _unit.get()
        if current is None:
            return None
        conn, task = current
        if task is not asyncio.current_task() or conn.engine is not self.engine:
            return None
        return conn

    async def create_schema(self, *extra: MetaData) -> None:
        """Create the shared tables and the given read-model tables if they are missing."""
        await self.create_tables(tables.metadata, *extra)

    async def create_tables(self, *metadatas: MetaData | Table) -> None:
        """Create missing tables, safe when several processes start at once.

        ``create_all`` checks, then creates: two replicas (or four services
        sharing the key database) starting together could both see a table
        missing and one would fail. A transaction-level advisory lock makes
        the check and the creation one step per database.
        """
        async with self.engine.begin() as conn:
            await lock_until_commit(conn, SCHEMA_LOCK)
            for item in metadatas:
                if isinstance(item, Table):
                    await conn.run_sync(item.create, checkfirst=True)
                else:
                    await conn.run_sync(item.create_all)

    def on_append(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after events were committed to this database's outbox."""
        self._append_listeners.append(listener)

    def appended(self) -> None:
        """Tell in-process listeners (the outbox relay) that the outbox has new rows."""
        for listener in self._append_listeners:
            listener()

    @asynccontextmanager
    async def driver(self) -> AsyncIterator[Any]:
        """An asyncpg connection for a hot-path statement outside any transaction (PostgreSQL).

        Taken from the engine's pool once, then kept on a free list of at most
        ``pool_size`` between uses: SQLAlchemy's checkout plus checkin cost ~90 us
        of CPU, as much as an append's own statement. Kept connections count
        against the pool's limits like any checked-out one. A connection whose
        use ended in anything but a PostgreSQL error (lost, cancelled) is
        invalidated instead of kept.
        """
        if self._parked:
            conn, raw = self._parked.pop()
        else:
            conn = await self.engine.connect()
            raw = await driver_connection(conn)
        try:
            yield raw
        except asyncpg.PostgresError:
            await self._park(conn, raw)
            raise
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.invalidate())
                await conn.close()
            raise
        await self._park(conn, raw)

    async def _park(self, conn: AsyncConnection, raw: Any) -> None:
        if len(self._parked) < self._parked_max and not raw.is_closed():
            self._parked.append((conn, raw))
        else:
            await conn.close()

    def notify_outbox(self) -> None:
        """Wake the relays of other processes (LISTEN) after events were committed here.

        An append that commits on its own leaves NOTIFY out of its transaction
        (see ``postgres.append``); this sends it in a transaction of its own,
        with at most one in flight per process: appends committed meanwhile
        are covered by one more NOTIFY when it returns. Relays also poll, so
        a lost NOTIFY only delays publishing. Under a steady stream of appends
        that is at most one NOTIFY per ``NOTIFY_INTERVAL`` per process (a
        NOTIFY per append cost a third of the append's own CPU).
        """
        if not self.is_postgres:
            return
        if self._notifier is not None and not self._notifier.done():
            self._notify_again = True
            return
        self._notify_again = False
        self._notifier = asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        while True:
            try:
                async with self.engine.connect() as conn:
                    raw = await driver_connection(conn)
                    await raw.execute(f"NOTIFY {OUTBOX_CHANNEL}")
            except Exception as exc:  # database away: relays fall back to polling
                log.debug("outbox NOTIFY failed: %s", exc)
                return
            await asyncio.sleep(NOTIFY_INTERVAL)  # appends meanwhile share the next one
            if not self._notify_again:
                return
            self._notify_again = False

    async def dispose(self) -> None:
        notifier, self._notifier = self._notifier, None
        if notifier is not None:
            with contextlib.suppress(Exception):
                await notifier
        parked, self._parked = self._parked, []
        for conn, _ in parked:
            with contextlib.suppress(Exception):
                await conn.close()
        await self.engine.dispose()


def _sqlite_serialised_writes(engine: AsyncEngine) -> None:
    """Make SQLite transactions take the write lock at BEGIN and wait for it.

    pysqlite's deferred transactions fail with "database is locked" when a
    reader upgrades to a writer while another connection writes; BEGIN
    IMMEDIATE plus a busy timeout turns that into an orderly queue. WAL lets
    readers go on while one writer works.
    """
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # The timeout first: switching to WAL takes the write lock, and without a busy
        # timeout a connection opened while another holds it fails at once.
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _begin(conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
