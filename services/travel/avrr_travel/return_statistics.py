"""Returns per country of origin, for government subscribers: counts, never people.

Travel owns departures and arrivals, so travel publishes how many returned:
per country of origin, programme, day (UTC) and movement (departed or
arrived), the number of households and of people, on the public topic
``<prefix>.public.returns`` keyed by country. No case, person or booking is in
it, and no consent is needed for it.

Small counts identify people (one household returning to a small country on
one day is someone the authorities can name), so a day's cell is published
only once it holds at least ``AVRR_PUBLIC_MIN_HOUSEHOLDS`` households (5 by
default; statistical offices commonly suppress cells below 3 to 10); below
that it is not published at all. Each published record carries the cell's
running totals as of that moment (a subscriber keeps the latest per country,
programme, day and movement), rendered when it is published, so records
queued close together all carry the latest count.

The tally is updated when travel's consumer reads its own DepartureConfirmed
and ArrivalConfirmed, in the transaction that records them in the inbox, so a
redelivered event is never counted twice.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Column, Date, Integer, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import HandlerContext
from avrr_events.consumer import Reaction, reactions_table
from avrr_events.public import (
    Notice,
    PublicChannel,
    PublicEvent,
    PublicTopics,
    Renderer,
    public_envelope,
    queue,
)
from avrr_travel.movement import ArrivalConfirmed, DepartureConfirmed
from avrr_travel.reactions import SOURCE, movements

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
)


class ReturnsCounted(PublicEvent):
    """Households and people who departed for, or arrived in, one country of origin on one day."""

    event_type = "avrr.public.ReturnsCounted"

    country: str = Field(pattern=r"^[A-Z]{2}$", description="country of origin returned to")
    programme_id: str
    day: date = Field(description="UTC day of the departures or arrivals")
    movement: MovementKind
    households: int = Field(ge=1, description="running total for the day so far")
    people: int = Field(ge=1, description="running total for the day so far")


RETURNS = PublicChannel(
    id="returns",
    address="returns",
    description=(
        "returns per country of origin, programme and day: counts only (no person, no case); "
        "a day's cell is published once it holds enough households not to identify anyone"
    ),
    key="country of origin (ISO 3166-1 alpha-2)",
    events=(ReturnsCounted,),
)


class StatisticsSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    min_households: int = Field(
        default=5,
        ge=1,
        validation_alias=AliasChoices("min_households", "AVRR_PUBLIC_MIN_HOUSEHOLDS"),
        description="a day's cell is published only from this many households on",
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
    stmt = insert(t).values(**cell, day=day, households=1, people=people)
    await ctx.conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.c.country, t.c.programme_id, t.c.day, t.c.movement],
            set_={"households": t.c.households + 1, "people": t.c.people + people},
        )
    )
    notice = {**cell, "day": day.isoformat()}
    await queue(ctx.conn, "returns", ReturnsCounted.event_type, opened.destination_country, notice)


# ------------------------------------------------------------- rendering --


def renderer(_runtime: Any) -> Renderer:
    """The renderer of travel's public counts (reads the threshold from the environment)."""
    minimum = StatisticsSettings().min_households

    async def render(conn: AsyncConnection, notice: Notice) -> Any:
        n = notice.notice
        t = return_counts
        day = date.fromisoformat(n["day"])
        row = (
            await conn.execute(
                select(t.c.households, t.c.people).where(
                    t.c.country == n["country"],
                    t.c.programme_id == n["programme_id"],
                    t.c.day == day,
                    t.c.movement == n["movement"],
                )
            )
        ).first()
        if row is None or row.households < minimum:
            return None  # too few to publish without identifying someone
        event = ReturnsCounted(
            country=n["country"],
            programme_id=n["programme_id"],
            day=day,
            movement=n["movement"],
            households=row.households,
            people=row.people,
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
