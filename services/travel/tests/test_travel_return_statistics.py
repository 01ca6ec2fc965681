"""Returns per country for government subscribers (real PostgreSQL): a day is published only
once it is over and only with enough households; a late change republishes it, nothing else
does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from sqlalchemy import select

from avrr_events import Database, public
from avrr_travel.return_statistics import metadata, publish_closed_days, return_counts

DAY = date(2026, 3, 2)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.create_tables(public.metadata, metadata)
    yield database
    await database.dispose()


async def tally(db: Database, day: date, households: int, people: int) -> None:
    """What the consumer's reactions leave in the table after ``households`` departures."""
    t = return_counts
    async with db.transaction() as conn:
        exists = await conn.scalar(select(t.c.households).where(t.c.day == day))
        values = {"households": households, "people": people}
        if exists is None:
            await conn.execute(
                t.insert().values(
                    country="HN",
                    programme_id="mesoamerica-avr",
                    day=day,
                    movement="departed",
                    published_households=0,
                    **values,
                )
            )
        else:
            await conn.execute(t.update().where(t.c.day == day).values(**values))


async def publish(db: Database, today: date) -> list[dict[str, object]]:
    """Run the job as of ``today``; the notices it queued."""
    async with db.transaction() as conn:
        await publish_closed_days(conn, 3, today=today)
        rows = await conn.execute(
            select(public.public_outbox.c.notice).order_by(public.public_outbox.c.id)
        )
        notices = [dict(r.notice) for r in rows]
        await conn.execute(public.public_outbox.delete())
    return notices


async def test_a_day_is_published_once_it_is_over_with_enough_households_and_again_if_it_changes(
    db: Database,
) -> None:
    await tally(db, DAY, households=3, people=7)
    assert await publish(db, today=DAY) == [], "the day is not over: nothing yet"

    [notice] = await publish(db, today=date(2026, 3, 3))
    assert notice == {
        "country": "HN",
        "programme_id": "mesoamerica-avr",
        "day": "2026-03-02",
        "movement": "departed",
        "households": 3,
        "people": 7,
    }
    assert await publish(db, today=date(2026, 3, 4)) == [], "published once"

    await tally(db, DAY, households=4, people=9)  # a departure recorded late for that day
    [correction] = await publish(db, today=date(2026, 3, 4))
    assert (correction["households"], correction["people"]) == (4, 9)


async def test_a_day_with_too_few_households_is_never_published(db: Database) -> None:
    await tally(db, DAY, households=2, people=6)
    assert await publish(db, today=date(2026, 3, 10)) == []
