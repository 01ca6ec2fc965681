"""Situational reports: returns, phases and reintegration assistance, over every service's events.

``SituationalReports`` keeps a small table set that aggregates with plain
``GROUP BY`` (no personal data in any of them, so the report tables can be
handed to analysts as they are):

- ``intake_report_cases``: one row per case: its phase (the same fold as the
  timeline, timeline.CaseState), referral office, host country, country of
  origin (the destination of the return), programme, and the month of
  return once travel confirmed the arrival. The folded state rides along as
  JSON so that the next event continues from it.
- ``intake_report_people``: the household's latest list of travellers (sex
  and age group at referral; the due diligence clearance names who travels).
- ``intake_report_vulnerabilities``: the categories of the latest screening
  of every person (or of the household).
- ``intake_report_assistance``: one row per AssistanceDisbursed, amounts in
  minor units (exact sums on SQLite and PostgreSQL alike).
- ``intake_report_withdrawals``: one row per CaseWithdrawn and ConsentWithdrawn:
  what was withdrawn (``case`` or the consent's purpose) and the coded reason
  (``not_recorded`` for a consent withdrawn before reasons were coded); never the
  note, which stays encrypted in the case's events.

Definitions (services/intake/README.md, "Timeline, time travel, reports"):
a *return* is a case with ArrivalConfirmed; its *returnees* are the people of
its household. By sex and age group a case
counts once per group it has a member in; by vulnerability, once per category
any member was screened with ("none" when no screening found one).
"""

from __future__ import annotations

import csv
import io
from calendar import monthrange
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final, Literal, Protocol
from xml.sax.saxutils import escape

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    distinct,
    exists,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import DomainEvent, Envelope, Projection
from avrr_events.handover import handed_over_to
from avrr_events.offices import OfficeRegistry
from avrr_events.small_cells import SUPPRESSED, suppress, too_small
from avrr_events.tables import Json, case_table
from avrr_events.web.http import invalid_field
from avrr_intake import observed
from avrr_intake.case import CaseWithdrawn, ReturnRequested
from avrr_intake.consent import ConsentWithdrawn
from avrr_intake.handover import handovers
from avrr_intake.household_change import (
    HouseholdAdditionReversed,
    HouseholdMemberAdded,
    HouseholdMemberRemoved,
    HouseholdMemberRestored,
)
from avrr_intake.notices import N_, worded
from avrr_intake.rectification import HouseholdFactsCorrected
from avrr_intake.referral import ReferralReceived
from avrr_intake.timeline import PHASES, TIMELINE_TYPES, CaseState, facts_of, utc

metadata = MetaData()

# The columns the reports group by and the case lists filter on (case_list.py): each one's
# length and how it is read from the folded CaseState. The table declares its columns from
# this list and SituationalReports writes them from it, so a column is added in one place.
_GROUPED: dict[str, tuple[int, Callable[[CaseState], str | None]]] = {
    "phase": (30, lambda s: s.phase),
    "office": (100, lambda s: s.office),
    "host_country": (2, lambda s: s.host_country),
    "origin_country": (2, lambda s: s.destination_country),
    "programme_id": (100, lambda s: s.programme_id),
    "returned_month": (7, lambda s: s.arrived_at[:7] if s.arrived_at else None),
    "returned_on": (10, lambda s: s.arrived_at[:10] if s.arrived_at else None),
    "destination_region": (100, lambda s: s.destination_region_key),
    "departure_date": (10, lambda s: s.departure_date),
    "movement_status": (20, lambda s: s.movement_status),
}

report_cases = case_table(
    "intake_report_cases",
    metadata,
    *(Column(name, String(length), nullable=True) for name, (length, _) in _GROUPED.items()),
    # The day of the referral (ReferralReceived.received_at, UTC): reports of a period.
    Column("referred_on", String(10), nullable=True),
    # The receiving office the case was handed over to (avrr_events.handover, the latest one):
    # the office scoping of the pre-aggregated cells, as intake_handovers scopes the scan.
    Column("receiving_office", String(200), nullable=True),
    Column("returnees", Integer, nullable=False, default=0),
    Column("state", Json, nullable=False),
)
Index("intake_report_cases_month_idx", report_cases.c.returned_month)
Index("intake_report_cases_returned_idx", report_cases.c.returned_on)
Index("intake_report_cases_referred_idx", report_cases.c.referred_on)
Index("intake_report_cases_phase_idx", report_cases.c.phase, report_cases.c.origin_country)
Index(
    "intake_report_cases_incoming_idx",
    report_cases.c.origin_country,
    report_cases.c.movement_status,
    report_cases.c.departure_date,
)

report_people = case_table(
    "intake_report_people",
    metadata,
    Column("person_id", String(200), primary_key=True),
    Column("sex", String(20), nullable=False),
    Column("age_group", String(10), nullable=False),
)

report_vulnerabilities = case_table(
    "intake_report_vulnerabilities",
    metadata,
    Column("screened", String(200), primary_key=True),
    Column("category", String(100), primary_key=True),
)

