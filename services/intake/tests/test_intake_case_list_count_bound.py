"""The case list counts its matches up to a bound (issue 21): exact below it, "at least" at it.

``GET /cases`` used to count every match for ``total``: a phase over a million cases took a
second. It now counts at most ``case_list.COUNT_BOUND`` and then says
``total_is_lower_bound``; the pages themselves keep their order and their cursor walk across
the bound. The rows are written straight into intake's read models (upgraded to head, so with
the revision's index) on PostgreSQL and on SQLite, the embedded default; the route's answer
is checked on both stacks with the bound lowered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from intake_fixtures import Intake, answered, referral
from intake_tokens import bearer
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Database
from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.migrations import service_line, upgrade
from avrr_intake import case_list, read_models
from avrr_intake.main import service
from avrr_intake.reports import report_cases

BOUND = case_list.COUNT_BOUND
HEADQUARTERS = bearer("cw-hq", "caseworker", "*")
START = datetime(2026, 3, 1, 8, tzinfo=UTC)


def _case(n: int, phase: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The case-list row and the report row of case ``n``: three cases share each instant of
    referral, so the order's second key (the case id) decides between them; 2,000 cases
    span four days (a list by phase walks them a day at a time)."""
    return case_rows(f"bound-{n:05d}", START + timedelta(minutes=7 * (n // 3)), phase)


def case_rows(
    case_id: str,
    at: datetime,
    phase: str,
    *,
    office: str = "GT-GUA",
    receiving_office: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``intake_cases`` row and the ``intake_report_cases`` row of a case referred at
    ``at`` to ``office``, in ``phase`` (and handed over to ``receiving_office``), written
    straight into the read models (also test_intake_case_list_office_by_phase)."""
    listed = {
        "case_id": case_id,
        "version": 1,
        "status": "open",
        "office": office,
        "nationality": "HN",
        "host_country": "GT",
        "source": "ngo",
        "household_size": 1,
        "unaccompanied_minor": False,
        "personal_data_erased": False,
        "possible_duplicate": False,
        "referred_at": at,
        "updated_at": at,
        "principal": None,
        "detail": {},
    }
    reported = {
        "case_id": case_id,
        "phase": phase,
        "office": office,
        "receiving_office": receiving_office,
        "host_country": "GT",
        "origin_country": "HN",
        "referred_on": at.date().isoformat(),
        "returnees": 1,
        "state": {"phase": phase, "office": office},
    }
    return listed, reported


@asynccontextmanager
async def database_holding(
    url: str, write: Callable[[AsyncConnection], Awaitable[None]]
) -> AsyncIterator[Database]:
    """Intake's database at ``url`` migrated to head with the rows ``write`` puts in (in
    one transaction); disposed on exit."""
    line = service_line(service)
    assert line is not None
    db = Database(url)
    try:
        await upgrade(db, line)
        async with db.transaction() as conn:
            await write(conn)
        yield db
    finally:
        await db.dispose()


async def _write(conn: AsyncConnection, phases: list[str]) -> None:
    rows = [_case(n, phase) for n, phase in enumerate(phases)]
    await conn.execute(insert(read_models.cases), [listed for listed, _ in rows])
    await conn.execute(insert(report_cases), [reported for _, reported in rows])


def _newest_first(ids: list[str]) -> list[str]:
    """The list's order for the rows of ``_case``: newest minute first, then by case id."""
    return sorted(ids, key=lambda case_id: (-(int(case_id[6:]) // 3), case_id))


async def test_the_count_is_exact_up_to_the_bound_and_at_least_the_bound_past_it(
    database_url_either: str,
) -> None:
    # BOUND counselled cases, BOUND + 1 referred ones, one eligible.
    phases = ["counselled"] * BOUND + ["referred"] * (BOUND + 1) + ["eligible"]
    rows = partial(_write, phases=phases)
    async with database_holding(database_url_either, rows) as db, db.autocommit() as conn:
        for phase, total, more in (
            ("eligible", 1, False),
            ("counselled", BOUND, False),  # exactly the bound: still exact
            ("referred", BOUND, True),  # one past it: "at least"
            ("closed", 0, False),
        ):
            found = await case_list.cases(
                conn, case_list.CaseFilters(phase=phase), offices=None, limit=50
            )
            assert (found.total, found.total_is_lower_bound) == (total, more), phase
        everything = await case_list.cases(conn, case_list.CaseFilters(), offices=None, limit=1)
        assert (everything.total, everything.total_is_lower_bound) == (BOUND, True)

        # Pages of 200 through all BOUND + 1 referred cases: each page says the same
        # bounded total, and the cursor walk gives every case once, in the list's order.
        ids: list[str] = []
        cursor = None
        while True:
            page = await case_list.cases(
                conn,
                case_list.CaseFilters(phase="referred"),
                offices=None,
                limit=200,
                cursor=cursor,
            )
            assert (page.total, page.total_is_lower_bound) == (BOUND, True)
            ids += [row.case_id for row in page.rows]
            cursor = page.next_cursor
            if cursor is None:
                break
        referred = [f"bound-{n:05d}" for n, p in enumerate(phases) if p == "referred"]
        assert ids == _newest_first(referred)

        # Offset paging meets the cursor walk at the bound: the same rows either way.
        referred_only = case_list.CaseFilters(phase="referred")
        at_bound = await case_list.cases(
            conn, referred_only, offices=None, limit=3, offset=BOUND - 1
        )
        assert [row.case_id for row in at_bound.rows] == ids[BOUND - 1 :]
        # The last page counts its own rows past the offset; past the end, the count.
        assert (at_bound.total, at_bound.total_is_lower_bound) == (BOUND, True)
        past = await case_list.cases(conn, referred_only, offices=None, limit=3, offset=BOUND * 5)
        assert (past.rows, past.total, past.total_is_lower_bound) == ([], BOUND, True)
        last = await case_list.cases(conn, referred_only, offices=None, limit=3, offset=BOUND - 2)
        assert len(last.rows) == 3 and last.next_cursor is None
        assert (last.total, last.total_is_lower_bound) == (BOUND, True)


async def _answers_at_a_lowered_bound(intake: Intake, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three cases, the bound lowered to two: the route says "at least two"
    for the three and exactly two for a filter that matches two."""
    monkeypatch.setattr(case_list, "COUNT_BOUND", 2)
    for source in ("ngo", "ngo", "consulate"):
        await intake.open_case(referral(source=source))
    body = answered(await intake.http.get("/cases", headers=HEADQUARTERS, params={"limit": 1}))
    assert (body["total"], body["total_is_lower_bound"]) == (2, True)
    assert len(body["items"]) == 1 and body["next_cursor"] is not None
    exact = answered(
        await intake.http.get("/cases", headers=HEADQUARTERS, params={"source": "ngo"})
    )
    assert (exact["total"], exact["total_is_lower_bound"], len(exact["items"])) == (2, False, 2)


async def test_the_route_says_when_its_total_is_a_lower_bound(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _answers_at_a_lowered_bound(intake, monkeypatch)


async def test_the_route_says_when_its_total_is_a_lower_bound_on_the_embedded_default(
    embedded: tuple[Intake, InProcessBus], monkeypatch: pytest.MonkeyPatch
) -> None:
    await _answers_at_a_lowered_bound(embedded[0], monkeypatch)
