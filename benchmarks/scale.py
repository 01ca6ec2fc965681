"""Reads at scale (issue 21): situational reports, the case list and a long timeline over
1,000,000 cases.

``python -m benchmarks.scale`` (and ``python -m benchmarks --only scale``) makes a fresh
PostgreSQL database with intake's tables, COPYs in the read-model rows that intake's
projections would have written for ``BENCH_SCALE_CASES`` generated cases (default
1,000,000): the case list (``intake_cases``), the report tables (``intake_report_*``: one row
per case with its phase, office, programme, host and destination country, day of referral
and, for a quarter of them, day and month of return and the receiving office it was handed
over to (returns to GT, HN, SV; also in ``intake_handovers``); the travellers' sex and age
group; the screenings' vulnerability categories; disbursements; withdrawals; the reports'
cells, counted with ``reports.case_cells``) and the timeline
(one entry per case, the referral, and one case with 500 entries). Referrals spread over
two years (2025-2026), returns 30 to 240 days after them.

It then times intake's own query functions, the SQL the routes run, as headquarters (every
office, no small-cell suppression: the largest report) and as one office (the scoping
with handed-over cases):

- each report (``GET /reports/returns`` in full, by sex and age group, by vulnerability;
  ``/reports/phases``, ``/reports/assistance``, ``/reports/withdrawals``), ``BENCH_SCALE_READS``
  times (default 200) with a random period: a month or a year, of return or of referral
  (``reports.Period``); and a few times over all time, for reference;
- ``GET /cases`` first page (50) filtered by each phase, at random, and without a filter,
  each as headquarters and as one office; ``--no-reports`` times only this and the timeline;
- ``GET /cases/{id}/timeline`` of the case with 500 events, in one page of 500.

The event store is not written: none of these routes reads it (they read the projections).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Database
from avrr_intake import case_list, handover, read_models, reports, timeline
from avrr_intake.timeline import PHASES
from benchmarks.common import database_url, fresh_database
from benchmarks.lifecycle import Line, p50_p99, quantile
from benchmarks.lifecycle import markdown as lifecycle_markdown

TARGET_REPORT_P99 = 0.200  # seconds (issue 21)
TARGET_LIST_P99 = 0.100
TARGET_TIMELINE = 0.050
LIST_PAGE = 50
TIMELINE_EVENTS = 500
ALL_TIME_READS = 5  # an all-time report of a million cases takes seconds: a few suffice
FIRST_DAY = date(2025, 1, 1)
DAYS = 730
# (office, host country); destinations are the countries of origin returned to.
OFFICES = (
    ("MX-TAP", "MX"),
    ("GT-GUA", "GT"),
    ("ES-MAD", "ES"),
    ("PT-LIS", "PT"),
    ("DE-BER", "DE"),
    ("MA-RBA", "MA"),
    ("NE-NIM", "NE"),
    ("LY-TIP", "LY"),
)
ORIGINS = ("HN", "SV", "GT", "VE", "CO", "NG", "SN", "ML", "GN", "CI", "IQ", "AF")
# The office that takes over a case returned to its country (9 in 10: the rest are confirmed
# by a partner), so that one office's reports include cases handed over to it.
RECEIVING = {"GT": "GT-GUA", "HN": "HN-TGU", "SV": "SV-SAL"}
PROGRAMMES = ("AVRR-EU-2025", "AVRR-LATAM", "AVRR-SAHEL", "AVRR-MENA", "AVRR-DE-BMI")
VULNERABILITIES = (
    "victim_of_trafficking",
    "unaccompanied_child",
    "medical_needs",
    "single_parent",
    "elderly",
    "disability",
)
WITHDRAWAL_REASONS = ("changed_mind", "regularised", "family_reasons", "moved_on", "other")
# Phases of the cases not (yet) returned, with their weights; returned ones are arrived on.
OPEN_PHASES = (
    ("referred", 8),
    ("counselled", 6),
    ("return_requested", 5),
    ("eligible", 4),
    ("cleared", 3),
    ("ticketed", 2),
    ("departed", 1),
    ("suspended", 2),
    ("withdrawn", 4),
    ("closed", 2),
)
RETURNED_PHASES = (("arrived", 2), ("reintegrating", 5), ("completed", 3))
STATUS = {"withdrawn": "withdrawn", "closed": "closed", "suspended": "suspended_by_consent"}


@dataclass
class Seeded:
    """What the COPY wrote, and the case with the long timeline."""

    cases: int = 0
    returned: int = 0
    people: int = 0
    screenings: int = 0
    timeline_case: str = ""
    seconds: float = 0.0
    handed_over: int = 0
    # The reports' cells, summed with intake's own reports.case_cells.
    cells: reports.Cells = field(default_factory=Counter)


@dataclass
class Timing:
    name: str
    latencies: list[float] = field(default_factory=list)


def _weighted(choices: tuple[tuple[str, int], ...]) -> tuple[list[str], list[int]]:
    return [c for c, _ in choices], [w for _, w in choices]


def generate(n: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """``n`` cases as the projections would hold them (no personal data in any)."""
    open_phases, open_weights = _weighted(OPEN_PHASES)
    back_phases, back_weights = _weighted(RETURNED_PHASES)
    last = FIRST_DAY + timedelta(days=DAYS - 1)
    for i in range(n):
        office, host = OFFICES[min(int(rng.paretovariate(1.2)) - 1, len(OFFICES) - 1)]
        referred = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        at = datetime(referred.year, referred.month, referred.day, 8, tzinfo=UTC) + timedelta(
            minutes=rng.randrange(600)
        )
        returned: date | None = None
        origin = rng.choice(ORIGINS)
        receiving = None
        if rng.random() < 0.25:
            returned = min(referred + timedelta(days=rng.randrange(30, 240)), last)
            phase = rng.choices(back_phases, back_weights)[0]
            receiving = RECEIVING.get(origin) if rng.random() < 0.9 else None
        else:
            phase = rng.choices(open_phases, open_weights)[0]
        size = rng.choices((1, 2, 3, 4, 5), (45, 20, 15, 12, 8))[0]
        people = []
        for p in range(size):
            age = rng.randrange(18, 70) if p == 0 else rng.randrange(0, 75)
            people.append((f"p-{i:07d}-{p}", rng.choice(("female", "male")), age))
        screened: list[tuple[str, str]] = []
        if rng.random() < 0.3:
            who = rng.choice(people)[0] if rng.random() < 0.7 else "household"
            for category in rng.sample(VULNERABILITIES, rng.choice((1, 1, 2))):
                screened.append((who, category))
        yield {
            "case_id": f"case-{i:07d}",
            "office": office,
            "host": host,
            "origin": origin,
            "receiving": receiving,
            "programme": rng.choice(PROGRAMMES),
            "referred_at": at,
            "returned": returned,
            "phase": phase,
            "people": people,
            "screened": screened,
        }


def _state(case: dict[str, Any]) -> str:
    """The folded CaseState the report row carries (what the next event continues from)."""
    returned = case["returned"]
    return json.dumps(
        {
            "phase": case["phase"],
            "office": case["office"],
            "host_country": case["host"],
            "destination_country": case["origin"],
            "programme_id": case["programme"],
            "household": [
                {"person_id": pid, "sex": sex, "age_years": age, "relationship": "principal"}
                for pid, sex, age in case["people"]
            ],
            "arrived_at": f"{returned.isoformat()}T12:00:00+00:00" if returned else None,
            "events": 12,
        }
    )


async def seed(dsn: str, n: int, rng: random.Random) -> Seeded:
    """COPY the rows of ``n`` generated cases, in batches (a million rows at once is GBs)."""
    seeded = Seeded()
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    batch = 50_000
    try:
        cases = generate(n, rng)
        done = False
        while not done:
            chunk = [c for _, c in zip(range(batch), cases, strict=False)]
            done = len(chunk) < batch
            if chunk:
                await _copy(conn, chunk, rng, seeded)
        seeded.timeline_case = "case-0000000"
        await _long_timeline(conn, seeded.timeline_case, rng)
        await _copy_cells(conn, seeded.cells)
        for table in (
            *reports.CELL_TABLES,
            "intake_handovers",
            "intake_cases",
            "intake_report_cases",
            "intake_report_people",
            "intake_report_vulnerabilities",
            "intake_report_assistance",
            "intake_report_withdrawals",
            "intake_timeline",
        ):
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()
    seeded.seconds = time.perf_counter() - started
    return seeded


async def _copy(
    conn: asyncpg.Connection, chunk: list[dict[str, Any]], rng: random.Random, seeded: Seeded
) -> None:
    listed, rows, people, screened, assistance, withdrawals, entries = [], [], [], [], [], [], []
    handed: list[tuple[str, str, datetime]] = []
    for c in chunk:
        returned: date | None = c["returned"]
        status = STATUS.get(c["phase"], "return_requested" if returned else "open")
        listed.append(
            (c["case_id"], 3, status, c["office"], c["origin"], c["host"], "ngo",
             len(c["people"]), False, False, False, c["referred_at"], c["referred_at"],
             None, "{}")
        )  # fmt: skip
        rows.append(
            (c["case_id"], c["phase"], c["office"], c["host"], c["origin"], c["programme"],
             returned.isoformat()[:7] if returned else None,
             returned.isoformat() if returned else None,
             c["referred_at"].date().isoformat(), c["receiving"], len(c["people"]), _state(c))
        )  # fmt: skip
        if returned is not None and c["receiving"] is not None:
            at = datetime(returned.year, returned.month, returned.day, 12, tzinfo=UTC)
            handed.append((c["case_id"], c["receiving"], at))
        travellers = [(sex, reports.age_group(age)) for _, sex, age in c["people"]]
        for (pid, _, _), (sex, group) in zip(c["people"], travellers, strict=True):
            people.append((c["case_id"], pid, sex, group))
        for who, category in c["screened"]:
            screened.append((c["case_id"], who, category))
        disbursed: list[tuple[str, str, str, int]] = []
        if returned is not None and c["phase"] != "arrived":
            kind = rng.choice(("cash", "in_kind"))
            disbursed.append((c["programme"], kind, "EUR", rng.randrange(20_000, 200_000)))
            assistance.append((f"ev-a-{c['case_id']}", c["case_id"], *disbursed[-1]))
        withdrawn: list[tuple[str, str]] = []
        if c["phase"] == "withdrawn":
            withdrawn.append(("case", rng.choice(WITHDRAWAL_REASONS)))
            withdrawals.append((f"ev-w-{c['case_id']}", c["case_id"], *withdrawn[-1]))
        report_row = dict(zip(REPORT_COLUMNS, rows[-1], strict=True))
        categories = [category for _, category in c["screened"]]
        cells = reports.case_cells(report_row, travellers, categories, disbursed, withdrawn)
        seeded.cells.update(cells)
        entries.append(
            (f"ev-r-{c['case_id']}", c["case_id"], c["referred_at"], "intake",
             "avrr.intake.ReferralReceived", "caseworker-1", "Referral received", "{}")
        )  # fmt: skip
    await conn.copy_records_to_table(
        "intake_cases",
        records=listed,
        columns=[
            "case_id", "version", "status", "office", "nationality", "host_country", "source",
            "household_size", "unaccompanied_minor", "personal_data_erased",
            "possible_duplicate", "referred_at", "updated_at", "principal", "detail",
        ],
    )  # fmt: skip
    await conn.copy_records_to_table("intake_report_cases", records=rows, columns=REPORT_COLUMNS)
    await conn.copy_records_to_table(
        "intake_report_people", records=people, columns=["case_id", "person_id", "sex", "age_group"]
    )
    await conn.copy_records_to_table(
        "intake_report_vulnerabilities",
        records=screened,
        columns=["case_id", "screened", "category"],
    )
    await conn.copy_records_to_table(
        "intake_report_assistance",
        records=assistance,
        columns=["event_id", "case_id", "programme_id", "kind", "currency", "amount_minor"],
    )
    await conn.copy_records_to_table(
        "intake_report_withdrawals",
        records=withdrawals,
        columns=["event_id", "case_id", "withdrawn", "reason"],
    )
    await conn.copy_records_to_table("intake_timeline", records=entries, columns=TIMELINE_COLUMNS)
    await conn.copy_records_to_table(
        "intake_handovers",
        records=handed,
        columns=["case_id", "receiving_office", "handed_over_at"],
    )
    seeded.handed_over += len(handed)
    seeded.cases += len(chunk)
    seeded.returned += sum(1 for c in chunk if c["returned"] is not None)
    seeded.people += len(people)
    seeded.screenings += len(screened)


REPORT_COLUMNS = [
    "case_id", "phase", "office", "host_country", "origin_country", "programme_id",
    "returned_month", "returned_on", "referred_on", "receiving_office", "returnees", "state",
]  # fmt: skip
TIMELINE_COLUMNS = [
    "event_id", "case_id", "occurred_at", "service", "event_type", "actor", "summary", "facts",
]  # fmt: skip


async def _copy_cells(conn: asyncpg.Connection, cells: reports.Cells) -> None:
    """The reports' cells, as the projection would have added them up."""
    rows: dict[reports.Cell, Counter[str]] = {}
    for (cell, count), n in cells.items():
        rows.setdefault(cell, Counter())[count] += n
    for name, table in reports.CELL_TABLES.items():
        keys = [column.name for column in table.primary_key.columns]
        counts = [column.name for column in table.columns if not column.primary_key]
        await conn.copy_records_to_table(
            name,
            records=[
                (*key, *(changes[count] for count in counts))
                for (of, key), changes in rows.items()
                if of == name
            ],
            columns=[*keys, *counts],
        )