report_assistance = Table(
    "intake_report_assistance",
    metadata,
    Column("event_id", String(100), primary_key=True),
    Column("case_id", String(100), nullable=False),
    Column("programme_id", String(100), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
)

report_withdrawals = Table(
    "intake_report_withdrawals",
    metadata,
    Column("event_id", String(100), primary_key=True),
    Column("case_id", String(100), nullable=False),
    Column("withdrawn", String(60), nullable=False),
    Column("reason", String(40), nullable=False),
)
Index("intake_report_withdrawals_case_idx", report_withdrawals.c.case_id)
# What a withdrawal row names as withdrawn when the whole case was (else a consent's purpose).
CASE: Final = "case"

# The reports pre-aggregated: each cell table counts the cases (or their disbursements,
# withdrawals, returnees) per SCOPE, the case's referral office, the receiving office it was
# handed over to, its month of return and its month of referral, and the report's own keys;
# the projection keeps them in the transaction that changes a case (the case's old cells
# taken off, its new ones added). A report of all time, or of whole months (of return, of
# referral), as headquarters or as some offices, sums cells instead of scanning a million
# cases: each case sits in one scope, so its office scoping (referral office or receiving
# office among the caller's) is a condition on the scope, and sums of per-case counts
# (households) stay exact. "" stands for a missing office, month or value (primary-key
# columns).
SCOPE: Final = {"office": 100, "receiving_office": 200, "returned_month": 7, "referred_month": 7}


def _cell_table(name: str, keys: Sequence[Column[Any]], counts: Sequence[str]) -> Table:
    """A cell table: SCOPE, then the report's ``keys``, then its ``counts``."""
    return Table(
        name,
        metadata,
        *(Column(column, String(length), primary_key=True) for column, length in SCOPE.items()),
        *keys,
        *(Column(count, BigInteger, nullable=False) for count in counts),
    )


# Returns: (cases, returnees) per dimension and value; TOTAL is the totals' dimension.
report_returns = _cell_table(
    "intake_report_returns",
    [
        Column("dimension", String(20), primary_key=True),
        Column("value", String(100), primary_key=True),
    ],
    ["cases", "returnees"],
)
# Phases: the cases in each phase now.
report_phases = _cell_table(
    "intake_report_phases", [Column("phase", String(30), primary_key=True)], ["cases"]
)
# Assistance: disbursements, households (cases with one) and amount per programme, kind
# and currency.
report_disbursed = _cell_table(
    "intake_report_disbursed",
    [
        Column("programme_id", String(100), primary_key=True),
        Column("kind", String(30), primary_key=True),
        Column("currency", String(3), primary_key=True),
    ],
    ["disbursements", "households", "amount_minor"],
)
# Withdrawals: withdrawals and cases per what was withdrawn and reason; ("", "") counts
# every withdrawal of the case once (the report's total of cases).
report_withdrawn = _cell_table(
    "intake_report_withdrawn",
    [
        Column("withdrawn", String(60), primary_key=True),
        Column("reason", String(40), primary_key=True),
    ],
    ["withdrawals", "cases"],
)
# The offices of headquarters' roll-up: every cell is counted again with these as its scope's
# offices (same months, same keys), so a report of every office reads one office's worth of
# cells, not every office's times every receiving office's. No office id is "*".
HEADQUARTERS: Final = ("*", "*")
CELL_TABLES: Final = {
    t.name: t for t in (report_returns, report_phases, report_disbursed, report_withdrawn)
}
TOTAL: Final = "total"
NONE: Final = "none"  # the vulnerability of a case no screening found one in
ANY: Final = ("", "")  # the withdrawals cell that counts a case's withdrawals whatever they were
# A cell: its table's name and its primary key (SCOPE, then the report's keys); a case's
# contribution counts (cell, count column) -> n.
Cell = tuple[str, tuple[str, ...]]
Cells = Counter[tuple[Cell, str]]

AGE_GROUPS = ("0-17", "18-59", "60+")
DIMENSIONS = (
    "host_country",
    "origin_country",
    "programme",
    "month",
    "sex",
    "age_group",
    "vulnerability",
)
Dimension = Literal[
    "host_country", "origin_country", "programme", "month", "sex", "age_group", "vulnerability"
]
# The events that say who travels: the people's rows are written again from the state.
_HOUSEHOLD_EVENTS = (
    ReferralReceived,
    ReturnRequested,
    observed.DueDiligenceCleared,
    HouseholdMemberRemoved,
    HouseholdMemberRestored,
    HouseholdFactsCorrected,
    observed.TravellerRemoved,
    HouseholdMemberAdded,
    HouseholdAdditionReversed,
)


def age_group(age_years: int) -> str:
    return "0-17" if age_years < 18 else "18-59" if age_years < 60 else "60+"


def scope_of(case: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """The SCOPE of a case's cells, from its report row."""
    return (
        case.get("office") or "",
        case.get("receiving_office") or "",
        case.get("returned_month") or "",
        (case.get("referred_on") or "")[:7],
    )


def case_cells(
    case: Mapping[str, Any],
    people: Iterable[tuple[str, str]] = (),
    categories: Iterable[str] = (),
    disbursed: Iterable[tuple[str, str, str, int]] = (),
    withdrawn: Iterable[tuple[str, str]] = (),
) -> Cells:
    """What one case adds to the cell tables: ``(cell, count column)`` -> n, from its report
    row (the SCOPE columns, ``referred_on``, ``phase``, the grouped columns, ``returnees``),
    its travellers' (sex, age group), its screenings' categories, its disbursements'
    (programme, kind, currency, amount in minor units) and its withdrawals' (what, reason).
    The definitions of ``returns``, ``phases``, ``assistance`` and ``withdrawals``, cell by
    cell: the projection, the benchmark and the tests all count with this."""
    scope = scope_of(case)
    out: Cells = Counter()
    if case.get("phase"):
        out[((report_phases.name, (*scope, case["phase"])), "cases")] += 1
    for key, counts in _disbursed_cells(disbursed).items():
        for count, n in counts.items():
            out[((report_disbursed.name, (*scope, *key)), count)] += n
    for key, counts in _withdrawn_cells(withdrawn).items():
        for count, n in counts.items():
            out[((report_withdrawn.name, (*scope, *key)), count)] += n
    if case.get("returned_month") is not None:
        _returned_cells(out, case, scope, people, categories)
    for (cell, count), n in list(out.items()):  # headquarters' roll-up of the same months
        out[((cell[0], (*HEADQUARTERS, *cell[1][2:])), count)] += n
    return out


def _returned_cells(
    out: Cells,
    case: Mapping[str, Any],
    scope: tuple[str, ...],
    people: Iterable[tuple[str, str]],
    categories: Iterable[str],
) -> None:
    """A returned case's cells of the returns (the definitions in the module docstring)."""
    size = int(case.get("returnees") or 0)

    def add(dimension: str, value: str | None, households: int, people: int) -> None:
        cell = (report_returns.name, (*scope, dimension, value or ""))
        out[(cell, "cases")] += households
        out[(cell, "returnees")] += people

    add(TOTAL, "", 1, size)
    for dimension, column in _CASE_DIMENSIONS.items():
        add(dimension, case.get(column), 1, size)
    travellers = list(people)
    for index, dimension in enumerate(("sex", "age_group")):
        for value, n in Counter(p[index] for p in travellers).items():
            add(dimension, value, 1, n)
    for category in sorted(set(categories)) or [NONE]:
        add("vulnerability", category, 1, size)


def _disbursed_cells(
    disbursed: Iterable[tuple[str, str, str, int]],
) -> dict[tuple[str, ...], Counter[str]]:
    """A case's disbursements per (programme, kind, currency): how many, the amount, and the
    case once as a household."""
    out: dict[tuple[str, ...], Counter[str]] = {}
    for programme_id, kind, currency, minor in disbursed:
        counts = out.setdefault((programme_id, kind, currency), Counter())
        counts["disbursements"] += 1
        counts["amount_minor"] += int(minor)
        counts["households"] = 1
    return out


def _withdrawn_cells(withdrawn: Iterable[tuple[str, str]]) -> dict[tuple[str, ...], Counter[str]]:
    """A case's withdrawals per (what, reason), and all of them under ANY; the case once in
    each."""
    out: dict[tuple[str, ...], Counter[str]] = {}
    for key in withdrawn:
        for cell in (key, ANY):
            counts = out.setdefault(cell, Counter())
            counts["withdrawals"] += 1
            counts["cases"] = 1
    return out


# The dimensions that are a column of the case's report row.
_CASE_DIMENSIONS = {
    "host_country": "host_country",
    "origin_country": "origin_country",
    "programme": "programme_id",
    "month": "returned_month",
}


async def cells_of(conn: AsyncConnection, case_id: str) -> Cells:
    """The case's contribution to the cell tables, as its rows stand now."""
    c = report_cases.c
    row = (await conn.execute(select(report_cases).where(c.case_id == case_id))).mappings().first()
    if row is None:
        return Counter()
    p, v = report_people.c, report_vulnerabilities.c
    a, w = report_assistance.c, report_withdrawals.c
    disbursed = await conn.execute(
        select(a.programme_id, a.kind, a.currency, a.amount_minor).where(a.case_id == case_id)
    )
    withdrawn = await conn.execute(select(w.withdrawn, w.reason).where(w.case_id == case_id))
    people: list[tuple[str, str]] = []
    categories: list[str] = []
    if row["returned_month"] is not None:  # only a return counts its people and screenings
        rows = await conn.execute(select(p.sex, p.age_group).where(p.case_id == case_id))
        people = [(r.sex, r.age_group) for r in rows]
        categories = list(await conn.scalars(select(v.category).where(v.case_id == case_id)))
    return case_cells(
        dict(row),
        people,
        categories,
        [(r.programme_id, r.kind, r.currency, int(r.amount_minor)) for r in disbursed],
        [(r.withdrawn, r.reason) for r in withdrawn],
    )


async def add_cells(conn: AsyncConnection, delta: Cells) -> None:
    """Add ``delta`` to the cells atomically: concurrent projections of other cases (two
    replicas' consumers) add to the same cells, so an upsert adds to what is there and never
    writes a count read before; tables and cells go in one order (sorted) in every
    transaction, so two of them never wait for each other's rows in a cycle."""
    by_cell: dict[Cell, Counter[str]] = {}
    for (cell, count), n in delta.items():
        by_cell.setdefault(cell, Counter())[count] += n
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    for name, table in sorted(CELL_TABLES.items()):
        keys = [column.name for column in table.primary_key.columns]
        counts = [column.name for column in table.columns if not column.primary_key]
        rows = [
            dict(zip(keys, key, strict=True)) | {count: changes[count] for count in counts}
            for (cells_of, key), changes in sorted(by_cell.items())
            if cells_of == name and any(changes.values())
        ]
        if not rows:
            continue
        stmt = insert(table).values(rows)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=list(table.primary_key.columns),
                set_={count: table.c[count] + stmt.excluded[count] for count in counts},
            )
        )


