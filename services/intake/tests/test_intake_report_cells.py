"""The situational reports summed from their cells equal the reports counted from the case
rows, for every report, over all time, a month or a year (of return, of referral), as
headquarters, as one office (its handed-over cases included) and as several; on the embedded
default and on real Kafka and PostgreSQL; after the upgrade from intake_0015 too; and when
two consumers add to the same cells at once.

The cells (avrr_intake.reports: intake_report_returns, _phases, _disbursed, _withdrawn) are
what a month or a year reads at a million cases (docs/benchmarks.md, issue 21); the scan
(``scan=True``) is the definition they must keep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from generated_cases import (
    PlannedCase,
    envelope,
    generate,
    published,
    published_in_process,
)
from intake_fixtures import Intake
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Database
from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.offices import load_offices
from avrr_events.testing import across_upgrade
from avrr_intake import handover, observed, reports
from avrr_intake.main import service
from avrr_intake.reports import ALL_TIME, Period

# The receiving office that confirms the arrivals in each country of origin it serves (the
# packaged office file); arrivals elsewhere stay confirmed by a partner: no hand-over.
RECEIVING = {"HN": "HN-TGU", "SV": "SV-SAL", "BR": "BR-BSB"}
SCOPES: list[tuple[str | None, frozenset[str] | None]] = [
    (None, None),  # headquarters
    (None, frozenset({"GT-GUA"})),
    (None, frozenset({"HN-TGU"})),  # only handed-over cases
    (None, frozenset({"MX-TAP", "SV-SAL"})),
    (None, frozenset({"PT-LIS", "BR-BSB", "HN-TGU"})),
    ("GT-GUA", None),  # the office filter of headquarters
    ("MX-TAP", frozenset({"MX-TAP", "HN-TGU"})),
]
REPORTS: dict[str, Callable[..., Any]] = {
    "returns": reports.returns,
    "phases": reports.phases,
    "assistance": reports.assistance,
    "withdrawals": reports.withdrawals,
}


def periods() -> list[Period]:
    """All time; months and years of return and of referral; both at once; an empty one."""
    out = [ALL_TIME]
    for year in (2025, 2026):
        whole = (date(year, 1, 1), date(year, 12, 31))
        out += [Period(returned_from=whole[0], returned_to=whole[1])]
        out += [Period(referred_from=whole[0], referred_to=whole[1])]
        for month in (1, 3, 6, 9, 11):
            first = date(year, month, 1)
            last = date(year, month + 1, 1).replace(day=1)
            last = date.fromordinal(last.toordinal() - 1)
            out += [Period(returned_from=first, returned_to=last)]
            out += [Period(referred_from=first, referred_to=last)]
    out += [
        Period(referred_from=date(2025, 1, 1), returned_to=date(2026, 6, 30)),
        Period(returned_from=date(2026, 1, 1)),
        Period(referred_to=date(2025, 6, 30)),
        Period(returned_from=date(2031, 1, 1), returned_to=date(2031, 1, 31)),
    ]
    assert all(p.whole_months() for p in out)
    return out


def handed_over(cases: list[PlannedCase]) -> list[PlannedCase]:
    """The cases, their arrivals in HN, SV, BR confirmed by that country's receiving office."""
    for case in cases:
        office = RECEIVING.get(case.origin)
        for i, e in enumerate(case.events):
            if office and e.type == observed.ArrivalConfirmed.event_type:
                case.events[i] = e.model_copy(update={"data": {**e.data, "confirmer_id": office}})
    return cases


async def cells_equal_the_scan(db: Database) -> int:
    """Every report, scope and period: cells == scan. Returns how many cases were handed
    over to HN-TGU as the cells count them (the scoping is exercised, not vacuous)."""
    async with db.autocommit() as conn:
        for office, offices in SCOPES:
            for period in periods():
                for name, report in REPORTS.items():
                    where = {"office": office, "offices": offices, "period": period}
                    cells = await report(conn, **where)
                    scanned = await report(conn, **where, scan=True)
                    assert cells == scanned, (name, office, offices, period)
        handed = await reports.returns(conn, offices=frozenset({"HN-TGU"}))
    return int(handed["total"]["cases"])


