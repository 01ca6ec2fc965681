"""Retention: a case's personal data is crypto-shredded when the retention period after its
closure is over (IOM's data protection principles: kept no longer than its purpose needs).

When a case is closed. The phase that ends a case may be any service's, and
intake learns of each from the events it already reads for the timeline:

- final closures, after which nothing more happens to the case anywhere:
  intake's CaseWithdrawn and CaseClosed (decided not to apply), eligibility's
  EligibilityDecided with ``eligible: false`` (no programme: the return cannot
  be cleared) and AssessmentClosed, travel's MovementCancelled,
  reintegration's ReintegrationCompleted and ReintegrationStopped;
- a reopening: intake's CaseReopened (the person came back) stops the clock
  whatever closed the case, final closures included; until intake's next
  ReturnRequested or ReturnResumed, the other services' closures are those of
  what the case did before it ended (a withdrawal's, arriving late) and do not
  start it again (intake's own withdrawal or closure does);
- a provisional closure: reintegration's ReintegrationEligibilityDecided
  ``not_offered`` after the arrival (the returnee got no reintegration
  assistance, so the return was the end of it), which a later decision
  (``granted``, ``waitlisted``) on reconsideration reopens.

A due diligence rejection does not close a case: it can be fixed and the
checklist submitted again. A case nobody closes (a referral abandoned while
open) is not erased by this rule.

The retention clock starts at the latest closing event (a withdrawal is
followed by the other services' closures within moments; the last of them is
when the case stopped everywhere). ``CaseClosures`` keeps that moment per
case (table ``intake_case_closures``, rebuilt from the journal like any read
model); ``RetentionSweep`` erases, through the Case aggregate, every case
closed for longer than ``AVRR_RETENTION_DAYS``: intake shreds the keys and
records PersonalDataErased with reason ``retention``, which the other
services consume to shred what they keep, exactly as for an erasure a data
protection officer asks for. The sweep runs as a periodic job
(``avrr_events.periodic``): one replica at a time, idempotent (the aggregate
refuses a second erasure; the read model marks erased cases when the event
comes back through the consumer), and after a restart it finds whatever is
still due.

What stays after an erasure: only the wrapped (master-key encrypted) data key
in PostgreSQL's free page space, WAL and physical backups until they are
overwritten or age out. The sweep runs VACUUM on the key table after
shredding so that deleted key rows leave the table's pages at once rather than
whenever autovacuum's threshold is reached; the residue beyond that is
unreadable without the master key, and rotating the master key (re-wrapping
the live keys, destroying the old one) retires it for good.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from prometheus_client import Counter
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import DomainEvent, Envelope, Projection
from avrr_events.commands import CommandContext, Principal
from avrr_events.periodic import PeriodicJob
from avrr_events.personal import SqlKeyStore
from avrr_events.problems import DomainRuleViolation, NotFound
from avrr_events.projections import case_row
from avrr_events.store import ConcurrencyError
from avrr_events.tables import case_table
from avrr_events.web.service import ServiceRuntime
from avrr_intake import observed
from avrr_intake.case import (
    CaseClosed,
    CaseReopened,
    CaseWithdrawn,
    PersonalDataErased,
    ReturnRequested,
    ReturnResumed,
)
from avrr_intake.commands import IntakeCommands
from avrr_intake.settings import IntakeSettings
from avrr_intake.timeline import utc

log = logging.getLogger(__name__)

metadata = MetaData()

closures = case_table(
    "intake_case_closures",
    metadata,
    # The latest closing event's time; NULL while the case is open (or reopened).
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("closed_by", String(200), nullable=True),  # that event's type
    Column("final", Boolean, nullable=False, default=False),
    Column("erased_at", DateTime(timezone=True), nullable=True),
)
Index("intake_case_closures_due_idx", closures.c.closed_at)

Bearing = Literal["final", "provisional", "reopened", "revived", "resumed"]


def _final(_event: DomainEvent) -> Bearing | None:
    return "final"


def _revived(_event: DomainEvent) -> Bearing | None:
    return "revived"


def _resumed(_event: DomainEvent) -> Bearing | None:
    return "resumed"


def _eligibility(event: observed.EligibilityDecided) -> Bearing | None:
    return None if event.eligible else "final"


def _reintegration(event: observed.ReintegrationEligibilityDecided) -> Bearing | None:
    return "provisional" if event.decision == "not_offered" else "reopened"


# How each event that can end a case bears on its closure (the decisions by their values).
BEARINGS: dict[type[DomainEvent], Callable[[Any], Bearing | None]] = {
    CaseWithdrawn: _final,
    CaseClosed: _final,
    CaseReopened: _revived,
    ReturnRequested: _resumed,
    ReturnResumed: _resumed,
    observed.AssessmentClosed: _final,
    observed.MovementCancelled: _final,
    observed.ReintegrationCompleted: _final,
    observed.ReintegrationStopped: _final,
    observed.EligibilityDecided: _eligibility,
    observed.ReintegrationEligibilityDecided: _reintegration,
}

# closed_by of a reopened case until its return goes on: the other services' closures
# arriving meanwhile are of what the case did before (a withdrawal's), not a new end.
REVIVED = CaseReopened.event_type
# Intake's own ends of a case: they count whenever they come.
INTAKE_ENDS: tuple[type[DomainEvent], ...] = (CaseWithdrawn, CaseClosed)

# The staff member the retention sweep's erasures are recorded as (erased_by, audit actor).
RETENTION_ACTOR = "system:retention"


def closing_of(event: DomainEvent) -> Bearing | None:
    """How ``event`` bears on the case's closure (a ``Bearing``), or None."""
    bearing = BEARINGS.get(type(event))
    return None if bearing is None else bearing(event)