class SituationalReports(Projection):
    """Folds every event of a case into the report tables and their cells."""

    name = "intake_situational_reports"
    event_types = TIMELINE_TYPES
    metadata = metadata

    def __init__(self, offices: OfficeRegistry) -> None:
        # The office registry names the receiving office an arrival hands the case over to,
        # as the hand-over projection (avrr_intake.handover) reads it.
        self.offices = offices

    async def apply(self, conn: AsyncConnection, event: DomainEvent, envelope: Envelope) -> None:
        case_id = getattr(event, "case_id", None)
        if case_id is None:
            return
        c = report_cases.c
        found = (
            (await conn.execute(select(report_cases).where(c.case_id == case_id)))
            .mappings()
            .first()
        )
        row = dict(found) if found is not None else None
        state = CaseState.model_validate(row["state"]) if row else CaseState()
        facts = facts_of(event)
        state.fold(event.event_type, facts, envelope.time)
        values: dict[str, Any] = {name: of(state) for name, (_, of) in _GROUPED.items()}
        values.update(returnees=len(state.household), state=state.model_dump(mode="json"))
        if isinstance(event, ReferralReceived):
            values["referred_on"] = utc(event.received_at).date().isoformat()
        elif isinstance(event, observed.ArrivalConfirmed):
            receiving = handed_over_to(
                event.confirmed_by, event.confirmer_id, event.destination_country, self.offices
            )
            if receiving is not None:  # none keeps the one before, as intake_handovers does
                values["receiving_office"] = receiving
        was = row or {}
        now = {**was, **values}
        if _lists_count(event, was, now):
            before = await cells_of(conn, case_id) if row else Counter()
        else:  # the lists' cells are the same before and after: the row's tell the change
            before = case_cells(was)
        if row is None:
            await conn.execute(report_cases.insert().values(case_id=case_id, **values))
        else:
            await conn.execute(report_cases.update().where(c.case_id == case_id).values(**values))
        if isinstance(event, _HOUSEHOLD_EVENTS):
            p = report_people.c
            await conn.execute(report_people.delete().where(p.case_id == case_id))
            people = [
                {
                    "case_id": case_id,
                    "person_id": m["person_id"],
                    "sex": m["sex"],
                    "age_group": age_group(int(m["age_years"])),
                }
                for m in state.household
            ]
            if people:
                await conn.execute(report_people.insert(), people)
        elif isinstance(event, observed.VulnerabilityAssessed):
            v = report_vulnerabilities.c
            screened = facts.get("person_id") or "household"
            await conn.execute(
                report_vulnerabilities.delete().where(v.case_id == case_id, v.screened == screened)
            )
            categories = state.vulnerabilities.get(screened, [])
            if categories:
                await conn.execute(
                    report_vulnerabilities.insert(),
                    [{"case_id": case_id, "screened": screened, "category": x} for x in categories],
                )
        elif isinstance(event, CaseWithdrawn | ConsentWithdrawn):
            await conn.execute(
                report_withdrawals.insert().values(
                    event_id=envelope.id,
                    case_id=case_id,
                    withdrawn=CASE if isinstance(event, CaseWithdrawn) else event.purpose,
                    reason=event.reason if isinstance(event, CaseWithdrawn) else event.reason_code,
                )
            )
        elif isinstance(event, observed.AssistanceDisbursed):
            minor = int((Decimal(str(facts["amount"])) * 100).to_integral_value())
            await conn.execute(
                report_assistance.insert().values(
                    event_id=envelope.id,
                    case_id=case_id,
                    programme_id=facts["programme_id"],
                    kind=facts["kind"],
                    currency=facts["currency"],
                    amount_minor=minor,
                )
            )
        after = await cells_of(conn, case_id) if _lists_count(event, was, now) else case_cells(now)
        after.subtract(before)
        await add_cells(conn, after)


