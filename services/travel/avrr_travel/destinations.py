"""Where each movement goes and which destinations are suspended (write-side lookups).

A suspension must hold every open movement to the destination at once, in the
same transaction that records the suspension, and a movement opened while its
destination is suspended must be held from the start. The eventually
consistent read models cannot promise either, so these two tables are kept by
the write path itself: every command and reaction that changes a movement
updates its row in the same transaction as the events it appends. They are
not projections (a rebuild never drops them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    delete,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import postgres
from avrr_travel.movement import Movement

metadata = MetaData()

movement_destinations = Table(
    "travel_movement_destinations",
    metadata,
    Column("case_id", String(100), primary_key=True),
    Column("destination_country", String(2), nullable=False),
    Column("destination_region", String(100), nullable=True),
    Column("open", Boolean, nullable=False),
    # The correlation id of the case flow, so REST commands continue the same trace of events.
    Column("correlation_id", String(200), nullable=False),
)
Index("travel_movement_destinations_idx", movement_destinations.c.destination_country)

suspended_destinations = Table(
    "travel_suspended_destinations",
    metadata,
    Column("destination_key", String(110), primary_key=True),
    Column("destination_country", String(2), nullable=False),
    Column("destination_region", String(100), nullable=True),
    Column("reason", String(1000), nullable=False),
    Column("suspended_at", DateTime(timezone=True), nullable=False),
)


async def serialise(conn: AsyncConnection, country: str) -> None:
    """Take the country's transaction lock (PostgreSQL) before reading or changing its rows.

    Without it, a clearance and a suspension handled at once by two replicas
    would each miss the other's uncommitted row (write skew), and a movement to
    a suspended destination would stay unheld. SQLite already runs one writer
    at a time.
    """
    if conn.dialect.name == "postgresql":
        key = postgres.lock_key(f"avrr.travel.destination:{country}")
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def destination_key(country: str, region: str | None) -> str:
    """``CC`` for a whole country, ``CC/region`` for one region (as eligibility's subjects)."""
    return f"{country}/{region}" if region else country


async def remember(
    conn: AsyncConnection, movement: Movement, correlation_id: str | None = None
) -> None:
    """Keep the movement's row in step with its state (call in the transaction that saved it)."""
    if movement.opened is None:
        return
    t = movement_destinations
    values: dict[str, object] = {"open": movement.is_open}
    if correlation_id is not None:
        values["correlation_id"] = correlation_id
    result = await conn.execute(update(t).where(t.c.case_id == movement.id).values(**values))
    if result.rowcount == 0:
        await conn.execute(
            t.insert().values(
                case_id=movement.id,
                destination_country=movement.opened.destination_country,
                destination_region=movement.opened.destination_region,
                open=movement.is_open,
                correlation_id=correlation_id or movement.id,
            )
        )


async def correlation_of(conn: AsyncConnection, case_id: str) -> str | None:
    t = movement_destinations
    value = await conn.scalar(select(t.c.correlation_id).where(t.c.case_id == case_id))
    return None if value is None else str(value)


async def suspend(
    conn: AsyncConnection, country: str, region: str | None, reason: str, at: datetime
) -> None:
    """Record a suspension (a repeated one keeps its first date and takes the new reason)."""
    t = suspended_destinations
    key = destination_key(country, region)
    result = await conn.execute(
        update(t).where(t.c.destination_key == key).values(reason=reason[:1000])
    )
    if result.rowcount == 0:
        await conn.execute(
            t.insert().values(
                destination_key=key,
                destination_country=country,
                destination_region=region,
                reason=reason[:1000],
                suspended_at=at,
            )
        )


async def reopen(conn: AsyncConnection, country: str, region: str | None) -> None:
    t = suspended_destinations
    await conn.execute(delete(t).where(t.c.destination_key == destination_key(country, region)))


async def suspension_covering(
    conn: AsyncConnection, country: str, region: str | None
) -> str | None:
    """The reason of a suspension that covers a movement to ``country``/``region``, if any.

    A country-wide suspension covers every region; a regional one only its region.
    """
    t = suspended_destinations
    keys = [destination_key(country, None)]
    if region:
        keys.append(destination_key(country, region))
    row = (
        await conn.execute(
            select(t.c.destination_key, t.c.reason)
            .where(t.c.destination_key.in_(keys))
            .order_by(t.c.destination_key)
        )
    ).first()
    return None if row is None else f"destination {row.destination_key} suspended: {row.reason}"


async def open_movements_to(conn: AsyncConnection, country: str, region: str | None) -> list[str]:
    """Case ids of the open movements a suspension of ``country``/``region`` concerns."""
    t = movement_destinations
    stmt = select(t.c.case_id).where(t.c.destination_country == country, t.c.open.is_(True))
    if region:
        stmt = stmt.where(t.c.destination_region == region)
    return [str(r.case_id) for r in await conn.execute(stmt.order_by(t.c.case_id))]
