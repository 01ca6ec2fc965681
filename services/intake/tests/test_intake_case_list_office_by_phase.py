"""An office's case list by phase: the cases it holds and those handed over to it, merged in
the list's order (issue 21).

As one office, ``GET /cases?phase=`` walks two indexes per office, the report rows of the
cases it holds and those of the cases handed over to it, and merges them
(``case_list.Walks``). What the office sees must stay what ``handover.belongs_to`` says:
its own cases (also one it handed over to another office), the cases handed over to it
(once, also one it holds itself), nobody else's; in the order ``(referred_at desc,
case_id)`` across pages, by cursor and by offset, with ``total`` bounded as for
headquarters. The rows are written straight into intake's read models (upgraded to head, so
with the revision's indexes) on PostgreSQL and on SQLite, the embedded default; the route
is checked end to end with a hand-over from travel's event on PostgreSQL and Kafka; and
generated cases (hand-overs among them) published through intake's projections, on the
embedded default and on Kafka and PostgreSQL, list in every phase for every scope what
headquarters' list keeps of them by ``handover.case_offices``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from generated_cases import generate, published, published_in_process
from intake_fixtures import Intake, referral
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from test_intake_case_list_count_bound import case_rows, database_holding
from test_intake_office_scoping import GUATEMALA, TAPACHULA, TEGUCIGALPA, arrival, case_ids
from test_intake_report_cells import SCOPES, handed_over

from avrr_events import Database
from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.testing import eventually
from avrr_intake import case_list, handover, read_models
from avrr_intake.reports import report_cases
from avrr_intake.timeline import PHASES

START = datetime(2026, 3, 1, 8, tzinfo=UTC)
PHASE = "arrived"

# (holding office, office it was handed over to or None, phase), one per case: GT-GUA's own
# cases, MX-TAP's handed over to GT-GUA, GT-GUA's handed over to HN-TGU (still GT-GUA's),
# one GT-GUA holds and was handed over to itself, other offices' cases and other phases.
KINDS: list[tuple[str, str | None, str]] = [
    ("GT-GUA", None, PHASE),
    ("MX-TAP", "GT-GUA", PHASE),
    ("GT-GUA", "HN-TGU", PHASE),
    ("MX-TAP", None, PHASE),
    ("MX-TAP", "HN-TGU", PHASE),
    ("GT-GUA", None, "referred"),
    ("MX-TAP", "GT-GUA", "departed"),
    ("GT-GUA", "GT-GUA", PHASE),
]


def _case(n: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """The case-list row, the report row and the hand-over row (or None) of case ``n``: two
    cases share each instant of referral (the case id decides between them), and the cases
    span several days (the list by phase walks them a day at a time)."""
    office, receiving, phase = KINDS[n % len(KINDS)]
    case_id = f"office-{n:04d}"
    at = START + timedelta(hours=5 * (n // 2))
    listed, reported = case_rows(case_id, at, phase, office=office, receiving_office=receiving)
    handed = (
        None
        if receiving is None
        else {"case_id": case_id, "receiving_office": receiving, "handed_over_at": at}
    )
    return listed, reported, handed


CASES = [_case(n) for n in range(len(KINDS) * 40)]


async def _write(conn: AsyncConnection) -> None:
    await conn.execute(insert(read_models.cases), [listed for listed, _, _ in CASES])
    await conn.execute(insert(report_cases), [reported for _, reported, _ in CASES])
    handed = [row for _, _, row in CASES if row is not None]
    await conn.execute(insert(handover.handovers), handed)


def _expected(
    offices: frozenset[str], phase: str | None = PHASE, *, held_only: bool = False
) -> list[str]:
    """What ``belongs_to`` gives ``offices`` (or of the cases they hold only), in the list's
    order (newest first, then case id)."""
    seen = [
        (listed["referred_at"], listed["case_id"])
        for listed, reported, handed in CASES
        if (phase is None or reported["phase"] == phase)
        and (
            listed["office"] in offices
            or (not held_only and handed is not None and handed["receiving_office"] in offices)
        )
    ]
    by_id = sorted(seen, key=lambda seen: seen[1])
    return [case_id for _, case_id in sorted(by_id, key=lambda seen: seen[0], reverse=True)]


async def _by_cursor(
    conn: AsyncConnection,
    filters: case_list.CaseFilters,
    offices: frozenset[str] | None,
    limit: int,
) -> tuple[list[str], set[tuple[int, bool]]]:
    """Every case of the list by cursor, pages of ``limit``; and the totals pages said."""
    ids: list[str] = []
    totals: set[tuple[int, bool]] = set()
    cursor = None
    while True:
        page = await case_list.cases(conn, filters, offices=offices, limit=limit, cursor=cursor)
        ids += [row.case_id for row in page.rows]
        totals.add((page.total, page.total_is_lower_bound))
        cursor = page.next_cursor
        if cursor is None:
            return ids, totals


async def test_an_office_lists_by_phase_its_own_and_its_handed_over_cases_in_order(
    database_url_either: str,
) -> None:
    async with database_holding(database_url_either, _write) as db:
        by_phase = case_list.CaseFilters(phase=PHASE)
        async with db.autocommit() as conn:
            for offices in (
                frozenset({"GT-GUA"}),
                frozenset({"HN-TGU"}),
                frozenset({"MX-TAP"}),
                frozenset({"GT-GUA", "MX-TAP"}),  # a case both hold or receive: once
            ):
                expected = _expected(offices)
                assert len(expected) > 50, offices  # more than one page of the default
                ids, totals = await _by_cursor(conn, by_phase, offices, limit=17)
                assert ids == expected, offices
                assert totals == {(len(expected), False)}, offices
                for offset in (0, 16, 17, len(expected) - 3, len(expected)):
                    page = await case_list.cases(
                        conn, by_phase, offices=offices, limit=17, offset=offset
                    )
                    assert [row.case_id for row in page.rows] == expected[offset : offset + 17]
                    assert (page.total, page.total_is_lower_bound) == (len(expected), False)
                # The count bound holds over the merged walks as over one.
                bounded = await case_list.cases(
                    conn, by_phase, offices=offices, limit=5, count_up_to=len(expected) - 1
                )
                assert (bounded.total, bounded.total_is_lower_bound) == (len(expected) - 1, True)
                exact = await case_list.cases(
                    conn, by_phase, offices=offices, limit=5, count_up_to=len(expected)
                )
                assert (exact.total, exact.total_is_lower_bound) == (len(expected), False)
                # Without a phase, the same scoping over every phase.
                everything, _ = await _by_cursor(conn, case_list.CaseFilters(), offices, limit=50)
                assert everything == _expected(offices, phase=None), offices

            # The office filter within the scoping, and as headquarters: the cases it holds.
            held_by_gt = _expected(frozenset({"GT-GUA"}), held_only=True)
            gt_only = case_list.CaseFilters(phase=PHASE, office="GT-GUA")
            for scope in (frozenset({"GT-GUA"}), frozenset({"GT-GUA", "HN-TGU"}), None):
                ids, totals = await _by_cursor(conn, gt_only, scope, limit=17)
                assert ids == held_by_gt, scope
                assert totals == {(len(held_by_gt), False)}, scope

            # Crossed: an office with no case of its own and none handed over sees none,
            # whatever the phase; one office's list by phase holds no other office's case.
            for phase in (PHASE, "referred", "departed", None):
                filters = case_list.CaseFilters(phase=phase)
                none = await case_list.cases(conn, filters, offices=frozenset({"ES-MAD"}), limit=50)
                assert (none.rows, none.total, none.next_cursor) == ([], 0, None)
            held = {listed["case_id"]: listed["office"] for listed, _, _ in CASES}
            received = {h["case_id"]: h["receiving_office"] for _, _, h in CASES if h}
            ids, _ = await _by_cursor(conn, by_phase, frozenset({"HN-TGU"}), limit=50)
            assert ids and all(received.get(case_id) == "HN-TGU" for case_id in ids)
            assert {held[case_id] for case_id in ids} == {"GT-GUA", "MX-TAP"}


async def test_the_route_lists_by_phase_a_case_handed_over_for_both_offices_only(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    handed = (await intake.open_case(referral(office="GT-GUA")))["case_id"]
    kept = (await intake.open_case(referral(office="GT-GUA")))["case_id"]
    await arrival(intake, kafka_settings, handed, "receiving_office", "HN-TGU")
    http = intake.http

    async def arrived() -> bool:
        return await case_ids(http, TEGUCIGALPA, phase="arrived") == {handed}

    await eventually(arrived, timeout=30)
    # The referring office keeps it, by phase too; the office it was not handed to sees none.
    assert await case_ids(http, GUATEMALA, phase="arrived") == {handed}
    assert await case_ids(http, GUATEMALA, phase="referred") == {kept}
    assert await case_ids(http, TEGUCIGALPA, phase="referred") == set()
    for phase in ("arrived", "referred"):
        assert await case_ids(http, TAPACHULA, phase=phase) == set()


async def _lists_keep_the_scoping(db: Database) -> int:
    """For every phase and every scope of SCOPES (office filter, caller's offices): the list
    by cursor, pages of 7, is headquarters' list of the phase keeping the cases the scope's
    offices hold or received (``handover.case_offices``), in its order. Returns how many
    rows scopes listed only because the case was handed over to them (not vacuous)."""
    received_only = 0
    async with db.autocommit() as conn:
        everything, _ = await _by_cursor(conn, case_list.CaseFilters(), None, limit=200)
        rows_by_phase: dict[str, list[Any]] = {}
        for phase in PHASES:
            rows, cursor = [], None
            while True:
                by_phase = case_list.CaseFilters(phase=phase)
                page = await case_list.cases(conn, by_phase, offices=None, limit=200, cursor=cursor)
                rows += page.rows
                cursor = page.next_cursor
                if cursor is None:
                    break
            if rows:
                rows_by_phase[phase] = rows
        assert {"referred", "arrived"} <= rows_by_phase.keys()
        offices_of = {
            case_id: await handover.case_offices(conn, case_id) or frozenset()
            for case_id in everything
        }
        for listed, rows in rows_by_phase.items():
            for office, offices in SCOPES:
                expected = [
                    row.case_id
                    for row in rows
                    if (office is None or row.office == office)
                    and (offices is None or offices_of[row.case_id] & offices)
                ]
                filters = case_list.CaseFilters(phase=listed, office=office)
                ids, totals = await _by_cursor(conn, filters, offices, limit=7)
                assert ids == expected, (listed, office, offices)
                assert totals == {(len(expected), False)}, (listed, office, offices)
                if offices is not None:
                    held = {row.case_id: row.office for row in rows}
                    received_only += sum(1 for i in ids if held[i] not in offices)
    return received_only


async def test_lists_by_phase_keep_the_scoping_through_the_projections_on_the_embedded_default(
    embedded: tuple[Intake, InProcessBus],
) -> None:
    intake, bus = embedded
    await published_in_process(
        intake.runtime, bus, handed_over(generate(120, seed=2121, prefix="walks"))
    )
    assert await _lists_keep_the_scoping(intake.runtime.db) > 0


async def test_lists_by_phase_keep_the_scoping_through_the_projections_on_kafka_and_postgresql(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    cases = handed_over(generate(60, seed=2122, prefix="walks"))
    await published(intake.runtime, kafka_settings, cases)
    assert await _lists_keep_the_scoping(intake.runtime.db) > 0