# The events that write a list a case's cells count (people, screenings, disbursements,
# withdrawals), and the row's columns its returns' cells count besides its scope.
_LIST_EVENTS = (
    *_HOUSEHOLD_EVENTS,
    observed.VulnerabilityAssessed,
    observed.AssistanceDisbursed,
    CaseWithdrawn,
    ConsentWithdrawn,
)
_RETURNS_COLUMNS = ("returnees", *_CASE_DIMENSIONS.values())


def _lists_count(event: DomainEvent, was: Mapping[str, Any], now: Mapping[str, Any]) -> bool:
    """Whether the event may change the cells a case's lists make: it writes one, or it
    moves the case to another scope, or it changes what its returns count. Otherwise (a
    note, a counselling session, most phase changes) the lists' cells are the same before
    and after, and the delta is the row's alone: no list is read."""
    return (
        isinstance(event, _LIST_EVENTS)
        or scope_of(was) != scope_of(now)
        or any(was.get(k) != now.get(k) for k in _RETURNS_COLUMNS)
    )


# ------------------------------------------------------------------ queries --


@dataclass(frozen=True)
class Period:
    """The dates a report covers, both ends included (None: open): the day of return (arrival
    confirmed) and the day of referral. Programme managers ask for a month or a year, and a
    bounded report reads only those cases (indexed columns) instead of every case ever."""

    returned_from: date | None = None
    returned_to: date | None = None
    referred_from: date | None = None
    referred_to: date | None = None

    def __post_init__(self) -> None:
        for start, end in (("returned_from", "returned_to"), ("referred_from", "referred_to")):
            first, last = getattr(self, start), getattr(self, end)
            if first is not None and last is not None and first > last:
                raise invalid_field(end, worded(N_("before %(start)s"), start=start), where="query")

    def conditions(self) -> list[ColumnElement[bool]]:
        """The report rows' conditions: ISO days compare as strings, on SQLite and PostgreSQL."""
        c = report_cases.c
        bounds = (
            (c.returned_on, self.returned_from, self.returned_to),
            (c.referred_on, self.referred_from, self.referred_to),
        )
        where: list[ColumnElement[bool]] = []
        for column, first, last in bounds:
            if first is not None:
                where.append(column >= first.isoformat())
            if last is not None:
                where.append(column <= last.isoformat())
        return where

    def whole_months(self) -> bool:
        """Whether the period is whole months (of return, of referral; or all time): what the
        pre-aggregated returns (per month of return and of referral) answer exactly."""
        firsts = (self.returned_from, self.referred_from)
        lasts = (self.returned_to, self.referred_to)
        return all(d is None or d.day == 1 for d in firsts) and all(
            d is None or d.day == monthrange(d.year, d.month)[1] for d in lasts
        )


