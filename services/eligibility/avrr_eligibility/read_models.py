"""Read models: the assessment queue of each office, decisions with reasons, suspensions.

Fed by eligibility's own events as they come back from its topic (the
consumer applies them in the same transaction as the inbox row), so they can
be dropped and rebuilt from the journal at any time. The REST queries read
only these tables.

Flagging for destination safety works in both arrival orders: a suspension
flags the cases already cleared to the place, and a clearance that arrives
after a suspension is flagged on arrival.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_eligibility.assessment import (
    SEVERITY_RANK,
    AmendmentRefused,
    AssessmentAmended,
    AssessmentClosed,
    AssessmentOpened,
    AssessmentReopened,
    BestInterestsDeterminationRecorded,
    DueDiligenceChecked,
    DueDiligenceCleared,
    DueDiligenceRejected,
    EligibilityDecided,
    HouseholdAdditionRefused,
    HouseholdCorrected,
    HouseholdMemberJoined,
    HouseholdMemberLeft,
    VulnerabilityAssessed,
)
from avrr_eligibility.destination import DestinationReopened, DestinationSuspended
from avrr_eligibility.observed import TransferAccepted
from avrr_events import Database, Envelope, Projection, transfers
from avrr_events.places import place
from avrr_events.projections import ProjectionHandler, case_row, insert_from_event, page
from avrr_events.tables import case_table, destination_columns

metadata = MetaData()

assessments = case_table(
    "eligibility_assessments",
    metadata,
    # The stream version the row reflects: the ETag of the assessment.
    Column("version", Integer, nullable=False),
    Column("office", String(100), nullable=False, index=True),
    Column("status", String(30), nullable=False),
    Column("nationality", String(2), nullable=False),
    Column("host_country", String(2), nullable=False),
    *destination_columns(),
    Column("household", JSON, nullable=False),
    Column("unaccompanied_children", Integer, nullable=False, default=0),
    Column("programme_id", String(100)),
    Column("programmes_version", String(50)),
    Column("eligible", Boolean),
    Column("reasons", JSON, nullable=False),
    Column("priority", Integer, nullable=False, default=0),
    Column("vulnerabilities", JSON, nullable=False),
    Column("best_interests", JSON, nullable=False),
    Column("due_diligence_reasons", JSON, nullable=False),
    Column("destination_suspended", Boolean, nullable=False, default=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True)),
    Column("cleared_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("closed_reason", String(200)),
)

suspensions = Table(
    "eligibility_suspensions",
    metadata,
    Column("place", String(200), primary_key=True),
    *destination_columns(),
    Column("reason", String(1000), nullable=False),
    Column("suspended_by", String(200), nullable=False),
    Column("suspended_at", DateTime(timezone=True), nullable=False),
)

# Where each transferred case is now (avrr_events.transfers): new rows are filed there.
case_transfers = transfers.case_transfers_table("eligibility_case_transfers", metadata)

# Statuses, in the order a case goes through them.
ELIGIBLE, INELIGIBLE, REJECTED, CLEARED, CLOSED = (
    "eligible",
    "ineligible",
    "due_diligence_rejected",
    "cleared",
    "closed",
)
STATUSES = (ELIGIBLE, INELIGIBLE, REJECTED, CLEARED, CLOSED)
OPEN_STATUSES = (ELIGIBLE, INELIGIBLE, REJECTED)
STATUS_SET: dict[str, Any] = {"items": {"enum": list(STATUSES)}}
"""The values GET /assessments takes for ``status``, as its OpenAPI states them."""


def _covered_by_suspension() -> Any:
    """SQL: some active suspension covers the row's destination (whole country or its region)."""
    s, a = suspensions, assessments
    return exists().where(
        s.c.destination_country == a.c.destination_country,
        or_(
            s.c.region_key.is_(None),
            s.c.region_key == a.c.region_key,
        ),
    )


def _stream(envelope: Envelope) -> str:
    """The place stream an event of DestinationSafety belongs to (its subject names it):
    a suspension is reopened in the stream it was recorded in, whatever its spelling."""
    return envelope.subject.removeprefix("destination:")


def _priority(vulnerabilities: dict[str, list[dict[str, str]]], children: int) -> int:
    """0 none .. 3 high: the highest severity screened; unaccompanied children count as high."""
    ranks = [SEVERITY_RANK[c["severity"]] for cats in vulnerabilities.values() for c in cats]
    return max([*ranks, 3 if children else 0])


# ------------------------------------------------- changes of an assessment --
# Most events only change their case's assessment row: each such change is a pure function
# of the event and the row as it stands, and one handler (``_changing``) reads the row,
# counts the event and writes the change.