class CaseClosures(Projection):
    """When each case closed (or reopened), and whether its people are erased."""

    name = "intake_case_closures"
    metadata = metadata

    async def _row(
        self, conn: AsyncConnection, case_id: str
    ) -> tuple[datetime | None, bool, str | None]:
        """The case's closed_at, final and closed_by, its row locked (created, open, if there
        is none)."""
        c = closures.c
        # Locked: another replica may hold a different topic's partition of the same case.
        row = (
            await conn.execute(select(closures).where(c.case_id == case_id).with_for_update())
        ).first()
        if row is None:
            await conn.execute(closures.insert().values(case_id=case_id, final=False))
            return None, False, None
        return row.closed_at, row.final, row.closed_by

    async def _set(self, conn: AsyncConnection, case_id: str, **values: object) -> None:
        if values:
            await conn.execute(
                update(closures).where(closures.c.case_id == case_id).values(**values)
            )

    async def bear(self, conn: AsyncConnection, event: Any, envelope: Envelope) -> None:
        """An event that may end the case: close it, provisionally close it or reopen it."""
        closed_at, final, closed_by = await self._row(conn, event.case_id)
        at = utc(envelope.time)
        bearing = closing_of(event)
        if closed_by == REVIVED and bearing != "revived" and not isinstance(event, INTAKE_ENDS):
            if bearing == "resumed":  # the reopened case goes on: closures count again
                await self._set(conn, event.case_id, closed_by=None)
            return
        match bearing:
            case "final":
                latest = at if closed_at is None else max(utc(closed_at), at)
                await self._set(
                    conn, event.case_id, closed_at=latest, closed_by=event.event_type, final=True
                )
            case "provisional" if not final:
                await self._set(conn, event.case_id, closed_at=at, closed_by=event.event_type)
            case "reopened" if not final:
                await self._set(conn, event.case_id, closed_at=None, closed_by=None)
            case "revived":
                await self._set(conn, event.case_id, closed_at=None, closed_by=REVIVED, final=False)

    async def erase(
        self, conn: AsyncConnection, event: PersonalDataErased, envelope: Envelope
    ) -> None:
        """The case's people are erased: the sweep has nothing left to do for it."""
        await self._row(conn, event.case_id)
        await self._set(conn, event.case_id, erased_at=utc(envelope.time))

    handlers = {**dict.fromkeys(BEARINGS, bear), PersonalDataErased: erase}


