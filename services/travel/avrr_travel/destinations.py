"""Where each movement goes and which destinations are suspended (write-side lookups).

A suspension must hold every open movement to the destination at once, in the
same transaction that records the suspension, and a movement opened while its
destination is suspended must be held from the start. The eventually
consistent read models cannot promise either, so these two tables are kept by
the write path itself: every command and reaction that changes a movement
updates its row in the same transaction as the events it appends. They are
not projections (a rebuild never drops them).

Places are compared by their key (``avrr_events.places``: the ISO 3166-2 code,
or the canonical text of a region no code names), never by the text entered,
so "Atlántida", "atlantida" and "HN-AT" are one region here as in eligibility.
Each row keeps the text entered for display and its ``region_key`` to compare.
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
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from avrr_events.adapters import postgres
from avrr_events.places import Place, place
from avrr_events.tables import case_table, destination_columns
from avrr_travel.movement import Movement

metadata = MetaData()

movement_destinations = case_table(
    "travel_movement_destinations",
    metadata,
    *destination_columns(),
    Column("open", Boolean, nullable=False),
    # No longer read: commands correlate by the case id (avrr_events.commands); rows opened
    # before that hold the upstream correlation. Dropping it needs a migration.
    Column("correlation_id", String(200), nullable=False),
)
Index("travel_movement_destinations_idx", movement_destinations.c.destination_country)
Index(
    "travel_movement_destinations_place_idx",
    movement_destinations.c.destination_country,
    movement_destinations.c.region_key,
)

suspended_destinations = Table(
    "travel_suspended_destinations",
    metadata,
    # The suspension as eligibility recorded it: ``CC`` or ``CC/<region as entered>``
    # (its reopening names the same text). Two spellings of one region may both be
    # suspended (recorded before places had keys): the region stays suspended until
    # both are reopened.
    Column("destination_key", String(110), primary_key=True),
    *destination_columns(),
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
    await postgres.lock_until_commit(conn, postgres.lock_key(f"avrr.travel.destination:{country}"))


def suspension_id(country: str, region: str | None) -> str:
    """A suspension's row: ``CC`` or ``CC/<region as entered>`` (never compared as a place)."""
    return f"{country}/{region}" if region else country


async def remember(conn: AsyncConnection, movement: Movement) -> None:
    """Keep the movement's row in step with its state (call in the transaction that saved it)."""
    if movement.opened is None:
        return
    t = movement_destinations
    where = place(movement.opened.destination_country, movement.opened.destination_region)
    # The destination too: a reopened case's movement opens again, perhaps elsewhere.
    row = {
        "destination_country": where.country,
        "destination_region": movement.opened.destination_region,
        "region_key": where.region_key,
        "open": movement.is_open,
    }
    result = await conn.execute(update(t).where(t.c.case_id == movement.id).values(**row))
    if result.rowcount == 0:
        await conn.execute(
            t.insert().values(case_id=movement.id, correlation_id=movement.id, **row)
        )


async def suspend(
    conn: AsyncConnection, country: str, region: str | None, reason: str, at: datetime
) -> None:
    """Record a suspension (a repeated one keeps its first date and takes the new reason)."""
    t = suspended_destinations
    key = suspension_id(country, region)
    result = await conn.execute(
        update(t).where(t.c.destination_key == key).values(reason=reason[:1000])
    )
    if result.rowcount == 0:
        await conn.execute(
            t.insert().values(
                destination_key=key,
                destination_country=country,
                destination_region=region,
                region_key=place(country, region).region_key,
                reason=reason[:1000],
                suspended_at=at,
            )
        )


async def reopen(conn: AsyncConnection, country: str, region: str | None) -> None:
    t = suspended_destinations
    await conn.execute(delete(t).where(t.c.destination_key == suspension_id(country, region)))


async def suspension_covering(
    conn: AsyncConnection, country: str, region: str | None
) -> str | None:
    """The reason of a suspension that covers a movement to ``country``/``region``, if any.

    A country-wide suspension covers every region; a regional one only its region,
    however either was spelled.
    """
    t = suspended_destinations
    where = place(country, region)
    covering: ColumnElement[bool] = t.c.region_key.is_(None)
    if where.region_key is not None:
        covering = or_(covering, t.c.region_key == where.region_key)
    row = (
        await conn.execute(
            select(t.c.destination_country, t.c.destination_region, t.c.reason)
            .where(t.c.destination_country == where.country, covering)
            .order_by(t.c.region_key.is_not(None), t.c.destination_key)
        )
    ).first()
    if row is None:
        return None
    return held_reason(place(row.destination_country, row.destination_region), row.reason)


def held_reason(suspended: Place, reason: str) -> str:
    """Why a movement is held: the place as the supervisor entered it, and their reason."""
    return f"destination {suspended.label} suspended: {reason[:1000]}"


async def open_movements_to(conn: AsyncConnection, country: str, region: str | None) -> list[str]:
    """Case ids of the open movements a suspension of ``country``/``region`` concerns
    (however their regions were spelled)."""
    t = movement_destinations
    where = place(country, region)
    stmt = select(t.c.case_id).where(t.c.destination_country == where.country, t.c.open.is_(True))
    if where.region_key is not None:
        stmt = stmt.where(t.c.region_key == where.region_key)
    return [str(r.case_id) for r in await conn.execute(stmt.order_by(t.c.case_id))]