Change = Callable[[Any, Any], dict[str, Any]]


def _changing(values: Change) -> ProjectionHandler:
    """The handler of an event that sets ``values(event, row)`` on its case's assessment."""

    async def handler(_self: Any, conn: AsyncConnection, event: Any, envelope: Envelope) -> None:
        await _change(conn, envelope, lambda row: values(event, row))

    return handler


async def _change(
    conn: AsyncConnection, envelope: Envelope, values: Callable[[Any], dict[str, Any]]
) -> None:
    """Count one more event of the case's assessment and set ``values(row)`` on it."""
    a = assessments
    case_id = envelope.subject
    row = await case_row(conn, a, case_id)
    if row is None:
        return  # closed before any request reached eligibility: nothing to show
    await conn.execute(
        update(a).where(a.c.case_id == case_id).values(version=a.c.version + 1, **values(row))
    )


def _decided(event: EligibilityDecided, row: Any) -> dict[str, Any]:
    return {
        "status": ELIGIBLE if event.eligible else INELIGIBLE,
        "eligible": event.eligible,
        "programme_id": event.programme_id,
        "programmes_version": event.programmes_version,
        "reasons": [r.model_dump(mode="json") for r in event.reasons],
        "decided_at": event.decided_at,
    }


def _screened(event: VulnerabilityAssessed, row: Any) -> dict[str, Any]:
    screened = dict(row.vulnerabilities)
    screened[event.person_id or "case"] = [c.model_dump(mode="json") for c in event.categories]
    return {
        "vulnerabilities": screened,
        "priority": _priority(screened, row.unaccompanied_children),
    }


def _best_interests(event: BestInterestsDeterminationRecorded, row: Any) -> dict[str, Any]:
    return {"best_interests": {**row.best_interests, event.person_id: event.outcome}}


def _checked(event: DueDiligenceChecked, row: Any) -> dict[str, Any]:
    return {}  # counted (the ETag moves), nothing shown changes


def _rejected(event: DueDiligenceRejected, row: Any) -> dict[str, Any]:
    return {"status": REJECTED, "due_diligence_reasons": list(event.reasons)}


def _cleared(event: DueDiligenceCleared, row: Any) -> dict[str, Any]:
    return {
        "status": CLEARED,
        "due_diligence_reasons": [],
        "cleared_at": event.cleared_at,
        "destination_suspended": _covered_by_suspension(),
    }


def _amended(event: AssessmentAmended, row: Any) -> dict[str, Any]:
    # The EligibilityDecided that follows sets the decision and the status.
    return {
        "destination_country": event.destination_country,
        "destination_region": event.destination_region,
        "region_key": place(event.destination_country, event.destination_region).region_key,
    }


def _left(
    event: HouseholdMemberLeft | HouseholdMemberJoined | HouseholdCorrected, row: Any
) -> dict[str, Any]:
    """The household as it now stands (someone left or joined)."""
    children = sum(1 for m in event.household if m.is_unaccompanied_child)
    return {
        "household": [m.model_dump(mode="json") for m in event.household],
        "unaccompanied_children": children,
        "priority": _priority(row.vulnerabilities, children),
    }


def _refused(event: AmendmentRefused | HouseholdAdditionRefused, row: Any) -> dict[str, Any]:
    """Counted (the ETag moves); the destination and household cleared stand: a person whose
    addition lapsed the clearance leaves the household shown, which is cleared again."""
    if not isinstance(event, HouseholdAdditionRefused):
        return {}
    household = [m for m in row.household if m["person_id"] != event.person_id]
    if len(household) == len(row.household):
        return {}
    cleared = {"status": CLEARED} if row.cleared_at is not None else {}
    return {"household": household, **cleared}


def _closed(event: AssessmentClosed, row: Any) -> dict[str, Any]:
    return {"status": CLOSED, "closed_at": event.closed_at, "closed_reason": event.reason}


def _reopened(event: AssessmentReopened, row: Any) -> dict[str, Any]:
    if event.cause == "case_reopened":
        # The case came back: clearance and determinations lapsed; it waits for consents.
        return {
            "status": CLOSED,
            "closed_reason": "case reopened at intake: waits for every member's consent",
            "best_interests": {},
            "due_diligence_reasons": [],
            "cleared_at": None,
        }
    # Back to where it stood when a withdrawn consent closed it.
    if event.cleared:
        status = CLEARED
    elif row.due_diligence_reasons:
        status = REJECTED
    else:
        status = ELIGIBLE if row.eligible else INELIGIBLE
    return {"status": status, "closed_at": None, "closed_reason": None}