ALL_TIME: Final = Period()


def _in_cells(
    table: Table, office: str | None, offices: frozenset[str] | None, period: Period
) -> list[ColumnElement[bool]]:
    """``_office`` on a cell table's SCOPE: the cells of ``office`` (if given), of cases
    referred to one of ``offices`` or handed over to one of them (None: every office), of
    the months of ``period`` (whole months: ``Period.whole_months``)."""
    t = table.c
    if office is None and offices is None:
        where = [t.office == HEADQUARTERS[0], t.receiving_office == HEADQUARTERS[1]]
    else:
        where = [t.office != HEADQUARTERS[0]]
    if office is not None:
        where.append(t.office == office)
    if offices is not None:
        wanted = sorted(offices)
        where.append(or_(t.office.in_(wanted), t.receiving_office.in_(wanted)))
    bounds = (
        (t.returned_month, period.returned_from, period.returned_to),
        (t.referred_month, period.referred_from, period.referred_to),
    )
    for column, first, last in bounds:
        if first is None and last is None:
            continue
        where.append(column != "")  # a case without that day is in no period of it
        if first is not None:
            where.append(column >= first.isoformat()[:7])
        if last is not None:
            where.append(column <= last.isoformat()[:7])
    return where


async def _returns_aggregated(
    conn: AsyncConnection,
    *,
    by: Sequence[str],
    office: str | None,
    offices: frozenset[str] | None,
    period: Period,
) -> dict[str, Any]:
    """``returns`` summed from ``intake_report_returns`` (same rows, same order)."""
    r = report_returns.c
    where = [r.dimension.in_([*by, TOTAL]), *_in_cells(report_returns, office, offices, period)]
    cases = func.sum(r.cases)
    stmt = (
        select(r.dimension, r.value, cases, func.sum(r.returnees))
        .where(*where)
        .group_by(r.dimension, r.value)
        .having(cases > 0)
        .order_by(r.dimension, r.value)
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for dimension, value, n, people in await conn.execute(stmt):
        row = {"value": value or None, "cases": int(n), "returnees": int(people)}
        found.setdefault(dimension, []).append(row)
    total = found.pop(TOTAL, [{"cases": 0, "returnees": 0}])[0]
    out: dict[str, Any] = {}
    for dimension in by:
        rows = found.get(dimension, [])
        if dimension == "vulnerability":  # "none" after the categories, as the scan lists it
            rows = [x for x in rows if x["value"] != NONE] + [x for x in rows if x["value"] == NONE]
        if dimension == "age_group":
            rows.sort(key=lambda x: AGE_GROUPS.index(x["value"]))
        out[dimension] = rows
    return {"returns": out, "total": {"cases": total["cases"], "returnees": total["returnees"]}}


def _office(
    office: str | None, offices: frozenset[str] | None = None, period: Period = ALL_TIME
) -> ColumnElement[bool]:
    """Cases of ``office`` (if given), within ``offices`` (None: every office, headquarters):
    the cases referred to one of them, or handed over to one of them; of ``period``."""
    c = report_cases.c
    conditions = [] if office is None else [c.office == office]
    conditions += period.conditions()
    if offices is not None:
        wanted = sorted(offices)
        handed = select(handovers.c.case_id).where(handovers.c.receiving_office.in_(wanted))
        conditions.append(or_(c.office.in_(wanted), c.case_id.in_(handed)))
    return and_(true(), *conditions)


async def phase_of(conn: AsyncConnection, case_id: str) -> str | None:
    """The phase the case has reached as intake has seen it (None: nothing seen yet)."""
    return await conn.scalar(select(report_cases.c.phase).where(report_cases.c.case_id == case_id))


async def returns(
    conn: AsyncConnection,
    *,
    by: Sequence[str] = DIMENSIONS,
    office: str | None = None,
    offices: frozenset[str] | None = None,
    period: Period = ALL_TIME,
    scan: bool = False,
) -> dict[str, Any]:
    """Returns (cases, returnees) along each requested dimension, and the totals: summed
    from the cells over whole months; else, or with ``scan``, counted from the case rows of
    the period (what the cells must equal)."""
    if period.whole_months() and not scan:
        return await _returns_aggregated(conn, by=by, office=office, offices=offices, period=period)
    c = report_cases.c
    returned = and_(c.returned_month.is_not(None), _office(office, offices, period))
    out: dict[str, Any] = {}
    columns = {
        "host_country": c.host_country,
        "origin_country": c.origin_country,
        "programme": c.programme_id,
        "month": c.returned_month,
    }
    for dimension in by:
        if dimension in columns:
            key = columns[dimension]
            stmt = (
                select(key.label("value"), func.count(), func.coalesce(func.sum(c.returnees), 0))
                .where(returned)
                .group_by(key)
                .order_by(key)
            )
        elif dimension in ("sex", "age_group"):
            p = report_people.c
            key = p.sex if dimension == "sex" else p.age_group
            stmt = (
                select(key.label("value"), func.count(distinct(p.case_id)), func.count())
                .select_from(report_people.join(report_cases, c.case_id == p.case_id))
                .where(returned)
                .group_by(key)
                .order_by(key)
            )
        else:
            v = report_vulnerabilities.c
            # One case per category, whoever in the household was screened with it.
            per_case = (
                select(v.case_id, v.category)
                .distinct()
                .select_from(report_vulnerabilities.join(report_cases, c.case_id == v.case_id))
                .where(returned)
                .subquery()
            )
            joined = per_case.join(report_cases, c.case_id == per_case.c.case_id)
            stmt = (
                select(
                    per_case.c.category.label("value"),
                    func.count(),
                    func.coalesce(func.sum(c.returnees), 0),
                )
                .select_from(joined)
                .group_by(per_case.c.category)
                .order_by(per_case.c.category)
            )
        rows = [
            {"value": r[0], "cases": int(r[1]), "returnees": int(r[2])}
            for r in await conn.execute(stmt)
        ]
        if dimension == "vulnerability":
            v = report_vulnerabilities.c
            # NOT EXISTS, not NOT IN: PostgreSQL plans NOT IN (subquery) as a scan of the
            # screenings per case once they outgrow work_mem (10 minutes at a million cases).
            screened = select(v.case_id).where(v.case_id == c.case_id)
            none = (
                await conn.execute(
                    select(func.count(), func.coalesce(func.sum(c.returnees), 0)).where(
                        returned, ~exists(screened)
                    )
                )
            ).one()
            if none[0]:
                rows.append({"value": "none", "cases": int(none[0]), "returnees": int(none[1])})
        if dimension == "age_group":
            rows.sort(key=lambda r: AGE_GROUPS.index(r["value"]))
        out[dimension] = rows
    total = (
        await conn.execute(
            select(func.count(), func.coalesce(func.sum(c.returnees), 0)).where(returned)
        )
    ).one()
    return {"returns": out, "total": {"cases": int(total[0]), "returnees": int(total[1])}}


async def phases(
    conn: AsyncConnection,
    *,
    office: str | None = None,
    offices: frozenset[str] | None = None,
    period: Period = ALL_TIME,
    scan: bool = False,
) -> dict[str, Any]:
    """How many cases are in each phase now (every phase listed, zeros included): summed
    from the cells over whole months; else, or with ``scan``, counted from the case rows."""
    if period.whole_months() and not scan:
        p = report_phases.c
        stmt = (
            select(p.phase, func.sum(p.cases))
            .where(*_in_cells(report_phases, office, offices, period))
            .group_by(p.phase)
        )
    else:
        stmt = _phases_scanned(office, offices, period)
    counts = {str(phase): int(n) for phase, n in await conn.execute(stmt) if n}
    items = [{"phase": p, "cases": counts.get(p, 0)} for p in PHASES]
    return {"phases": items, "total": sum(counts.values())}


def _phases_scanned(
    office: str | None, offices: frozenset[str] | None, period: Period
) -> Select[Any]:
    c = report_cases.c
    return (
        select(c.phase, func.count())
        .where(c.phase.is_not(None), _office(office, offices, period))
        .group_by(c.phase)
    )


def _amount(minor: int) -> str:
    return f"{Decimal(minor) / 100:.2f}"


async def assistance(
    conn: AsyncConnection,
    *,
    office: str | None = None,
    offices: frozenset[str] | None = None,
    period: Period = ALL_TIME,
    scan: bool = False,
) -> dict[str, Any]:
    """Reintegration assistance disbursed: per programme, kind and currency; cash vs in-kind
    (summed from the cells over whole months; else, or with ``scan``, from the
    disbursements of the period)."""
    if period.whole_months() and not scan:
        d = report_disbursed.c
        n = func.sum(d.disbursements)
        stmt = (
            select(
                d.programme_id,
                d.kind,
                d.currency,
                n,
                func.sum(d.amount_minor),
                func.sum(d.households),
            )
            .where(*_in_cells(report_disbursed, office, offices, period))
            .group_by(d.programme_id, d.kind, d.currency)
            .having(n > 0)
            .order_by(d.programme_id, d.kind, d.currency)
        )
    else:
        stmt = _assistance_scanned(office, offices, period)
    items = []
    by_currency: dict[str, dict[str, int]] = {}
    for programme_id, kind, currency, n, minor, households in await conn.execute(stmt):
        items.append(
            {
                "programme_id": programme_id,
                "kind": kind,
                "currency": currency,
                "disbursements": int(n),
                "households": int(households),
                "total": _amount(int(minor)),
            }
        )
        per_kind = by_currency.setdefault(currency, {"cash": 0, "in_kind": 0})
        per_kind[kind] = per_kind.get(kind, 0) + int(minor)
    totals = {
        currency: {kind: _amount(minor) for kind, minor in kinds.items()}
        for currency, kinds in sorted(by_currency.items())
    }
    return {"items": items, "totals": totals}


def _assistance_scanned(
    office: str | None, offices: frozenset[str] | None, period: Period
) -> Select[Any]:
    a = report_assistance.c
    source = report_assistance.join(report_cases, report_cases.c.case_id == a.case_id, isouter=True)
    return (
        select(
            a.programme_id,
            a.kind,
            a.currency,
            func.count(),
            func.sum(a.amount_minor),
            func.count(distinct(a.case_id)),
        )
        .select_from(source)
        .where(_office(office, offices, period))
        .group_by(a.programme_id, a.kind, a.currency)
        .order_by(a.programme_id, a.kind, a.currency)
    )


async def withdrawals(
    conn: AsyncConnection,
    *,
    office: str | None = None,
    offices: frozenset[str] | None = None,
    period: Period = ALL_TIME,
    scan: bool = False,
) -> dict[str, Any]:
    """Withdrawals by what was withdrawn (the case, or a consent's purpose) and coded reason:
    how many, and of how many cases (summed from the cells over whole months; else, or with
    ``scan``, counted from the withdrawals of the period)."""
    if period.whole_months() and not scan:
        w = report_withdrawn.c
        n = func.sum(w.withdrawals)
        scope = _in_cells(report_withdrawn, office, offices, period)
        any_ = and_(w.withdrawn == ANY[0], w.reason == ANY[1])
        stmt = (
            select(w.withdrawn, w.reason, n, func.sum(w.cases))
            .where(*scope, ~any_)
            .group_by(w.withdrawn, w.reason)
            .having(n > 0)
            .order_by(w.withdrawn, w.reason)
        )
        total = select(func.sum(w.cases)).where(*scope, any_)
    else:
        stmt, total = _withdrawals_scanned(office, offices, period)
    items = [
        {"withdrawn": withdrawn, "reason": reason, "withdrawals": int(n), "cases": int(cases)}
        for withdrawn, reason, n, cases in await conn.execute(stmt)
    ]
    cases = await conn.scalar(total)
    return {
        "items": items,
        "total": {"withdrawals": sum(i["withdrawals"] for i in items), "cases": int(cases or 0)},
    }


def _withdrawals_scanned(
    office: str | None, offices: frozenset[str] | None, period: Period
) -> tuple[Select[Any], Select[Any]]:
    """The items' and the total's statements over the withdrawals of the period."""
    w = report_withdrawals.c
    source = report_withdrawals.join(report_cases, report_cases.c.case_id == w.case_id)
    scope = _office(office, offices, period)
    stmt = (
        select(w.withdrawn, w.reason, func.count(), func.count(distinct(w.case_id)))
        .select_from(source)
        .where(scope)
        .group_by(w.withdrawn, w.reason)
        .order_by(w.withdrawn, w.reason)
    )
    total = select(func.count(distinct(w.case_id))).select_from(source).where(scope)
    return stmt, total


Report = dict[str, Any]


class Query(Protocol):
    """A report's query over the report tables, of one office or of several (None: all),
    of a period (``ALL_TIME``: every case)."""

    def __call__(
        self,
        conn: AsyncConnection,
        *,
        office: str | None,
        offices: frozenset[str] | None,
        period: Period,
    ) -> Awaitable[Report]: ...


Suppress = Callable[[Report, int], Report]
Csv = Callable[[Report], str]


# ------------------------------------------------- small cells (offices) --
# Outside headquarters a report shows no cell of fewer households than the public counts
# do (avrr_events.small_cells): an office's breakdown by month, sex or vulnerability
# would otherwise single its people out. Headquarters reads the counts as they are.


def suppress_returns(report: dict[str, Any], minimum: int) -> dict[str, Any]:
    returns = {
        dimension: suppress(
            rows, households="cases", counts=("cases", "returnees"), minimum=minimum
        )
        for dimension, rows in report["returns"].items()
    }
    return {"returns": returns, "total": _suppressed_total(report["total"], minimum)}


def suppress_phases(report: dict[str, Any], minimum: int) -> dict[str, Any]:
    items = suppress(report["phases"], households="cases", counts=("cases",), minimum=minimum)
    total = report["total"]
    return {"phases": items, "total": None if too_small(total, minimum) else total}


def suppress_assistance(report: dict[str, Any], minimum: int) -> dict[str, Any]:
    items = suppress(
        report["items"],
        households="households",
        counts=("disbursements", "households", "total"),
        minimum=minimum,
    )
    hidden = {i["currency"] for i in items if i.get(SUPPRESSED)}
    totals = {
        currency: ({SUPPRESSED: True} if currency in hidden else kinds)
        for currency, kinds in report["totals"].items()
    }
    return {"items": items, "totals": totals}


def suppress_withdrawals(report: dict[str, Any], minimum: int) -> dict[str, Any]:
    """Small cells suppressed within each breakdown (the case's reasons, each purpose's)."""
    items: list[dict[str, Any]] = []
    for withdrawn in dict.fromkeys(i["withdrawn"] for i in report["items"]):
        cells = [i for i in report["items"] if i["withdrawn"] == withdrawn]
        items += suppress(
            cells, households="cases", counts=("withdrawals", "cases"), minimum=minimum
        )
    total = report["total"]
    if too_small(int(total["cases"]), minimum):
        total = {"withdrawals": None, "cases": None, SUPPRESSED: True}
    return {"items": items, "total": total}


def _suppressed_total(total: dict[str, Any], minimum: int) -> dict[str, Any]:
    if too_small(int(total["cases"]), minimum):
        return {"cases": None, "returnees": None, SUPPRESSED: True}
    return dict(total)


# ------------------------------------------------------------- renderings --


def returns_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["dimension", "value", "cases", "returnees"])
    for dimension, rows in report["returns"].items():
        for r in rows:
            writer.writerow([dimension, r["value"], r["cases"], r["returnees"]])
    return out.getvalue()