async def test_cells_equal_the_scan_on_the_embedded_default(
    embedded: tuple[Intake, InProcessBus],
) -> None:
    intake, bus = embedded
    cases = handed_over(generate(120, seed=2116, prefix="cells"))
    await published_in_process(intake.runtime, bus, cases)
    expected = sum(1 for c in cases if c.returned and c.origin == "HN")
    assert expected and await cells_equal_the_scan(intake.runtime.db) == expected


async def test_cells_equal_the_scan_on_kafka_and_postgresql(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    cases = handed_over(generate(60, seed=2117, prefix="cells"))
    await published(intake.runtime, kafka_settings, cases)
    expected = sum(1 for c in cases if c.returned and c.origin == "HN")
    assert expected and await cells_equal_the_scan(intake.runtime.db) == expected


async def test_two_consumers_adding_to_the_same_cells_at_once_lose_no_count(
    database_url: str,
) -> None:
    """Two replicas' consumers apply the arrivals of different cases of the same office and
    months at the same moment, each in its own transaction: the cells add both (an upsert
    adds to the count there; a count read and written back would lose one) and neither
    transaction deadlocks (cells in one order)."""
    db = Database(database_url)
    # The consumer applies both projections in the event's transaction.
    projections = (
        reports.SituationalReports(load_offices()),
        handover.CaseHandovers(load_offices()),
    )
    await db.create_schema(reports.metadata, handover.metadata)
    state = {"phase": "departed", "office": "GT-GUA", "destination_country": "HN"}
    arrival = {
        "programme_id": "race",
        "office": "GT-GUA",
        "destination_country": "HN",
        "arrived_at": "2026-03-02T12:00:00+00:00",
        "confirmed_by": "receiving_office",
        "confirmer_id": "HN-TGU",
    }

    async def one_replica(k: int) -> None:
        for i in range(15):
            case_id = f"race-{k}-{i}"
            async with db.transaction() as conn:
                await conn.execute(
                    reports.report_cases.insert().values(
                        case_id=case_id,
                        phase="departed",
                        office="GT-GUA",
                        origin_country="HN",
                        programme_id="race",
                        referred_on="2026-01-05",
                        returnees=0,
                        state={**state, "programme_id": "race"},
                    )
                )
                # The row's cells, as the projection counted them when it wrote the row.
                await reports.add_cells(conn, await reports.cells_of(conn, case_id))
            at = datetime(2026, 3, 2, 12, tzinfo=UTC)
            e = envelope("travel", "ArrivalConfirmed", case_id, at, {"case_id": case_id, **arrival})
            async with db.transaction() as conn:
                for projection in projections:
                    await projection.apply(conn, service.registry.decode(e), e)

    try:
        await asyncio.gather(one_replica(1), one_replica(2))
        january = Period(referred_from=date(2026, 1, 1), referred_to=date(2026, 1, 31))
        async with db.autocommit() as conn:
            for offices in (None, frozenset({"HN-TGU"}), frozenset({"GT-GUA"})):
                for name, report in REPORTS.items():
                    where = {"offices": offices, "period": january}
                    cells = await report(conn, **where)
                    assert cells == await report(conn, **where, scan=True), (name, offices)
            handed = await reports.returns(conn, offices=frozenset({"HN-TGU"}), period=january)
            assert handed["total"]["cases"] == 30
            phases = await reports.phases(conn, period=january)
            assert {p["phase"]: p["cases"] for p in phases["phases"]}["arrived"] == 30
    finally:
        await db.dispose()


# ------------------------------------------------------- upgrade from 0015 --

BEFORE_CELLS = "intake_0015"


async def written_by_intake_0015(conn: AsyncConnection) -> None:
    """Three cases as intake_0015's report tables held them: one of GT-GUA returned to
    Honduras and handed over to HN-TGU, with two travellers, a screening, a disbursement;
    one of MX-TAP withdrawn (the case and a consent); one of GT-GUA still open."""
    cases = [
        ("old-r", "reintegrating", "GT-GUA", "HN", "2026-02", "2026-02-10", "2025-11-03", 2),
        ("old-w", "withdrawn", "MX-TAP", "SV", None, None, "2026-01-20", 1),
        ("old-o", "counselled", "GT-GUA", "BR", None, None, "2026-02-01", 3),
    ]
    for case_id, phase, office, origin, month, returned, referred, size in cases:
        await conn.execute(
            text(
                "INSERT INTO intake_report_cases (case_id, phase, office, host_country,"
                " origin_country, programme_id, returned_month, returned_on, referred_on,"
                " returnees, state) VALUES (:case_id, :phase, :office, 'GT', :origin,"
                " 'arvore', :month, :returned, :referred, :size, '{}')"
            ),
            {
                "case_id": case_id,
                "phase": phase,
                "office": office,
                "origin": origin,
                "month": month,
                "returned": returned,
                "referred": referred,
                "size": size,
            },
        )
    await conn.execute(
        text(
            "INSERT INTO intake_report_people (case_id, person_id, sex, age_group) VALUES"
            " ('old-r', 'p1', 'female', '18-59'), ('old-r', 'p2', 'male', '0-17')"
        )
    )
    await conn.execute(
        text(
            "INSERT INTO intake_report_vulnerabilities (case_id, screened, category) VALUES"
            " ('old-r', 'p2', 'unaccompanied_child')"
        )
    )
    await conn.execute(
        text(
            "INSERT INTO intake_report_assistance (event_id, case_id, programme_id, kind,"
            " currency, amount_minor) VALUES ('e1', 'old-r', 'arvore', 'cash', 'USD', 30000),"
            " ('e2', 'old-r', 'arvore', 'cash', 'USD', 12550)"
        )
    )
    await conn.execute(
        text(
            "INSERT INTO intake_report_withdrawals (event_id, case_id, withdrawn, reason)"
            " VALUES ('e3', 'old-w', 'case', 'changed_mind'),"
            " ('e4', 'old-w', 'data_sharing', 'not_recorded')"
        )
    )
    await conn.execute(
        text(
            "INSERT INTO intake_handovers (case_id, receiving_office, handed_over_at)"
            " VALUES ('old-r', 'HN-TGU', :at)"
        ),
        {"at": datetime(2026, 2, 10, 12, tzinfo=UTC)},
    )


async def counted_from_the_cells(conn: AsyncConnection) -> None:
    """After the upgrade, the cells answer what the scan counts, HN-TGU's handover included."""
    for office, offices in SCOPES:
        for period in periods():
            for name, report in REPORTS.items():
                where = {"office": office, "offices": offices, "period": period}
                cells = await report(conn, **where)
                assert cells == await report(conn, **where, scan=True), (name, offices, period)
    honduras = await reports.returns(conn, offices=frozenset({"HN-TGU"}))
    assert honduras["total"] == {"cases": 1, "returnees": 2}
    assert honduras["returns"]["vulnerability"] == [
        {"value": "unaccompanied_child", "cases": 1, "returnees": 2}
    ]
    money = await reports.assistance(conn, offices=frozenset({"HN-TGU"}))
    assert money["items"][0]["total"] == "425.50" and money["items"][0]["households"] == 1
    gone = await reports.withdrawals(conn, offices=frozenset({"MX-TAP"}))
    assert gone["total"] == {"withdrawals": 2, "cases": 1}
    phases = await reports.phases(conn, offices=frozenset({"GT-GUA"}))
    assert phases["total"] == 2


async def test_reports_of_a_database_from_before_the_cells_are_counted_after_the_upgrade(
    database_url_either: str,
) -> None:
    await across_upgrade(
        database_url_either,
        service,
        before=BEFORE_CELLS,
        written=written_by_intake_0015,
        then=counted_from_the_cells,
    )