async def due_cases(conn: AsyncConnection, cutoff: datetime, limit: int) -> list[str]:
    """Cases closed at or before ``cutoff`` whose people are not erased yet, oldest first."""
    c = closures.c
    stmt = (
        select(c.case_id)
        .where(c.closed_at.is_not(None), c.closed_at <= cutoff, c.erased_at.is_(None))
        .order_by(c.closed_at, c.case_id)
        .limit(limit)
    )
    return [r.case_id for r in await conn.execute(stmt)]


async def closure_of(conn: AsyncConnection, case_id: str) -> dict[str, object] | None:
    """The closure row of a case as a dict (None before any closing event)."""
    row = await case_row(conn, closures, case_id)
    return None if row is None else dict(row._mapping)


@dataclass(eq=False)
class RetentionSweep:
    """Erases every case whose retention period after closure is over (a periodic job's work)."""

    runtime: ServiceRuntime
    commands: IntakeCommands
    period: timedelta
    batch_size: int = field(default=500, kw_only=True)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), kw_only=True)

    def __post_init__(self) -> None:
        self.context = CommandContext(Principal(user_id=RETENTION_ACTOR))
        self.erased = Counter(
            "avrr_retention_erasures",
            "cases whose personal data was erased because their retention period was over",
            ["service"],
            registry=self.runtime.metrics.registry,
        )

    async def __call__(self) -> int:
        """Erase up to ``batch_size`` due cases; return how many were erased."""
        cutoff = self.clock() - self.period
        async with self.runtime.db.engine.connect() as conn:
            due = await due_cases(conn, cutoff, self.batch_size)
        erased = 0
        for case_id in due:
            if await self._erase(case_id):
                erased += 1
        if erased:
            await self._vacuum_keys()
        return erased

    async def _erase(self, case_id: str) -> bool:
        try:
            await self.commands.erase_personal_data(case_id, self.context, reason="retention")
        except DomainRuleViolation:
            # Erased already (a data protection officer, or this sweep before the read
            # model saw it): nothing to do, the closure row is marked when the event arrives.
            return False
        except NotFound:
            log.warning("retention: case %s is closed elsewhere but unknown to intake", case_id)
            return False
        except ConcurrencyError:
            return False  # a command on the case at this very moment: the next sweep retries
        await self.runtime.audit.record(
            actor=RETENTION_ACTOR,
            action="write",
            route="retention: erase personal data",
            outcome=200,
            case_id=case_id,
        )
        self.erased.labels(self.runtime.name).inc()
        log.info("retention: personal data of case %s erased", case_id)
        return True

    async def _vacuum_keys(self) -> None:
        """Clear the deleted key rows out of the key table's pages now, not at autovacuum's whim.

        VACUUM cannot run inside a transaction, hence the autocommit connection;
        it takes no lock that blocks readers or writers of the keys.
        """
        keys = self.runtime.cipher.keys
        if not isinstance(keys, SqlKeyStore) or not keys.db.is_postgres:
            return
        async with keys.db.autocommit() as conn:
            await conn.execute(text("VACUUM subject_keys"))


def retention_job(runtime: ServiceRuntime) -> PeriodicJob:
    """The retention sweep of this runtime, on the schedule of intake's settings."""
    settings = IntakeSettings()
    sweep = RetentionSweep(
        runtime,
        runtime.commands,
        timedelta(days=settings.retention_days),
        batch_size=settings.retention_batch,
    )
    return PeriodicJob(runtime.db, "retention", sweep, interval=settings.retention_sweep_interval)
