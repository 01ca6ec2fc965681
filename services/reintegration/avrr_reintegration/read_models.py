"""Read models: the tables the REST queries read, and the projection that writes them.

Two groups of tables:
- ``facts``: what this service learned from other services and decides with
  (the vulnerability priority per assessed person). Written by a reaction in
  the consumer's transaction, in event order, so the arrival decision that
  follows sees it; never dropped by a rebuild.
- ``views``: disposable projections of this service's own events (cases with
  their plan, the ledger, referrals, the monitoring schedule, sustainability
  scores, per-programme totals). ``ProjectionRunner.rebuild`` recreates them.

Erasure deletes every per-case row; the programme totals, which hold no
personal data, stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Database, Envelope, Projection, transfers
from avrr_events.adapters.prepared import PreparedRead
from avrr_events.projections import case_row, insert_from_event
from avrr_events.tables import case_entries, case_table
from avrr_events.withdrawal import ConflictList, conflicts_table
from avrr_reintegration.monitoring import monitoring_schedule
from avrr_reintegration.observed import TransferAccepted
from avrr_reintegration.programmes import ProgrammeCatalogue
from avrr_reintegration.reintegration import (
    AssistanceDisbursed,
    MonitoringVisitRecorded,
    ReintegrationCompleted,
    ReintegrationEligibilityDecided,
    ReintegrationPlanAgreed,
    ReintegrationReopened,
    ReintegrationStopped,
    ServiceReferralMade,
    SustainabilityScored,
)

Money = Numeric(14, 2, asdecimal=True)

# ------------------------------------------------------------------ facts --

facts = MetaData()

vulnerability_priorities = case_table(
    "reintegration_vulnerability_priorities",
    facts,
    Column("person_key", String(100), primary_key=True),
    Column("score", Integer, nullable=False),
    Column("assessed_at", DateTime(timezone=True), nullable=False),
)


CONTACT_BY_PROGRAMME = "contact_by_programme"

# Consent withdrawn for a purpose (any member of the household): referrals to partners stop,
# monitoring lists say "do not contact", plans and disbursements wait (commands.py).
consent_withdrawals = case_table(
    "reintegration_consent_withdrawals",
    facts,
    Column("purpose", String(100), primary_key=True),
    Column("withdrawn_at", DateTime(timezone=True), nullable=False),
)


async def save_consent_withdrawal(
    conn: AsyncConnection, case_id: str, purpose: str, withdrawn_at: datetime
) -> None:
    t = consent_withdrawals
    key = and_(t.c.case_id == case_id, t.c.purpose == purpose)
    if await conn.scalar(select(t.c.case_id).where(key)) is None:
        await conn.execute(
            t.insert().values(case_id=case_id, purpose=purpose, withdrawn_at=withdrawn_at)
        )


async def lift_consent_withdrawal(conn: AsyncConnection, case_id: str, purpose: str) -> None:
    """The consent was given again: what its withdrawal stopped goes on."""
    t = consent_withdrawals
    await conn.execute(t.delete().where(t.c.case_id == case_id, t.c.purpose == purpose))


def contact_withdrawn(case_id: Any) -> Any:
    """SQL: the case's consent to be contacted by the programme is withdrawn."""
    t = consent_withdrawals
    return exists().where(t.c.case_id == case_id, t.c.purpose == CONTACT_BY_PROGRAMME)


async def consent_withdrawn(conn: AsyncConnection, case_id: str, purpose: str) -> bool:
    t = consent_withdrawals
    found = await conn.scalar(
        select(t.c.case_id).where(t.c.case_id == case_id, t.c.purpose == purpose)
    )
    return found is not None


async def save_priority(
    conn: AsyncConnection, case_id: str, person_key: str, score: int, assessed_at: datetime
) -> None:
    """Keep the latest assessment's score of one person (an older one arriving late loses)."""
    t = vulnerability_priorities
    key = and_(t.c.case_id == case_id, t.c.person_key == person_key)
    current = await conn.scalar(select(t.c.assessed_at).where(key))
    if current is None:
        await conn.execute(
            t.insert().values(
                case_id=case_id, person_key=person_key, score=score, assessed_at=assessed_at
            )
        )
    elif _aware(current) <= assessed_at:
        await conn.execute(update(t).where(key).values(score=score, assessed_at=assessed_at))


