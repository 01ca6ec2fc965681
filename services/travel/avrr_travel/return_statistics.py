"""Returns per country of origin, for government subscribers: counts, never people.

Travel owns departures and arrivals, so travel publishes how many returned:
per country of origin, programme, day (UTC) and movement (departed or
arrived), the number of households and of people, on the public topic
``<prefix>.public.returns`` keyed by country. No case, person or booking is in
it, and no consent is needed for it.

Counts can identify people in two ways, and both are closed here:

- small counts: one household returning to a small country on one day is
  someone the authorities can name. A cell is published only when it holds
  at least ``AVRR_PUBLIC_MIN_HOUSEHOLDS`` households (5 by default;
  statistical offices commonly suppress cells below 3 to 10), else never;
- increments: a count published as it grows tells, by its timing, which
  departure added one. So a day is published only once it is over (UTC), with
  its final totals, by a periodic job (``AVRR_PUBLIC_RETURNS_INTERVAL``
  seconds, 300 by default; one replica at a time). A departure or arrival
  recorded late for a day already published republishes that day's totals
  (a correction; the record says nothing of which case it was).

The tally is updated when travel's consumer reads its own DepartureConfirmed
and ArrivalConfirmed, in the transaction that records them in the inbox, so a
redelivered event is never counted twice. The job queues a notice with the
totals it publishes and notes them as published in one transaction.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import AliasChoices, Field
from sqlalchemy import Column, Date, Integer, MetaData, String, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import HandlerContext, small_cells
from avrr_events.consumer import Reaction, reactions_table
from avrr_events.env_settings import EnvironmentSettings
from avrr_events.periodic import PeriodicJob
from avrr_events.public import (
    Notice,
    PublicChannel,
    PublicEvent,
    PublicTopics,
    Renderer,
    public_envelope,
    queue,
)
from avrr_travel.movement import SOURCE, ArrivalConfirmed, DepartureConfirmed
from avrr_travel.reactions import movements

MovementKind = Literal["departed", "arrived"]

metadata = MetaData()

return_counts = Table(
    "travel_return_counts",
    metadata,
    Column("country", String(2), primary_key=True),
    Column("programme_id", String(100), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("movement", String(10), primary_key=True),
    Column("households", Integer, nullable=False),
    Column("people", Integer, nullable=False),
    # The households count last queued for publication (0: never published).
    Column("published_households", Integer, nullable=False),
)


class ReturnsCounted(PublicEvent):
    """Households and people who departed for, or arrived in, one country of origin on one day."""

    event_type = "avrr.public.ReturnsCounted"

    country: str = Field(pattern=r"^[A-Z]{2}$", description="country of origin returned to")
    programme_id: str
    day: date = Field(description="UTC day of the departures or arrivals")
    movement: MovementKind
    households: int = Field(ge=1, description="the day's total")
    people: int = Field(ge=1, description="the day's total")


RETURNS = PublicChannel(
    id="returns",
    address="returns",
    description=(
        "returns per country of origin, programme and day: counts only (no person, no case); "
        "a day is published once it is over, and only cells with enough households not to "
        "identify anyone; a later record for the same day corrects the earlier one"
    ),
    key="country of origin (ISO 3166-1 alpha-2)",
    events=(ReturnsCounted,),
)


class StatisticsSettings(EnvironmentSettings):
    # The small-cell rule of every count that leaves headquarters (avrr_events.small_cells).
    min_households: int = Field(
        default_factory=small_cells.min_households,
        ge=1,
        validation_alias=AliasChoices("min_households", "AVRR_PUBLIC_MIN_HOUSEHOLDS"),
        description="a day's cell is published only from this many households on",
    )
    interval: float = Field(
        default=300.0,
        gt=0,
        validation_alias=AliasChoices("interval", "AVRR_PUBLIC_RETURNS_INTERVAL"),
        description="seconds between two looks for days to publish",
    )


# ---------------------------------------------------------------- tally --


async def count_departure(ctx: HandlerContext, event: DepartureConfirmed) -> None:
    await _count(ctx, event.case_id, "departed", event.departed_at)


async def count_arrival(ctx: HandlerContext, event: ArrivalConfirmed) -> None:
    await _count(ctx, event.case_id, "arrived", event.arrived_at)


async def _count(ctx: HandlerContext, case_id: str, movement: MovementKind, at: datetime) -> None:
    opened = (await movements(ctx).load(case_id, conn=ctx.conn)).opened
    if opened is None:
        return
    t = return_counts
    day = at.date()
    cell = {
        "country": opened.destination_country,
        "programme_id": opened.programme_id,
        "movement": movement,
    }
    people = len(opened.travellers)
    insert = postgresql.insert if ctx.conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(t).values(**cell, day=day, households=1, people=people, published_households=0)
    await ctx.conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.c.country, t.c.programme_id, t.c.day, t.c.movement],
            set_={"households": t.c.households + 1, "people": t.c.people + people},
        )
    )


# --------------------------------------------------------- publication --


async def publish_closed_days(
    conn: AsyncConnection, minimum: int, today: date | None = None
) -> int:
    """Queue the totals of every day before ``today`` (UTC) that has enough households and
    changed since it was last published; return how many cells were queued."""
    t = return_counts
    today = today or datetime.now(UTC).date()
    due = select(t).where(
        t.c.day < today,
        t.c.households >= minimum,
        t.c.households != t.c.published_households,
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update()
    rows = (await conn.execute(due.order_by(t.c.day, t.c.country))).all()
    for row in rows:
        notice = {
            "country": row.country,
            "programme_id": row.programme_id,
            "day": row.day.isoformat(),
            "movement": row.movement,
            "households": row.households,
            "people": row.people,
        }
        await queue(conn, "returns", ReturnsCounted.event_type, row.country, notice)
        await conn.execute(
            update(t)
            .where(
                t.c.country == row.country,
                t.c.programme_id == row.programme_id,
                t.c.day == row.day,
                t.c.movement == row.movement,
            )
            .values(published_households=row.households)
        )
    return len(rows)


def jobs(runtime: Any) -> list[PeriodicJob]:
    """The job that publishes closed days (a ServiceRuntime's ``jobs``)."""
    settings = StatisticsSettings()

    async def work() -> int:
        async with runtime.db.transaction() as conn:
            return await publish_closed_days(conn, settings.min_households)

    return [PeriodicJob(runtime.db, "public-returns", work, interval=settings.interval)]


# ------------------------------------------------------------- rendering --


def renderer(_runtime: Any) -> Renderer:
    """The renderer of travel's public counts: the totals the job queued, nothing else."""
    minimum = StatisticsSettings().min_households

    async def render(_conn: AsyncConnection, notice: Notice) -> Any:
        n = notice.notice
        if small_cells.too_small(n["households"], minimum):  # raised since it was queued
            return None
        event = ReturnsCounted(
            country=n["country"],
            programme_id=n["programme_id"],
            day=date.fromisoformat(n["day"]),
            movement=n["movement"],
            households=n["households"],
            people=n["people"],
        )
        return public_envelope(
            event,
            event_id=notice.event_id,
            source=SOURCE,
            subject=n["country"],
            time=notice.created_at,
        )

    return render


PUBLIC = PublicTopics(channels=(RETURNS,), renderer=renderer)
REACTIONS: dict[str, list[Reaction]] = reactions_table(
    {DepartureConfirmed: [count_departure], ArrivalConfirmed: [count_arrival]}
)