def phases_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["phase", "cases"])
    for r in report["phases"]:
        writer.writerow([r["phase"], r["cases"]])
    return out.getvalue()


def assistance_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["programme_id", "kind", "currency", "disbursements", "total"])
    for r in report["items"]:
        writer.writerow(
            [r["programme_id"], r["kind"], r["currency"], r["disbursements"], r["total"]]
        )
    return out.getvalue()


def withdrawals_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["withdrawn", "reason", "withdrawals", "cases"])
    for r in report["items"]:
        writer.writerow([r["withdrawn"], r["reason"], r["withdrawals"], r["cases"]])
    return out.getvalue()


def returns_svg(report: dict[str, Any]) -> str:
    """Two bar charts: returns per month (columns) and per country of origin (rows).

    Hand-written SVG with the generic ``sans-serif`` family: no script, no
    network font, readable in any browser or document.
    """
    # Suppressed cells (counts None) are left out of the bars.
    months = [
        (r["value"], r["cases"])
        for r in report["returns"].get("month", [])
        if r["cases"] is not None
    ]
    origins = [
        (r["value"], r["cases"])
        for r in report["returns"].get("origin_country", [])
        if r["cases"] is not None
    ]
    width, bar_area = 720, 200
    parts: list[str] = []
    y = 30
    parts.append(_text(20, y, "Returns per month (cases with arrival confirmed)", 15, "bold"))
    y += 20
    top = max([n for _, n in months] or [1])
    step = (width - 80) / max(len(months), 1)
    base = y + bar_area
    parts.append(f'<line x1="50" y1="{base}" x2="{width - 20}" y2="{base}" stroke="#444"/>')
    for i, (label, n) in enumerate(months):
        h = bar_area * n / top
        x = 55 + i * step
        w = max(step * 0.7, 2)
        parts.append(
            f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'fill="#1f6fb2"><title>{escape(str(label))}: {n}</title></rect>'
        )
        parts.append(_text(x + w / 2, base - h - 4, str(n), 10, anchor="middle"))
        parts.append(
            f'<text x="{x + w / 2:.1f}" y="{base + 12}" font-size="10" text-anchor="end" '
            f'font-family="sans-serif" transform="rotate(-45 {x + w / 2:.1f} {base + 12})">'
            f"{escape(str(label))}</text>"
        )
    y = base + 70
    parts.append(_text(20, y, "Returns per country of origin", 15, "bold"))
    y += 15
    top = max([n for _, n in origins] or [1])
    row = 18
    for i, (label, n) in enumerate(origins):
        w = (width - 160) * n / top
        yy = y + i * row
        parts.append(_text(45, yy + 12, str(label), 11, anchor="end"))
        parts.append(
            f'<rect x="50" y="{yy}" width="{w:.1f}" height="{row - 4}" fill="#e07b00">'
            f"<title>{escape(str(label))}: {n}</title></rect>"
        )
        parts.append(_text(55 + w, yy + 12, str(n), 11))
    height = int(y + max(len(origins), 1) * row + 20)
    body = "\n".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="AVRR returns">\n'
        f'<rect width="100%" height="100%" fill="white"/>\n{body}\n</svg>\n'
    )


def _text(
    x: float, y: float, text: str, size: int, weight: str = "normal", anchor: str = "start"
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" '
        f'text-anchor="{anchor}" font-family="sans-serif">{escape(text)}</text>'
    )
