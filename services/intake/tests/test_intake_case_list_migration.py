"""Cases folded before intake_0009 are listed by region, departure date and movement after it.

A case ticketed to "Atlántida" whose report row was written by the older intake
(no region key, no departure date, no movement status columns) must be found by
the case list under any spelling of the region and be on Honduras' incoming list
once the database is upgraded; its folded state keeps the region for the next event.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events.offices import load_offices
from avrr_events.testing import across_upgrade
from avrr_intake import case_list
from avrr_intake.main import service
from avrr_intake.reports import report_cases
from avrr_intake.timeline import CaseState

BEFORE_CASE_LISTS = "intake_0008"
STATE = CaseState(
    phase="ticketed",
    office="GT-GUA",
    host_country="GT",
    destination_country="HN",
    programme_id="mesoamerica-avr",
    household=[{"person_id": "old-p0", "relationship": "principal", "sex": "f", "age_years": 30}],
    departure_date="2026-02-10",
    movement_status="ticketed",
)


async def written_by_the_older_intake(conn: AsyncConnection) -> None:
    """A case ticketed to Atlántida, its rows as intake_0008's tables held them."""
    state = STATE.model_dump(mode="json")
    state.pop("destination_region")  # the older fold had no such field
    detail = {"return_request": {"destination_country": "HN", "destination_region": "Atlántida"}}
    at = datetime(2026, 1, 5, tzinfo=UTC)
    await conn.execute(
        text(
            "INSERT INTO intake_cases (case_id, version, status, office, nationality,"
            " host_country, source, household_size, unaccompanied_minor,"
            " personal_data_erased, possible_duplicate, referred_at, updated_at, detail)"
            " VALUES ('old-1', 5, 'return_requested', 'GT-GUA', 'HN', 'GT', 'ngo', 1,"
            " false, false, false, :at, :at, :detail)"
        ),
        {"at": at, "detail": json.dumps(detail)},
    )
    await conn.execute(
        text(
            "INSERT INTO intake_report_cases (case_id, phase, office, host_country,"
            " origin_country, programme_id, returnees, state)"
            " VALUES ('old-1', 'ticketed', 'GT-GUA', 'GT', 'HN', 'mesoamerica-avr', 1, :state)"
        ),
        {"state": json.dumps(state)},
    )


async def listed_as_any_case(conn: AsyncConnection) -> None:
    """The case is found by region (every spelling), by departure date, on the incoming list,
    and its folded state holds the region the next event keeps."""
    for spelling in ("HN-AT", "atlantida", " ATLÁNTIDA"):
        filters = case_list.CaseFilters(destination_country="HN", destination_region=spelling)
        found = await case_list.cases(conn, filters, offices=None, limit=10)
        assert [r.case_id for r in found.rows] == ["old-1"], spelling
    dated = case_list.CaseFilters(departure_from=datetime(2026, 2, 10).date())
    assert (await case_list.cases(conn, dated, offices=None, limit=10)).total == 1
    honduras = case_list.receiving_countries(load_offices(), ["HN-TGU"])
    coming = await case_list.incoming(conn, countries=honduras, limit=10)
    assert [r.case_id for r in coming.rows] == ["old-1"]
    kept = await conn.scalar(select(report_cases.c.state))
    assert CaseState.model_validate(kept).destination_region == "Atlántida"


async def test_cases_from_before_the_case_lists_are_listed_after_the_upgrade(
    database_url_either: str,
) -> None:
    await across_upgrade(
        database_url_either,
        service,
        before=BEFORE_CASE_LISTS,
        written=written_by_the_older_intake,
        then=listed_as_any_case,
    )