def _aware(value: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive (they were written in UTC).
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def case_priority(conn: AsyncConnection, case_id: str) -> int:
    """The highest score over the case's assessed persons (0 when nobody was assessed)."""
    t = vulnerability_priorities
    value = await conn.scalar(select(func.max(t.c.score)).where(t.c.case_id == case_id))
    return int(value or 0)


async def forget_facts(conn: AsyncConnection, case_id: str) -> None:
    """Erasure: what this service learned about the case goes (priorities, consents)."""
    for t in (vulnerability_priorities, consent_withdrawals):
        await conn.execute(delete(t).where(t.c.case_id == case_id))


# ------------------------------------------------------------------ views --

views = MetaData()

cases = case_table(
    "reintegration_cases",
    views,
    Column("programme_id", String(100), nullable=False),
    Column("office", String(100)),
    Column("destination_country", String(2)),
    Column("destination_region", String(100)),
    Column("arrived_on", Date),
    Column("decision", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("plan", JSON),
    Column("plan_total", Money),
    Column("plan_currency", String(3)),
    Column("plan_agreed_at", DateTime(timezone=True)),
    Column("plan_days_after_arrival", Integer),
    Column("plan_late", Boolean),
    Column("disbursed_total", Money, nullable=False, default=Decimal(0)),
    Column("completed_on", Date),
)


def _entries(name: str, *columns: Column[Any]) -> Table:
    """A case's entries, one row per event (``tables.case_entries``), numbered ``entry_no``."""
    return case_entries(name, views, *columns, number="entry_no", event_id=True)


ledger = _entries(
    "reintegration_ledger",
    Column("programme_id", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("amount", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("method", String(100), nullable=False),
    Column("disbursed_on", Date, nullable=False),
)

referrals = _entries(
    "reintegration_referrals",
    Column("organisation_id", String(100), nullable=False),
    Column("service", String(50), nullable=False),
    Column("referred_on", Date, nullable=False),
)

monitoring_visits = case_table(
    "reintegration_monitoring_visits",
    views,
    Column("due_month", Integer, primary_key=True),
    Column("office", String(100), index=True),
    Column("due_on", Date, nullable=False),
    Column("visited_on", Date),
    Column("notes", JSON),  # an Encrypted value: decrypted per request, unreadable once erased
)

sustainability_scores = case_table(
    "reintegration_sustainability_scores",
    views,
    Column("stage", String(10), primary_key=True),
    Column("economic", Float, nullable=False),
    Column("social", Float, nullable=False),
    Column("psychosocial", Float, nullable=False),
    Column("composite", Float, nullable=False),
    Column("sustainable", Boolean, nullable=False),
    Column("scored_on", Date, nullable=False),
)

# Where each transferred case is now (avrr_events.transfers): new rows are filed there.
case_transfers = transfers.case_transfers_table("reintegration_case_transfers", views)

# Non-personal statistics: kept when a case is erased.
programme_totals = Table(
    "reintegration_programme_totals",
    views,
    Column("programme_id", String(100), primary_key=True),
    Column("currency", String(3)),
    Column("granted", Integer, nullable=False, default=0),
    Column("waitlisted", Integer, nullable=False, default=0),
    Column("not_offered", Integer, nullable=False, default=0),
    Column("completed", Integer, nullable=False, default=0),
    Column("withdrawn", Integer, nullable=False, default=0),
    Column("plans_agreed", Integer, nullable=False, default=0),
    Column("plans_late", Integer, nullable=False, default=0),
    Column("disbursements", Integer, nullable=False, default=0),
    Column("disbursed_total", Money, nullable=False, default=Decimal(0)),
    Column("cash_total", Money, nullable=False, default=Decimal(0)),
    Column("in_kind_total", Money, nullable=False, default=Decimal(0)),
)

PER_CASE_TABLES = (cases, ledger, referrals, monitoring_visits, sustainability_scores)


class ReintegrationViews(Projection):
    """Cases, plans, ledger, referrals, monitoring schedule, scores and programme totals."""

    name = "reintegration_views"
    metadata = views

    def __init__(self, catalogue: ProgrammeCatalogue) -> None:
        self.catalogue = catalogue

    async def _decided(
        self, conn: AsyncConnection, event: ReintegrationEligibilityDecided, envelope: Envelope
    ) -> None:
        row = await case_row(conn, cases, event.case_id)
        if row is None:
            office = await transfers.office_now(conn, case_transfers, event.case_id, event.office)
            await insert_from_event(
                conn,
                cases,
                event,
                office=office,
                status=event.decision,
                disbursed_total=Decimal(0),
            )
            await _count(conn, event.programme_id, **{event.decision: 1})
            arrived_on = event.arrived_on
        else:  # granted from the waitlist
            await conn.execute(
                update(cases)
                .where(cases.c.case_id == event.case_id)
                .values(
                    decision=event.decision,
                    status=event.decision,
                    priority=event.priority,
                    reason=event.reason,
                    decided_at=event.decided_at,
                )
            )
            # a waiting case granted or re-prioritised, a case not offered reconsidered
            changes = {event.decision: 1}
            if row.status in ("waitlisted", "not_offered"):
                changes[row.status] = changes.get(row.status, 0) - 1
            if row.status == "granted":  # not expected: a grant is not revised
                changes["granted"] = changes.get("granted", 0) - 1
            await _count(conn, event.programme_id, **changes)
            office, arrived_on = row.office, row.arrived_on
        programme = self.catalogue.programme(event.programme_id)
        newly_granted = event.decision == "granted" and (row is None or row.status != "granted")
        if newly_granted and programme is not None and arrived_on is not None:
            await conn.execute(
                monitoring_visits.insert(),
                [
                    {
                        "case_id": event.case_id,
                        "due_month": v.due_month,
                        "office": office,
                        "due_on": v.due_on,
                    }
                    for v in monitoring_schedule(arrived_on, programme.monitoring_months)
                ],
            )

    async def _plan(
        self, conn: AsyncConnection, event: ReintegrationPlanAgreed, envelope: Envelope
    ) -> None:
        row = await case_row(conn, cases, event.case_id)
        total = sum((c.budget.amount for c in event.components), Decimal(0))
        await conn.execute(
            update(cases)
            .where(cases.c.case_id == event.case_id)
            .values(
                plan=[c.model_dump(mode="json") for c in event.components],
                plan_total=total,
                plan_currency=event.components[0].budget.currency if event.components else None,
                plan_agreed_at=event.agreed_at,
                plan_days_after_arrival=event.days_after_arrival,
                plan_late=event.late,
            )
        )
        if row is not None and row.plan is None:
            await _count(conn, row.programme_id, plans_agreed=1, plans_late=int(event.late))

    async def _disbursed(
        self, conn: AsyncConnection, event: AssistanceDisbursed, envelope: Envelope
    ) -> None:
        await insert_from_event(conn, ledger, event, event_id=envelope.id)
        await conn.execute(
            update(cases)
            .where(cases.c.case_id == event.case_id)
            .values(disbursed_total=cases.c.disbursed_total + event.amount)
        )
        await _ensure_totals(conn, event.programme_id)
        t = programme_totals
        kind_column = t.c.cash_total if event.kind == "cash" else t.c.in_kind_total
        await conn.execute(
            update(t)
            .where(t.c.programme_id == event.programme_id)
            .values(
                {
                    t.c.currency: event.currency,
                    t.c.disbursements: t.c.disbursements + 1,
                    t.c.disbursed_total: t.c.disbursed_total + event.amount,
                    kind_column: kind_column + event.amount,
                }
            )
        )

    async def _referred(
        self, conn: AsyncConnection, event: ServiceReferralMade, envelope: Envelope
    ) -> None:
        await insert_from_event(conn, referrals, event, event_id=envelope.id)

    async def _visited(
        self, conn: AsyncConnection, event: MonitoringVisitRecorded, envelope: Envelope
    ) -> None:
        await conn.execute(
            update(monitoring_visits)
            .where(
                monitoring_visits.c.case_id == event.case_id,
                monitoring_visits.c.due_month == event.due_month,
            )
            .values(
                visited_on=event.visited_on,
                notes=event.notes.model_dump() if event.notes else None,
            )
        )

    async def _scored(
        self, conn: AsyncConnection, event: SustainabilityScored, envelope: Envelope
    ) -> None:
        await insert_from_event(conn, sustainability_scores, event)

    async def _completed(
        self, conn: AsyncConnection, event: ReintegrationCompleted, envelope: Envelope
    ) -> None:
        row = await case_row(conn, cases, event.case_id)
        await conn.execute(
            update(cases)
            .where(cases.c.case_id == event.case_id)
            .values(status="completed", completed_on=event.completed_on)
        )
        if row is not None:
            await _count(conn, row.programme_id, completed=1)

    async def _stopped(
        self, conn: AsyncConnection, event: ReintegrationStopped, envelope: Envelope
    ) -> None:
        row = await case_row(conn, cases, event.case_id)
        if row is not None and row.status not in ("withdrawn", "completed"):
            changes = {"withdrawn": 1}
            if row.status == "waitlisted":
                changes["waitlisted"] = -1
            await _count(conn, row.programme_id, **changes)
        if event.reason == "erased":
            for table in PER_CASE_TABLES:
                await conn.execute(delete(table).where(table.c.case_id == event.case_id))
        elif row is not None:
            await conn.execute(
                update(cases).where(cases.c.case_id == event.case_id).values(status="withdrawn")
            )

    async def _reopened(
        self, conn: AsyncConnection, event: ReintegrationReopened, envelope: Envelope
    ) -> None:
        """The withdrawn case reopened: it reads as it stood before the stop (its decision,
        or completed), counted as such again; a decision taken again follows (``_decided``)."""
        row = await case_row(conn, cases, event.case_id)
        if row is None or row.status != "withdrawn":
            return  # stopped before its arrival: no row yet
        status = "completed" if row.completed_on is not None else row.decision
        if status != "completed":  # a completed case was not counted withdrawn (_stopped)
            changes = {"withdrawn": -1}
            if status == "waitlisted":
                changes["waitlisted"] = 1
            await _count(conn, row.programme_id, **changes)
        await conn.execute(
            update(cases).where(cases.c.case_id == event.case_id).values(status=status)
        )

    async def _transferred(
        self, conn: AsyncConnection, event: TransferAccepted, envelope: Envelope
    ) -> None:
        """Intake's transfer accepted: the case and its visits are the receiving office's."""
        await transfers.follow(conn, event, cases, monitoring_visits, transferred=case_transfers)

    handlers = {
        ReintegrationEligibilityDecided: _decided,
        ReintegrationPlanAgreed: _plan,
        AssistanceDisbursed: _disbursed,
        ServiceReferralMade: _referred,
        MonitoringVisitRecorded: _visited,
        SustainabilityScored: _scored,
        ReintegrationCompleted: _completed,
        ReintegrationStopped: _stopped,
        ReintegrationReopened: _reopened,
        TransferAccepted: _transferred,
    }


async def _ensure_totals(conn: AsyncConnection, programme_id: str) -> None:
    t = programme_totals
    exists = await conn.scalar(select(t.c.programme_id).where(t.c.programme_id == programme_id))
    if exists is None:
        await conn.execute(
            t.insert().values(
                programme_id=programme_id,
                granted=0,
                waitlisted=0,
                not_offered=0,
                completed=0,
                withdrawn=0,
                plans_agreed=0,
                plans_late=0,
                disbursements=0,
                disbursed_total=Decimal(0),
                cash_total=Decimal(0),
                in_kind_total=Decimal(0),
            )
        )


async def _count(conn: AsyncConnection, programme_id: str, **deltas: int) -> None:
    await _ensure_totals(conn, programme_id)
    t = programme_totals
    await conn.execute(
        update(t)
        .where(t.c.programme_id == programme_id)
        .values({t.c[name]: t.c[name] + delta for name, delta in deltas.items()})
    )


# ---------------------------------------------------------------- queries --


async def case_view(conn: AsyncConnection | Database, case_id: str) -> dict[str, Any] | None:
    row = await case_row(conn, cases, case_id)
    return None if row is None else dict(row._mapping)


_VIEWS_WITH_OFFICES: dict[Table, PreparedRead] = {}


async def case_view_and_offices(
    conn: AsyncConnection | Database, handovers: Table, case_id: str
) -> tuple[dict[str, Any], frozenset[str]] | None:
    """The case's view and the offices that work it (its movement's and, once handed
    over in ``handovers``, the receiving office), in one statement; None: no such case.

    Office scoping of the case's detail reads it: the office checked and the view served
    are then one round trip and one snapshot.
    """
    read = _VIEWS_WITH_OFFICES.get(handovers)
    if read is None:
        h = handovers.c
        read = _VIEWS_WITH_OFFICES[handovers] = PreparedRead(
            select(cases, h.receiving_office)
            .select_from(cases.outerjoin(handovers, h.case_id == cases.c.case_id))
            .where(cases.c.case_id == bindparam("case_id"))
        )
    row = await read.first(conn, case_id=case_id)
    if row is None:
        return None
    view = {column.key: getattr(row, column.key) for column in cases.c}
    offices = frozenset(office for office in (row.office, row.receiving_office) if office)
    return view, offices


async def _case_rows(
    conn: AsyncConnection, table: Table, case_id: str, *order: Any
) -> list[dict[str, Any]]:
    """One case's rows of a per-case table, in ``order``."""
    rows = await conn.execute(select(table).where(table.c.case_id == case_id).order_by(*order))
    return [dict(r._mapping) for r in rows]


async def ledger_entries(conn: AsyncConnection, case_id: str) -> list[dict[str, Any]]:
    return await _case_rows(conn, ledger, case_id, ledger.c.disbursed_on, ledger.c.entry_no)


async def case_referrals(conn: AsyncConnection, case_id: str) -> list[dict[str, Any]]:
    t = referrals
    return await _case_rows(conn, t, case_id, t.c.referred_on, t.c.entry_no)


async def case_visits(conn: AsyncConnection, case_id: str) -> list[dict[str, Any]]:
    return await _case_rows(conn, monitoring_visits, case_id, monitoring_visits.c.due_month)


async def case_scores(conn: AsyncConnection, case_id: str) -> list[dict[str, Any]]:
    t = sustainability_scores
    return await _case_rows(conn, t, case_id, t.c.scored_on)


async def totals(conn: AsyncConnection, programme_id: str) -> dict[str, Any] | None:
    t = programme_totals
    row = (await conn.execute(select(t).where(t.c.programme_id == programme_id))).first()
    return None if row is None else dict(row._mapping)


async def waitlist(conn: AsyncConnection, programme_id: str) -> list[dict[str, Any]]:
    """Waiting cases, the next to be granted first (priority, then arrival)."""
    rows = await conn.execute(
        select(cases.c.case_id, cases.c.priority, cases.c.arrived_on, cases.c.office)
        .where(cases.c.programme_id == programme_id, cases.c.status == "waitlisted")
        .order_by(cases.c.priority.desc(), cases.c.arrived_on, cases.c.case_id)
    )
    return [dict(r._mapping) for r in rows]


conflicts = MetaData()
withdrawal_conflicts = conflicts_table(conflicts, "reintegration_withdrawal_conflicts")


class WithdrawalConflicts(ConflictList):
    """The supervisors' list of disbursements that landed after a withdrawal."""

    name = "reintegration_withdrawal_conflicts"
    event_types = frozenset(
        {
            "avrr.reintegration.WithdrawalConflictDetected",
            "avrr.reintegration.WithdrawalConflictResolved",
            TransferAccepted.event_type,
        }
    )
    metadata = conflicts
    table = withdrawal_conflicts
    transferred = case_transfers


def projections(catalogue: ProgrammeCatalogue) -> Sequence[Projection]:
    return [ReintegrationViews(catalogue), WithdrawalConflicts()]