# ------------------------------------------------------------- projection --


class AssessmentQueue(Projection):
    """One row per assessment (the office's queue) and the active destination suspensions."""

    name = "eligibility_assessment_queue"
    metadata = metadata

    async def _opened(
        self, conn: AsyncConnection, event: AssessmentOpened, envelope: Envelope
    ) -> None:
        children = sum(1 for m in event.household if m.is_unaccompanied_child)
        await insert_from_event(
            conn,
            assessments,
            event,
            office=await transfers.office_now(conn, case_transfers, event.case_id, event.office),
            version=1,
            status=ELIGIBLE,
            region_key=place(event.destination_country, event.destination_region).region_key,
            household=[m.model_dump(mode="json") for m in event.household],
            unaccompanied_children=children,
            reasons=[],
            priority=_priority({}, children),
            vulnerabilities={},
            best_interests={},
            due_diligence_reasons=[],
            destination_suspended=False,
        )

    async def _suspend(
        self, conn: AsyncConnection, event: DestinationSuspended, envelope: Envelope
    ) -> None:
        stream = _stream(envelope)
        region = event.destination_region
        key = place(event.destination_country, region).region_key
        await insert_from_event(conn, suspensions, event, place=stream, region_key=key)
        a = assessments
        where = [a.c.status == CLEARED, a.c.destination_country == event.destination_country]
        if key is not None:
            where.append(a.c.region_key == key)
        await conn.execute(update(a).where(*where).values(destination_suspended=True))

    async def _reopen(
        self, conn: AsyncConnection, event: DestinationReopened, envelope: Envelope
    ) -> None:
        await conn.execute(delete(suspensions).where(suspensions.c.place == _stream(envelope)))
        a = assessments
        # Another suspension (the whole country, or the region) may still cover some cases.
        await conn.execute(
            update(a)
            .where(a.c.status == CLEARED, a.c.destination_country == event.destination_country)
            .values(destination_suspended=_covered_by_suspension())
        )

    async def _transferred(
        self, conn: AsyncConnection, event: TransferAccepted, envelope: Envelope
    ) -> None:
        """Intake's transfer accepted: the assessment is the receiving office's."""
        await transfers.follow(conn, event, assessments, transferred=case_transfers)

    handlers = {
        AssessmentOpened: _opened,
        EligibilityDecided: _changing(_decided),
        VulnerabilityAssessed: _changing(_screened),
        BestInterestsDeterminationRecorded: _changing(_best_interests),
        DueDiligenceChecked: _changing(_checked),
        DueDiligenceCleared: _changing(_cleared),
        DueDiligenceRejected: _changing(_rejected),
        AssessmentClosed: _changing(_closed),
        AssessmentReopened: _changing(_reopened),
        AssessmentAmended: _changing(_amended),
        AmendmentRefused: _changing(_refused),
        HouseholdMemberLeft: _changing(_left),
        HouseholdMemberJoined: _changing(_left),
        HouseholdCorrected: _changing(_left),
        HouseholdAdditionRefused: _changing(_refused),
        DestinationSuspended: _suspend,
        DestinationReopened: _reopen,
        TransferAccepted: _transferred,
    }


# ---------------------------------------------------------------- queries --


async def queue(
    conn: AsyncConnection,
    *,
    office: str,
    statuses: Sequence[str],
    destination_suspended: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Any], int]:
    """An office's assessments, most vulnerable first, then oldest request first."""
    a = assessments
    where = [a.c.office == office, a.c.status.in_(list(statuses))]
    if destination_suspended is not None:
        where.append(a.c.destination_suspended.is_(destination_suspended))
    query = (
        select(a)
        .where(and_(*where))
        .order_by(a.c.priority.desc(), a.c.requested_at.asc(), a.c.case_id)
    )
    return await page(conn, query, limit=limit, offset=offset)


async def assessment_row(conn: AsyncConnection | Database, case_id: str) -> Any:
    return await case_row(conn, assessments, case_id)


async def active_suspensions(conn: AsyncConnection) -> list[tuple[Any, int]]:
    """Every active suspension with the number of cleared cases it holds."""
    s, a = suspensions, assessments
    rows = (await conn.execute(select(s).order_by(s.c.suspended_at))).all()
    out = []
    for row in rows:
        where = [a.c.status == CLEARED, a.c.destination_country == row.destination_country]
        if row.region_key is not None:
            where.append(a.c.region_key == row.region_key)
        held = await conn.scalar(select(func.count()).select_from(a).where(*where))
        out.append((row, int(held or 0)))
    return out


def age_days(requested_at: datetime, now: datetime) -> int:
    return max(0, (now - requested_at).days)
