"""Rows written before places had keys compare by key after travel_0004.

A suspension of "Atlántida" recorded by the older travel (which compared the
text entered) must hold a movement cleared to "atlantida" or "HN-AT" once the
database is upgraded, and a movement recorded then must be found by a
suspension spelled another way.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events.testing import across_upgrade
from avrr_travel import destinations
from avrr_travel.main import service

BEFORE_PLACE_KEYS = "travel_0003"


async def test_rows_from_before_place_keys_compare_by_key_after_the_upgrade(
    database_url_either: str,
) -> None:
    async def written_by_the_older_travel(conn: AsyncConnection) -> None:
        """Movements and a suspension as the older travel wrote them (regions as entered)."""
        rows = [("case-old-1", "atlantida"), ("case-old-2", "Olancho"), ("case-old-3", None)]
        for case_id, region in rows:
            await conn.execute(
                text(
                    "INSERT INTO travel_movement_destinations (case_id, destination_country,"
                    " destination_region, open, correlation_id)"
                    " VALUES (:case_id, 'HN', :region, :open, :case_id)"
                ),
                {"case_id": case_id, "region": region, "open": True},
            )
        await conn.execute(
            text(
                "INSERT INTO travel_suspended_destinations (destination_key,"
                " destination_country, destination_region, reason, suspended_at)"
                " VALUES ('HN/Atlántida', 'HN', 'Atlántida', 'floods', :at)"
            ),
            {"at": datetime.now(UTC)},
        )

    async def compared_by_key(conn: AsyncConnection) -> None:
        """Suspensions and movements meet whatever the spelling."""
        for spelling in ("HN-AT", "atlantida", " ATLÁNTIDA", "AT"):
            covering = await destinations.suspension_covering(conn, "HN", spelling)
            assert covering == "destination HN/Atlántida suspended: floods", spelling
        assert await destinations.suspension_covering(conn, "HN", "Olancho") is None
        assert await destinations.suspension_covering(conn, "HN", None) is None
        assert await destinations.open_movements_to(conn, "HN", "HN-AT") == ["case-old-1"]
        assert await destinations.open_movements_to(conn, "HN", "olancho") == ["case-old-2"]
        # Its reopening (named as the suspension was) still finds the row.
        await destinations.reopen(conn, "HN", "Atlántida")
        assert await destinations.suspension_covering(conn, "HN", "HN-AT") is None

    await across_upgrade(
        database_url_either,
        service,
        before=BEFORE_PLACE_KEYS,
        written=written_by_the_older_travel,
        then=compared_by_key,
    )