async def _long_timeline(conn: asyncpg.Connection, case_id: str, rng: random.Random) -> None:
    """The events of one long case after its referral: monitoring visits, notes, disbursements."""
    start = datetime(2025, 1, 1, 9, tzinfo=UTC)
    kinds = (
        ("reintegration", "avrr.reintegration.MonitoringVisitRecorded", "Monitoring visit"),
        ("intake", "avrr.intake.NoteAdded", "Note added"),
        ("reintegration", "avrr.reintegration.AssistanceDisbursed", "Assistance disbursed"),
    )
    entries = []
    for k in range(1, TIMELINE_EVENTS):
        service, kind, summary = rng.choice(kinds)
        facts = json.dumps({"visit": k, "programme_id": "AVRR-LATAM"})
        entries.append(
            (f"ev-long-{k}", case_id, start + timedelta(hours=k), service, kind,
             "caseworker-2", f"{summary} ({k})", facts)
        )  # fmt: skip
    await conn.copy_records_to_table("intake_timeline", records=entries, columns=TIMELINE_COLUMNS)


# -------------------------------------------------------------- measuring --


def random_period(rng: random.Random) -> tuple[str, reports.Period]:
    """A month or a year (calendar), of return or of referral."""
    year = rng.choice((2025, 2026))
    if rng.random() < 0.5:
        month = rng.randrange(1, 13)
        first = date(year, month, 1)
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        span = "month"
    else:
        first, last, span = date(year, 1, 1), date(year, 12, 31), "year"
    if rng.random() < 0.5:
        return f"{span} of return", reports.Period(returned_from=first, returned_to=last)
    return f"{span} of referral", reports.Period(referred_from=first, referred_to=last)


