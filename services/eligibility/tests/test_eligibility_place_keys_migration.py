"""eligibility_0004 re-keys the read model's regions by the place rule.

Rows written before held a region's text without accents, case or spaces
("atlantida"); a case cleared to "HN-AT" then had the key "hn-at" and escaped
a suspension of "Atlántida". After the upgrade both are keyed ``AT``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_eligibility.main import service
from avrr_events.testing import across_upgrade

BEFORE_PLACE_KEYS = "eligibility_0003"


async def test_older_region_keys_become_place_keys(database_url_either: str) -> None:
    now = datetime.now(UTC)

    async def written_by_the_older_eligibility(conn: AsyncConnection) -> None:
        """Assessments and a suspension keyed as the older eligibility keyed regions."""
        older = [("c-1", "HN-AT", "hn-at"), ("c-2", "atlantida", "atlantida")]
        older.append(("c-3", "San Pedro  Sula", "san pedro sula"))
        for case_id, region, key in older:
            await conn.execute(
                text(
                    "INSERT INTO eligibility_assessments (case_id, version, office, status,"
                    " nationality, host_country, destination_country, destination_region,"
                    " region_key, household, unaccompanied_children, reasons, priority,"
                    " vulnerabilities, best_interests, due_diligence_reasons,"
                    " destination_suspended, requested_at) VALUES (:case_id, 1, 'GT-GUA',"
                    " 'cleared', 'HN', 'GT', 'HN', :region, :key, '[]', 0, '[]', 0, '{}',"
                    " '{}', '[]', false, :at)"
                ),
                {"case_id": case_id, "region": region, "key": key, "at": now},
            )
        await conn.execute(
            text(
                "INSERT INTO eligibility_suspensions (place, destination_country,"
                " destination_region, region_key, reason, suspended_by, suspended_at)"
                " VALUES ('HN/atlantida', 'HN', 'Atlántida', 'atlantida', 'floods', 's', :at)"
            ),
            {"at": now},
        )

    async def keyed_by_place(conn: AsyncConnection) -> None:
        """Every region key is the place key now."""
        rows = await conn.execute(text("SELECT case_id, region_key FROM eligibility_assessments"))
        keys: dict[str, str] = {str(r.case_id): str(r.region_key) for r in rows}
        assert keys == {"c-1": "AT", "c-2": "AT", "c-3": "san pedro sula"}
        suspended = await conn.scalar(text("SELECT region_key FROM eligibility_suspensions"))
        assert suspended == "AT"

    await across_upgrade(
        database_url_either,
        service,
        before=BEFORE_PLACE_KEYS,
        written=written_by_the_older_eligibility,
        then=keyed_by_place,
    )
