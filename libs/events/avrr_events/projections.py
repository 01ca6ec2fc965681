"""Projections (read models): handlers that write tables, and their rebuild from history.

A projection declares what it does in a table, as the reactions do
(``avrr_events.consumer.reactions_table``): ``handlers`` maps each event class
it follows to the method that writes it, and the event types it follows are
that table's keys. A reader finds which read model an event feeds by looking
for the class in these tables.

A projection is disposable. Its history is the consumer's inbox journal (every
event the service took in, own and foreign, in arrival order), so ``rebuild``
drops its tables, recreates them and replays the journal into them, with a
checkpoint after every batch so an interrupted rebuild resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

from sqlalchemy import MetaData, Row, Select, Table, Text, bindparam, cast, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import tables
from avrr_events.adapters import postgres
from avrr_events.adapters.database import Database, deadlocked
from avrr_events.adapters.prepared import PreparedRead
from avrr_events.envelope import Envelope
from avrr_events.registry import DomainEvent, EventRegistry

# A projection's handler: its own method, taking the connection, the event and its envelope.
ProjectionHandler = Callable[[Any, AsyncConnection, Any, Envelope], Awaitable[None]]


class Projection:
    """A read model: the event types it follows, the tables it owns, and how it applies one.

    A subclass declares ``handlers``, ``{EventClass: method}`` (written after
    the methods in its body), and ``event_types`` follows from the table; one
    that writes every event the same way (a timeline) declares
    ``event_types`` and overrides ``apply`` or ``apply_batch`` instead.

    ``apply`` runs inside the consumer's transaction together with the inbox
    row, so an event changes a read model exactly once.
    """

    name: ClassVar[str]
    event_types: ClassVar[frozenset[str]]
    metadata: ClassVar[MetaData]
    handlers: ClassVar[Mapping[type[DomainEvent], ProjectionHandler]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "handlers" in cls.__dict__ and "event_types" not in cls.__dict__:
            cls.event_types = frozenset(event.event_type for event in cls.handlers)

    async def apply(self, conn: AsyncConnection, event: DomainEvent, envelope: Envelope) -> None:
        """Run the handler the table names for the event's class (none: nothing to write)."""
        handler = self.handlers.get(type(event))
        if handler is not None:
            await handler(self, conn, event, envelope)

    async def apply_batch(
        self, conn: AsyncConnection, items: Sequence[tuple[DomainEvent, Envelope]]
    ) -> None:
        """Apply several events in order; override with set-based writes where speed matters."""
        for event, envelope in items:
            await self.apply(conn, event, envelope)

    @property
    def tables(self) -> list[Table]:
        return list(self.metadata.sorted_tables)


async def insert_from_event(
    conn: AsyncConnection, table: Table, event: DomainEvent, **values: Any
) -> None:
    """Insert a row of ``table`` holding the event's fields its columns are named after,
    and ``values`` (which win over a field of the same name).

    A read model's row is often a copy of the event that created it (a ledger
    entry, a referral, a conflict); naming its columns after the event's fields
    lets the row be written without restating every field.
    """
    fields = event.model_dump(include=set(table.c.keys()) - values.keys())
    await conn.execute(table.insert().values(**fields, **values))


async def page(
    conn: AsyncConnection, query: Select[Any], *, limit: int, offset: int
) -> tuple[list[Any], int]:
    """A page of the rows ``query`` selects, in its order, and how many it selects in all:
    what a read model's list endpoint serves. The total is counted over the same FROM and
    WHERE as the page (``SELECT count(*) FROM ... WHERE ...``), so the two cannot disagree
    on what is listed."""
    counted = query.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)
    total = await conn.scalar(counted)
    rows = await conn.execute(query.limit(limit).offset(offset))
    return list(rows.all()), int(total or 0)


# One prepared read per table and question, built on first use (the tables are module-level).
_CASE_ROWS: dict[Table, PreparedRead] = {}
_CASE_OFFICES: dict[Table, PreparedRead] = {}


async def case_row(conn: AsyncConnection | Database, table: Table, case_id: str) -> Any:
    """The row of one case in a read-model table keyed by case (``tables.case_table``),
    or None before any event of the case reached it. Every detail read asks it: a
    prepared read (``adapters.prepared``), fields by name as on a SQLAlchemy row."""
    read = _CASE_ROWS.get(table)
    if read is None:
        read = _CASE_ROWS[table] = case_rows_read(table)
    return await read.first(conn, case_id=case_id)


def case_rows_read(table: Table, *order: Any) -> PreparedRead:
    """The prepared read of one case's rows of a read-model table, in ``order``: run it
    with ``case_id=``. Made once at module level for a per-case list a detail read shows
    (a case's consents, a movement's travellers)."""
    return PreparedRead(
        select(table).where(table.c.case_id == bindparam("case_id")).order_by(*order)
    )