# The six reports as the routes call them (returns: all dimensions, then the two slow ones).
REPORTS: dict[str, Callable[..., Awaitable[Any]]] = {
    "returns, every dimension": reports.returns,
    "returns by sex and age group": partial(reports.returns, by=("sex", "age_group")),
    "returns by vulnerability": partial(reports.returns, by=("vulnerability",)),
    "phases": reports.phases,
    "assistance": reports.assistance,
    "withdrawals": reports.withdrawals,
}


async def _timed(db: Database, read: Callable[[AsyncConnection], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    async with db.autocommit() as conn:
        await read(conn)
    return time.perf_counter() - started


async def measure(
    db: Database, seeded: Seeded, reads: int, *, with_reports: bool = True
) -> tuple[list[Timing], list[Timing]]:
    """(ranged timings, all-time timings) per report (none without ``with_reports``); then
    the case list and the timeline."""
    rng = random.Random(21)
    ranged: list[Timing] = []
    all_time: list[Timing] = []
    one_office = frozenset({OFFICES[1][0]})
    if with_reports:
        await _cells_equal_the_scan(db, one_office)
    for name, query in REPORTS.items() if with_reports else ():
        say(f"scale: {name}: {reads} periods, {ALL_TIME_READS} all time")
        await _timed(db, partial(query, period=reports.ALL_TIME))  # untimed: warm the pages
        timing = Timing(f"{name}, a month or a year")
        office = Timing(f"{name}, one office, a month or a year")
        for i in range(reads):
            _, period = random_period(rng)
            timing.latencies.append(await _timed(db, partial(query, period=period)))
            if i % 10 == 0:  # office scoping (with handed-over cases) on a tenth of them
                scoped = partial(query, offices=one_office, period=period)
                office.latencies.append(await _timed(db, scoped))
        ranged += [timing, office]
        whole = Timing(f"{name}, all time")
        for _ in range(ALL_TIME_READS):
            whole.latencies.append(await _timed(db, partial(query, period=reports.ALL_TIME)))
        all_time.append(whole)
    say(f"scale: GET /cases first page by phase and without, {reads} times")
    listing = Timing("GET /cases first page (50), filtered by phase")
    scoped_list = Timing("GET /cases first page (50), one office, filtered by phase")
    unfiltered = Timing("GET /cases first page (50), no filter")
    scoped_unfiltered = Timing("GET /cases first page (50), one office, no filter")
    everything = case_list.CaseFilters()
    for _ in range(reads):
        # Each as headquarters and as one office (its handed-over cases too, as the route
        # scopes it), every time: a p99 of a tenth of 200 reads would be their largest.
        filters = case_list.CaseFilters(phase=rng.choice(PHASES))
        for timing, chosen, offices in (
            (listing, filters, None),
            (scoped_list, filters, one_office),
            (unfiltered, everything, None),
            (scoped_unfiltered, everything, one_office),
        ):
            first = partial(case_list.cases, filters=chosen, offices=offices, limit=LIST_PAGE)
            timing.latencies.append(await _timed(db, first))
    say(f"scale: the timeline of a case with {TIMELINE_EVENTS} events, {reads} times")
    long = Timing(f"GET /cases/{{id}}/timeline, {TIMELINE_EVENTS} events in one page")
    for _ in range(reads):
        page = partial(timeline.entries, case_id=seeded.timeline_case, limit=500, offset=0)
        long.latencies.append(await _timed(db, page))
    return ranged, [*all_time, listing, scoped_list, unfiltered, scoped_unfiltered, long]


async def _cells_equal_the_scan(db: Database, one: frozenset[str]) -> None:
    """Before timing: each report summed from the cells equals the scan of the case rows, as
    headquarters and as one office (its handed-over cases included), over all time, a month
    and a year."""
    month = reports.Period(returned_from=date(2026, 3, 1), returned_to=date(2026, 3, 31))
    year = reports.Period(referred_from=date(2025, 1, 1), referred_to=date(2025, 12, 31))
    async with db.autocommit() as conn:
        for name in ("returns, every dimension", "phases", "assistance", "withdrawals"):
            query = REPORTS[name]
            for offices, period in (
                (None, reports.ALL_TIME),
                (one, reports.ALL_TIME),
                (one, month),
                (None, year),
            ):
                say(f"scale: {name}: cells against the scan, offices {offices}, {period}")
                cells = await query(conn, offices=offices, period=period)
                scanned = await query(conn, offices=offices, period=period, scan=True)
                assert cells == scanned, f"{name}: the cells differ from the scan ({offices})"


def lines(seeded: Seeded, ranged: list[Timing], other: list[Timing]) -> list[Line]:
    out = [
        Line(
            f"scale: {seeded.cases:,} cases ({seeded.returned:,} returned, {seeded.people:,} "
            f"people, {seeded.screenings:,} screenings, {seeded.handed_over:,} handed over) "
            "COPied in",
            f"{seeded.seconds:,.0f} s",
        )
    ]
    for t in ranged:
        p99 = quantile(t.latencies, 0.99)
        out.append(
            Line(
                f"report {t.name}: p50 / p99",
                p50_p99(t.latencies),
                f"p99 < {TARGET_REPORT_P99 * 1000:.0f} ms",
                p99 < TARGET_REPORT_P99,
            )
        )
    for t in other:
        p99 = quantile(t.latencies, 0.99)
        if t.name.startswith("GET /cases first"):
            target, met = f"p99 < {TARGET_LIST_P99 * 1000:.0f} ms", p99 < TARGET_LIST_P99
        elif "timeline" in t.name:
            target, met = f"< {TARGET_TIMELINE * 1000:.0f} ms", p99 < TARGET_TIMELINE
        else:
            target, met = "- (reference)", None
        out.append(Line(f"{t.name}: p50 / p99", p50_p99(t.latencies), target, met))
    return out


def markdown(rows: list[Line]) -> str:
    """The lifecycle's table of lines, headed as this figure's."""
    return lifecycle_markdown(rows).replace("lifecycle figure", "scale figure", 1)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def measured(size: int, reads: int, *, with_reports: bool = True) -> list[Line]:
    """Seed ``size`` cases on a fresh database, measure, drop the database."""
    rng = random.Random(2021)
    async with fresh_database(database_url()) as bench:
        db = Database(bench.url)
        try:
            await db.create_schema(
                read_models.metadata, handover.metadata, reports.metadata, timeline.metadata
            )
            say(f"scale: COPYing {size:,} cases into {bench.name}")
            seeded = await seed(bench.dsn, size, rng)
            say(f"scale: seeded in {seeded.seconds:,.0f} s")
            ranged, other = await measure(db, seeded, reads, with_reports=with_reports)
            return lines(seeded, ranged, other)
        finally:
            await db.dispose()


async def run(*, quick: bool = False) -> str:
    """The scale lines as a markdown table, for ``python -m benchmarks``."""
    size = int(os.environ.get("BENCH_SCALE_CASES", 20_000 if quick else 1_000_000))
    reads = int(os.environ.get("BENCH_SCALE_READS", 50 if quick else 200))
    return markdown(await measured(size, reads))


async def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__)
    env = os.environ
    p.add_argument("--cases", type=int, default=int(env.get("BENCH_SCALE_CASES", 1_000_000)))
    p.add_argument("--reads", type=int, default=int(env.get("BENCH_SCALE_READS", 200)))
    p.add_argument(
        "--no-reports",
        action="store_true",
        help="time the case list and the timeline only (the reports take most of a run)",
    )
    args = p.parse_args(argv)
    print(markdown(await measured(args.cases, args.reads, with_reports=not args.no_reports)))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
