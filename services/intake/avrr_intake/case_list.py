"""Lists for the caseworker's day: every case by phase, and a receiving office's incoming list.

Intake already knows each case's phase from the events it observes of every
service: the situational reports (reports.py) fold them with the timeline's
``CaseState`` into ``intake_report_cases``, one row per case with its phase,
destination (country and region key), programme, ticketed departure date and
movement status, and ``intake_report_vulnerabilities`` holds the categories of
its latest screenings. Both lists read those tables (joined with the case list,
``intake_cases``) rather than keep a third copy of the phase.

- ``cases``: ``GET /cases``, filtered by office, status, nationality, source,
  phase, programme, destination country and region, vulnerability category,
  referral and departure dates. Filters are query parameters: none is personal
  data, and no name is ever one (people are found by ``POST /people/search``,
  names in the body).
- ``incoming``: ``GET /incoming``, the ticketed movements to the countries of
  the caller's receiving offices (avrr_events.offices: a receiving office, or
  a host office receiving its own nationals). It shows what the office needs
  to prepare the arrival (expected date, household size, programme) and the
  vulnerability categories flagged for reintegration only for the people who
  consented to ``share_with_reintegration_partners`` (and still do). The list
  lives here because intake holds everything it needs, the ticket (travel's
  ``TicketIssued``), the screening (eligibility's ``VulnerabilityAssessed``)
  and the consent (its own); travel would have to start following screenings
  and consents to say the same.

Pages are keyset pages in a stable order, ``(referred_at desc, case_id)`` for
cases and ``(departure_date, case_id)`` for the incoming list: a page's
``next_cursor`` names the last row served, and the next page starts strictly
after it, so rows written meanwhile neither repeat nor push others off a page.
A cursor is ``base64url(JSON ["<order key>", "<case id>"])``, without padding:
opaque to a client, decodable by anyone reading a log (it holds no personal data).

The case list's ``total`` is exact up to ``COUNT_BOUND`` matches, and past it the bound
with ``total_is_lower_bound`` (issue 21): counting every match of a phase over a million
cases took a second, and the first page itself is an index walk in the list's order
(``intake_cases_referred_idx``; by phase, an index on the phase and the day of referral, and
for an office two of them merged: ``Walks``) that stops after the page. The incoming list (ticketed
movements still coming, a few thousand at most) counts exactly.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from fastapi.exceptions import RequestValidationError
from sqlalchemy import (
    ColumnElement,
    Index,
    Select,
    and_,
    exists,
    func,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Repository
from avrr_events.offices import OfficeRegistry
from avrr_events.places import place
from avrr_events.web.http import invalid_field
from avrr_intake import handover, read_models
from avrr_intake.case import Case
from avrr_intake.consent import ConsentWithdrawn
from avrr_intake.notices import N_, worded
from avrr_intake.reports import report_cases, report_vulnerabilities
from avrr_intake.timeline import CaseState, utc

# The case list counts its matches up to this many; past it ``total`` says "at least".
COUNT_BOUND = 1_000
# A movement the destination's offices expect: ticketed (held keeps its ticket) or on its way.
INCOMING_MOVEMENTS = ("ticketed", "held", "departed")
# Cases that no longer travel, whatever their movement still says.
_STOPPED = ("suspended", "withdrawn", "closed")
PARTNER_SHARING = "share_with_reintegration_partners"
HOUSEHOLD = "household"  # a screening of the household as a whole (no person id)


# The case list by phase walks this index of the report table (intake_0019); declared here,
# with the query that needs it, on the table reports.py defines.
PHASE_ORDER_INDEX = Index(
    "intake_report_cases_phase_day_idx", report_cases.c.phase, report_cases.c.referred_on
)
# An office's list by phase walks these two (intake_0020): the cases it holds, and those
# handed over to it, each in the list's order; the report row names both offices.
OFFICE_PHASE_ORDER_INDEX = Index(
    "intake_report_cases_office_phase_day_idx",
    report_cases.c.office,
    report_cases.c.phase,
    report_cases.c.referred_on,
)
RECEIVING_PHASE_ORDER_INDEX = Index(
    "intake_report_cases_receiving_phase_day_idx",
    report_cases.c.receiving_office,
    report_cases.c.phase,
    report_cases.c.referred_on,
)

# ------------------------------------------------------------------ cursors --


def encode_cursor(key: str, case_id: str) -> str:
    """The cursor after the row ``(key, case_id)`` (see the module docstring)."""
    raw = json.dumps([key, case_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """``(key, case_id)`` of a cursor; 422 naming ``cursor`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, case_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise _not_a_cursor() from exc
    if not isinstance(key, str) or not isinstance(case_id, str):
        raise _not_a_cursor()
    return key, case_id


def _not_a_cursor() -> RequestValidationError:
    """422 naming ``cursor``: a value no page of these lists gave (in the reader's language)."""
    return invalid_field("cursor", worded(N_("not a cursor this list gave")), where="query")


@dataclass(frozen=True)
class Page:
    """The rows of one page, how many rows match in all (or at least, when
    ``total_is_lower_bound``), and the cursor of the next page."""

    rows: list[Any]
    total: int
    next_cursor: str | None
    total_is_lower_bound: bool = False


@dataclass(frozen=True)
class Walks:
    """A list's query as disjoint walks in one order, merged: most lists are one walk; an
    office's cases by phase are two per office, its own and those handed over to it, each a
    walk of an index of its own (``cases``). ``order`` names the columns of the walks' order
    (descending or not), by which the merge orders their rows again."""

    parts: Sequence[Select[Any]]
    order: Sequence[tuple[str, bool]] = ()

    def page(self, after: ColumnElement[bool] | None, limit: int, offset: int) -> Select[Any]:
        """The ``limit`` rows after ``after`` (or at ``offset``): each walk stops after
        ``offset + limit`` rows, and the merge orders those and keeps its page."""
        walks = [part if after is None else part.where(after) for part in self.parts]
        if len(walks) == 1:
            return walks[0].limit(limit).offset(offset)
        merged = union_all(*(select(w.limit(offset + limit).subquery()) for w in walks))
        rows = merged.subquery()
        order = [rows.c[name].desc() if desc else rows.c[name] for name, desc in self.order]
        return select(rows).order_by(*order).limit(limit).offset(offset)


async def count_matches(
    conn: AsyncConnection, walks: Walks, *, up_to: int | None
) -> tuple[int, bool]:
    """How many rows ``walks`` match: all of them when ``up_to`` is None, else at most
    ``up_to`` (the database stops at the first ``up_to + 1``, in any order, so the count
    costs what reading that many rows costs, whatever matches). The walks are disjoint: each
    counts up to what the ones before left of the bound, and none once they passed it (an
    office's own cases by phase are mostly past it before its handed-over ones)."""
    found = 0
    for part in walks.parts:
        matched = part.with_only_columns(true(), maintain_column_froms=True).order_by(None)
        if up_to is not None:
            matched = matched.limit(up_to + 1 - found)
        counted = select(func.count()).select_from(matched.subquery())
        found += int(await conn.scalar(counted) or 0)
        if up_to is not None and found > up_to:
            return up_to, True
    return found, False


async def _keyset_page(
    conn: AsyncConnection,
    walks: Walks,
    *,
    limit: int,
    offset: int,
    after: ColumnElement[bool] | None,
    key_of: Callable[[Any], str],
    count_up_to: int | None = None,
) -> Page:
    """A page of ``walks`` (each already in the stable order) after ``after`` (or at
    ``offset``), with its matches counted up to ``count_up_to`` (None: all)."""
    rows = list((await conn.execute(walks.page(after, limit + 1, offset))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    if after is None and not more and (rows or not offset):
        # The last page, and nothing before it but the offset: the rows are the count (a
        # rare filter's only page is a long walk already; no second one to count it).
        total, more_matches = offset + len(rows), False
        if count_up_to is not None and total > count_up_to:
            total, more_matches = count_up_to, True
    else:
        total, more_matches = await count_matches(conn, walks, up_to=count_up_to)
    cursor = encode_cursor(key_of(rows[-1]), rows[-1].case_id) if more and rows else None
    return Page(rows, total, cursor, more_matches)


# -------------------------------------------------------------- case list --


@dataclass(frozen=True)
class CaseFilters:
    """What ``GET /cases`` filters on (every one optional; all given must hold)."""

    office: str | None = None
    status: str | None = None
    nationality: str | None = None
    source: str | None = None
    phase: str | None = None
    programme: str | None = None
    destination_country: str | None = None
    destination_region: str | None = None
    vulnerability: str | None = None
    referred_from: date | None = None
    referred_to: date | None = None
    departure_from: date | None = None
    departure_to: date | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        c, r = read_models.cases.c, report_cases.c
        where: list[ColumnElement[bool]] = []
        for column, value in (
            (c.office, self.office),
            (c.status, self.status),
            (c.nationality, self.nationality),
            (c.source, self.source),
            (r.phase, self.phase),
            (r.programme_id, self.programme),
            (r.origin_country, self.destination_country),
        ):
            if value is not None:
                where.append(column == value)
        if self.destination_region is not None:
            country = [self.destination_country] if self.destination_country else None
            where.append(r.destination_region == region_key(country, self.destination_region))
        if self.vulnerability is not None:
            v = report_vulnerabilities.c
            screened = and_(v.case_id == c.case_id, v.category == self.vulnerability)
            where.append(exists(select(v.case_id).where(screened)))
        if self.referred_from is not None:
            where.append(c.referred_at >= datetime.combine(self.referred_from, time.min, UTC))
        if self.referred_to is not None:
            where.append(c.referred_at <= datetime.combine(self.referred_to, time.max, UTC))
        if self.departure_from is not None:
            where.append(r.departure_date >= self.departure_from.isoformat())
        if self.departure_to is not None:
            where.append(r.departure_date <= self.departure_to.isoformat())
        return where


def region_key(countries: Iterable[str] | None, region: str | None) -> str | None:
    """The place key of ``region`` (any spelling of it) in the one country asked about; a
    region needs its country, so 422 naming ``destination_region`` without exactly one."""
    if region is None:
        return None
    named = sorted(set(countries)) if countries is not None else []
    if len(named) != 1:
        raise invalid_field(
            "destination_region",
            worded(N_("needs destination_country (a region of which country?)")),
            where="query",
        )
    return place(named[0], region).region_key


async def cases(
    conn: AsyncConnection,
    filters: CaseFilters,
    *,
    offices: frozenset[str] | None,
    limit: int,
    offset: int = 0,
    cursor: str | None = None,
    count_up_to: int | None = None,
) -> Page:
    """A page of cases matching ``filters`` of ``offices`` (held by one of them or handed over
    to one, avrr_intake.handover.belongs_to; None: every office, headquarters), newest referral
    first, each with its phase and destination (None before the reports caught up with the
    case); matches counted up to ``count_up_to`` (default ``COUNT_BOUND``)."""
    c, r = read_models.cases.c, report_cases.c
    # By phase, the order is led by the report row's day of referral: the same order (it is
    # the UTC day of ``referred_at``, both from the referral), but a walk of the phase's cases
    # in an index on (phase, day), a day at a time, rather than of every case for the few of
    # a rare phase. A row whose referral the reports have not folded yet has no day: it sorts
    # first on PostgreSQL (last on SQLite) until they do.
    by_day = filters.phase is not None
    query = (
        select(
            read_models.cases,
            r.phase,
            r.origin_country.label("destination_country"),
            r.destination_region,
            r.programme_id,
            r.departure_date,
            r.referred_on,
        )
        .select_from(read_models.cases.outerjoin(report_cases, r.case_id == c.case_id))
        .where(and_(true(), *filters.conditions()))
        .order_by(*([r.referred_on.desc()] if by_day else []), c.referred_at.desc(), c.case_id)
    )
    if by_day and filters.office is not None:
        # The report row's office is the case's (see _office_walks): the walk of the phase
        # starts in the office's part of OFFICE_PHASE_ORDER_INDEX.
        query = query.where(r.office == filters.office)
    if offices is None:
        walks = Walks([query])
    elif by_day:
        walks = Walks(_office_walks(query, offices, filters.office), order=_ORDER_BY_DAY)
    else:  # every case newest first, keeping the office's (intake_cases_referred_idx)
        walks = Walks([query.where(handover.belongs_to(offices))])
    after = None
    if cursor is not None:
        key, case_id = decode_cursor(cursor)
        at = _moment(key)
        # The first conjuncts alone are a range of the order's index: a later page starts
        # its walk at the cursor, not at the newest case.
        day = [r.referred_on <= at.astimezone(UTC).date().isoformat()] if by_day else []
        after = and_(
            *day,
            c.referred_at <= at,
            or_(c.referred_at < at, and_(c.referred_at == at, c.case_id > case_id)),
        )
    return await _keyset_page(
        conn,
        walks,
        limit=limit,
        offset=offset,
        after=after,
        key_of=lambda row: utc(row.referred_at).isoformat(),
        count_up_to=COUNT_BOUND if count_up_to is None else count_up_to,
    )


# The order of the list by phase, by the names of the columns the page selects.
_ORDER_BY_DAY = (("referred_on", True), ("referred_at", True), ("case_id", False))


def _office_walks(
    query: Select[Any], offices: frozenset[str], office: str | None
) -> list[Select[Any]]:
    """``query`` (by phase) within ``offices`` as disjoint walks, merged by ``Walks``: per
    office, the cases it holds, in OFFICE_PHASE_ORDER_INDEX, and those handed over to it that
    none of ``offices`` holds, in RECEIVING_PHASE_ORDER_INDEX; of the cases ``office`` holds
    only (the ``office`` filter), when it is given.

    As one condition, held or handed over (``handover.belongs_to``) was estimated at 58% of
    the cases when it was 18% at 1,000,000 cases, and the plans it got took 0.2-1.2 s; each
    walk here is an index range that stops after the page. The report row names the case's
    office and receiving office as ``intake_cases`` and ``intake_handovers`` do: the same
    events, by the same rule (``avrr_events.handover.handed_over_to``; a later hand-over
    replaces one before), in the same transaction, and intake_0016 filled the receiving
    office from ``intake_handovers``. The hand-over walk reads it alone: with the join to
    ``intake_handovers`` PostgreSQL took the two for a few rows and sorted every one of the
    office's in the phase instead of walking them in order."""
    r = report_cases.c
    walks = []
    for one in sorted(offices):
        if office is None or office == one:
            walks.append(query.where(handover.held_by(frozenset({one})), r.office == one))
        if office is None or office not in offices:
            walks.append(query.where(r.receiving_office == one, ~handover.held_by(offices)))
    return walks


def _moment(key: str) -> datetime:
    try:
        moment = datetime.fromisoformat(key)
    except ValueError as exc:
        raise _not_a_cursor() from exc
    # SQLite keeps UTC wall time without a zone; compare it as such.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# ------------------------------------------------------------ incoming list --


def receiving_countries(registry: OfficeRegistry, offices: Iterable[str]) -> frozenset[str]:
    """The countries in which ``offices`` receive returnees (avrr_events.offices.RECEIVING_KINDS:
    receiving offices, and host offices receiving their own nationals); unknown ids, partners
    and headquarters receive in none."""
    found = (registry.get(office_id) for office_id in offices)
    return frozenset(o.country for o in found if o is not None and o.receives_in(o.country))


async def incoming(
    conn: AsyncConnection,
    *,
    countries: frozenset[str] | None,
    destination_region: str | None = None,
    departure_from: date | None = None,
    departure_to: date | None = None,
    limit: int,
    cursor: str | None = None,
) -> Page:
    """Ticketed movements to ``countries`` (None: every country, headquarters), earliest
    departure first; ``destination_region`` is a region key."""
    r = report_cases.c
    where: list[ColumnElement[bool]] = [
        r.movement_status.in_(INCOMING_MOVEMENTS),
        r.departure_date.is_not(None),
        r.phase.not_in(_STOPPED),
    ]
    if countries is not None:
        where.append(r.origin_country.in_(sorted(countries)))
    if destination_region is not None:
        where.append(r.destination_region == destination_region)
    if departure_from is not None:
        where.append(r.departure_date >= departure_from.isoformat())
    if departure_to is not None:
        where.append(r.departure_date <= departure_to.isoformat())
    query = select(report_cases).where(*where).order_by(r.departure_date, r.case_id)
    after = None
    if cursor is not None:
        key, case_id = decode_cursor(cursor)
        after = or_(r.departure_date > key, and_(r.departure_date == key, r.case_id > case_id))
    return await _keyset_page(
        conn, Walks([query]), limit=limit, offset=0, after=after, key_of=lambda r: r.departure_date
    )


@dataclass(frozen=True)
class Consents:
    """One case's consents to one purpose, person by person: as the consents read model's
    rows have them (``recorded``) and as the case's stream has them now (``now``)."""

    recorded: dict[str, str]
    now: dict[str, str]
    # A withdrawal for the whole household the rows have not seen: it also covers a
    # person with no row of the purpose (the people index forgets the principal's phone
    # at it whether or not the principal had given that consent).
    withdrawn_by_everyone: bool = False

    def given(self) -> set[str]:
        """Who consents: given in both (a consent given since shows once the read model has
        it, so that the answer does not change when the read model catches up)."""
        return {p for p, s in self.recorded.items() if s == "given" and self.now.get(p) == s}

    def withdrawn(self, person_id: str, *, by_everyone: bool = True) -> bool:
        """Withdrawn in either: from the withdrawal's answer on, until the read model has
        the consent given again. Without ``by_everyone``, a person with no consent of the
        purpose is never withdrawn: the case file's contact, which the read model shows
        before and after such a withdrawal (its rows give that person none)."""
        if by_everyone and self.withdrawn_by_everyone and person_id not in self.now:
            return True
        return "withdrawn" in (self.recorded.get(person_id), self.now.get(person_id))


async def consents_now(
    conn: AsyncConnection,
    case_ids: Iterable[str],
    purpose: str,
    repo: Repository[Case],
    *,
    settled: Callable[[str, dict[str, str]], bool],
) -> dict[str, Consents]:
    """Per case of the read model, its consents to ``purpose`` as the case's stream has them
    when the read is answered, not only as the consents read model last saw them.

    A withdrawal's 2xx promises that what the consent covered is hidden at once, and the
    read model sees the withdrawal 1-3 s later. The rule of every such read (the case
    file's contact and declared needs through ``case_consents``, the consulate list, the
    incoming list, people search): the consent rows, then the case's events after the case
    row's version (``Repository.events_after``, one prepared read that finds no row once
    the read model caught up) folded over them (``read_models.consent_statuses``). Rows and
    version come from one statement, so a read model catching up meanwhile is seen whole
    or not at all. ``settled(case_id, recorded)`` says the rows alone decide the read (no
    probe of the stream: nobody to hide, or everyone already hidden)."""
    wanted = sorted(set(case_ids))
    if not wanted:
        return {}
    k, c = read_models.consents.c, read_models.cases.c
    # Every case, with or without a row of the purpose: a consent given and withdrawn
    # since the read model last saw the case is in its stream only.
    joined = read_models.cases.outerjoin(
        read_models.consents, and_(k.case_id == c.case_id, k.purpose == purpose)
    )
    rows = await conn.execute(
        select(c.case_id, c.version, k.person_id, k.purpose, k.status)
        .select_from(joined)
        .where(c.case_id.in_(wanted))
    )
    versions: dict[str, int] = {}
    by_case: dict[str, list[Any]] = {}
    for row in rows:
        # One projection writes a case's row and its consents: one version for all of them.
        versions[row.case_id] = row.version
        by_case.setdefault(row.case_id, []).extend([row] if row.person_id is not None else [])
    return {
        case_id: await case_consents(
            case_id,
            versions[case_id],
            consent_rows,
            purpose,
            repo,
            settled=functools.partial(settled, case_id),
        )
        for case_id, consent_rows in by_case.items()
    }


async def case_consents(
    case_id: str,
    version: int,
    consent_rows: Iterable[Any],
    purpose: str,
    repo: Repository[Case],
    *,
    settled: Callable[[dict[str, str]], bool] = lambda _: False,
) -> Consents:
    """One case's consents to ``purpose`` now (the rule of ``consents_now``), from its consent
    rows (of any purposes) read with its case row at ``version``, for a read that already
    has both (the case file, its declared needs). ``settled(recorded)`` says the rows alone
    decide the read: no probe of the stream."""
    rows = [r for r in consent_rows if r.purpose == purpose]
    recorded = {r.person_id: r.status for r in rows}
    if settled(recorded):
        return Consents(recorded, recorded)
    unseen = await repo.events_after(case_id, version)
    statuses = read_models.consent_statuses(rows, unseen)
    now = {person: status for (person, of), status in statuses.items() if of == purpose}
    everyone = any(
        isinstance(e, ConsentWithdrawn) and e.person_id is None and e.purpose == purpose
        for e in unseen
    )
    return Consents(recorded, now, everyone)


async def sharing_consents(
    conn: AsyncConnection, case_ids: Sequence[str], repo: Repository[Case]
) -> dict[str, set[str]]:
    """Per case, the people whose consent to share with reintegration partners stands, as
    the case's stream has it when the list is answered (``consents_now``): the receiving
    mission no longer reads a person's needs from their withdrawal's answer on. No probe
    for a case where nobody shares (no withdrawal can hide more)."""

    def nobody_shares(_: str, recorded: dict[str, str]) -> bool:
        return "given" not in recorded.values()

    consents = await consents_now(conn, case_ids, PARTNER_SHARING, repo, settled=nobody_shares)
    return {case_id: c.given() for case_id, c in consents.items()}


def arrival(row: Any, consented: set[str]) -> dict[str, Any]:
    """One incoming movement as the receiving office reads it: no name, no person's data but
    the needs each consenting traveller agreed to share (a household screening only when
    every traveller did). ``needs_shared`` says whose consent stands, never whether a need
    was found, so a withheld need and no need read alike."""
    state = CaseState.model_validate(row.state)
    travellers = [str(m["person_id"]) for m in state.household]
    sharing = [p for p in travellers if p in consented] if not state.personal_data_erased else []
    needs = [
        {"person_id": who, "categories": categories}
        for who, categories in sorted(state.vulnerabilities.items())
        if categories
        and (
            who in sharing or (who == HOUSEHOLD and travellers and len(sharing) == len(travellers))
        )
    ]
    shared = (
        "all" if travellers and len(sharing) == len(travellers) else "some" if sharing else "none"
    )
    return {
        "case_id": row.case_id,
        "sending_office": row.office,
        "programme_id": row.programme_id,
        "destination_country": row.origin_country,
        "destination_region": row.destination_region,
        "movement_status": row.movement_status,
        # A ticket names its departure date only: the household is expected that day.
        "expected_arrival_date": row.departure_date,
        "departed_at": state.departed_at,
        "household_size": len(travellers),
        "needs_shared": shared,
        "needs": needs,
    }