async def case_office(
    conn: AsyncConnection | Database, table: Table, case_id: str
) -> frozenset[str] | None:
    """The office of a case in a read-model table with an ``office`` column, as office
    scoping asks before every request of the case (empty: none recorded); None: no row.
    Only the office is read, not the whole row the route reads again after."""
    read = _CASE_OFFICES.get(table)
    if read is None:
        read = _CASE_OFFICES[table] = PreparedRead(
            select(table.c.office).where(table.c.case_id == bindparam("case_id"))
        )
    row = await read.first(conn, case_id=case_id)
    if row is None:
        return None
    return frozenset({row.office} if row.office else ())


async def save_checkpoint(conn: AsyncConnection, name: str, position: int) -> None:
    """Record that ``name`` has applied the journal up to ``position`` (upsert, portable)."""
    cp = tables.projection_checkpoints
    result = await conn.execute(update(cp).where(cp.c.name == name).values(position=position))
    if result.rowcount == 0:
        await conn.execute(cp.insert().values(name=name, position=position))


async def save_checkpoints(conn: AsyncConnection, names: Sequence[str], position: int) -> None:
    """Record that each of ``names`` has applied the journal up to ``position``.

    The consumer's every batch: on PostgreSQL one statement for all of its
    projections (``postgres.save_checkpoints``), elsewhere one upsert each.
    """
    if conn.dialect.name == "postgresql":
        await postgres.save_checkpoints(conn, names, position)
        return
    for name in names:
        await save_checkpoint(conn, name, position)


async def load_checkpoint(conn: AsyncConnection, name: str) -> int:
    cp = tables.projection_checkpoints
    value = await conn.scalar(select(cp.c.position).where(cp.c.name == name))
    return int(value or 0)


class ProjectionRunner:
    """Replays a consumer group's journal into projections."""

    def __init__(
        self, db: Database, registry: EventRegistry, consumer: str, *, batch_size: int = 2000
    ) -> None:
        self.db = db
        self.registry = registry
        self.consumer = consumer
        self.batch_size = batch_size

    async def rebuild(self, projection: Projection, *, attempts: int = 5) -> int:
        """Drop and recreate the projection's tables, then replay its whole history into them.

        The running service may be writing the same tables meanwhile: its
        consumer holds a row lock on one table and asks for the next while the
        drop, table by table, holds the next and asks for the first. PostgreSQL
        breaks that deadlock by undoing one of the two; when it undoes the drop,
        the drop waits a moment and runs again (the consumer's transaction has
        finished by then), instead of failing the rebuild.
        """
        for attempt in range(1, attempts + 1):
            try:
                async with self.db.transaction() as conn:
                    await conn.run_sync(projection.metadata.drop_all)
                    await conn.run_sync(projection.metadata.create_all)
                    await save_checkpoint(conn, projection.name, 0)
                break
            except DBAPIError as exc:
                if not deadlocked(exc) or attempt == attempts:
                    raise
                await asyncio.sleep(0.1 * attempt)
        return await self.catch_up(projection)

    async def catch_up(self, projection: Projection) -> int:
        """Apply the journal after the projection's checkpoint; return how many events.

        Each batch is applied and checkpointed in one transaction while the
        next batch is already being read on another connection, so the
        database's reading and the decoding and applying overlap.
        """
        types = sorted(projection.event_types)
        applied = 0
        async with self.db.engine.connect() as conn:
            position = await load_checkpoint(conn, projection.name)
        rows = await self._read(types, position)
        while rows:
            upcoming = asyncio.create_task(self._read(types, rows[-1].id))
            try:
                items = []
                for row in rows:
                    envelope = Envelope.model_validate_json(row.envelope)
                    items.append((self.registry.decode(envelope), envelope))
                async with self.db.transaction() as conn:
                    await projection.apply_batch(conn, items)
                    await save_checkpoint(conn, projection.name, rows[-1].id)
            except BaseException:
                upcoming.cancel()
                with contextlib.suppress(BaseException):
                    await upcoming
                raise
            applied += len(rows)
            rows = await upcoming
        return applied

    async def _read(self, types: list[str], after: int) -> Sequence[Row[Any, Any]]:
        """The next batch of the journal after ``after``: the rows of the projection's types."""
        ib = tables.inbox
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                # As JSON text: pydantic parses and validates it in one pass,
                # several times faster than the driver's json.loads and then
                # validating the dicts (the largest CPU cost of a rebuild).
                select(ib.c.id, cast(ib.c.envelope, Text).label("envelope"))
                .where(ib.c.consumer == self.consumer, ib.c.id > after, ib.c.type.in_(types))
                .order_by(ib.c.id)
                .limit(self.batch_size)
            )
            return result.all()
