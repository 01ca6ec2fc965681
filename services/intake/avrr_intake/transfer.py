"""Transfer: a case moves from the office that holds it to another office, if that one accepts.

The office holding the case asks (TransferRequested, with a coded reason and
the caseworker's note encrypted under the principal's key); the receiving
office answers within ``ANSWER_DAYS`` days, accepting (TransferAccepted: from
then on the case is that office's, in every list and for every case route) or
rejecting with its reason (TransferRejected). Without an answer the request
lapses (TransferExpired, recorded by a periodic job). Every step is an event of
the case's own stream, so one history says who asked, who answered, when and why.

Races are the stream's: an accept, a reject and the expiry of the same request
append at the version they read, so of two at the same moment one wins and the
other gets 409 (412 with If-Match); a later one finds the request answered
(409, ``Conflict``). The deadline is the aggregate's: an answer after
``expires_at`` is refused even before the job recorded the expiry.

Who: the request is by staff of the office that holds the case; the answer by
a supervisor of the receiving office (the office itself: a headquarters
account, which reads every office, does not answer for it), which cannot read
the case before it accepts (it sees the request on ``GET /transfers``: ids,
offices, reason, dates; no personal data). Any other office, whatever its
role, gets 403.

``Transfers`` keeps one row per request (table ``intake_transfers``): the
receiving office's list, and what the expiry job finds due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import (
    Column,
    ColumnElement,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    and_,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import DomainEvent, Encrypted, Envelope, Projection
from avrr_events.commands import CommandContext, Principal
from avrr_events.periodic import PeriodicJob
from avrr_events.problems import Conflict, DomainRuleViolation, Forbidden, NotFound
from avrr_events.projections import page
from avrr_events.store import ConcurrencyError
from avrr_events.web.service import ServiceRuntime
from avrr_intake.notices import N_, worded
from avrr_intake.referral import CaseId, OfficeId

log = logging.getLogger(__name__)

# How long the receiving office has to answer before the request lapses.
ANSWER_DAYS = 7
# How often the expiry job looks for requests past their deadline (seconds).
EXPIRY_SWEEP_INTERVAL = 300.0
# The actor the expiry job's events and audit entries are recorded as.
EXPIRY_ACTOR = "system:transfer-expiry"

# Why the holding office hands the case on (coded: counted without reading anyone's words).
TransferReason = Literal[
    "person_moved",
    "closer_to_services",
    "specialised_protection",
    "office_capacity",
    "other",
]
# Why the receiving office declines.
RejectionReason = Literal[
    "outside_coverage",
    "no_capacity",
    "information_missing",
    "other",
]
TransferStatus = Literal["requested", "accepted", "rejected", "expired"]


class TransferRequested(DomainEvent):
    """The office holding the case asks another office to take it over."""

    event_type = "avrr.intake.TransferRequested"

    case_id: CaseId
    transfer_id: str = Field(max_length=100)
    from_office: OfficeId
    to_office: OfficeId
    reason: TransferReason
    note: Encrypted | None = None
    recorded_by: str = Field(max_length=200)
    requested_at: datetime
    expires_at: datetime


class TransferAccepted(DomainEvent):
    """The receiving office takes the case over: from now on it is that office's case."""

    event_type = "avrr.intake.TransferAccepted"

    case_id: CaseId
    transfer_id: str = Field(max_length=100)
    from_office: OfficeId
    to_office: OfficeId
    note: Encrypted | None = None
    recorded_by: str = Field(max_length=200)
    accepted_at: datetime


class TransferRejected(DomainEvent):
    """The receiving office declines: the case stays where it is."""

    event_type = "avrr.intake.TransferRejected"

    case_id: CaseId
    transfer_id: str = Field(max_length=100)
    from_office: OfficeId
    to_office: OfficeId
    reason: RejectionReason
    note: Encrypted | None = None
    recorded_by: str = Field(max_length=200)
    rejected_at: datetime


class TransferExpired(DomainEvent):
    """Nobody answered within ``ANSWER_DAYS`` days: the request lapsed, the case stays."""

    event_type = "avrr.intake.TransferExpired"

    case_id: CaseId
    transfer_id: str = Field(max_length=100)
    from_office: OfficeId
    to_office: OfficeId
    recorded_by: str = Field(max_length=200)
    expired_at: datetime


TRANSFER_EVENTS: tuple[type[DomainEvent], ...] = (
    TransferRequested,
    TransferAccepted,
    TransferRejected,
    TransferExpired,
)
Answer = TransferAccepted | TransferRejected | TransferExpired


@dataclass(frozen=True)
class PendingTransfer:
    """The request of a case still awaiting its answer (the Case aggregate keeps one at most)."""

    transfer_id: str
    from_office: str
    to_office: str
    expires_at: datetime

    @staticmethod
    def of(event: TransferRequested) -> PendingTransfer:
        return PendingTransfer(
            event.transfer_id, event.from_office, event.to_office, event.expires_at
        )

    def lapsed(self, now: datetime) -> bool:
        return now >= self.expires_at

    def answerable(self, transfer_id: str, now: datetime) -> None:
        """409 unless this is the request named and its deadline has not passed."""
        if transfer_id != self.transfer_id:
            raise Conflict(
                wording=worded(
                    N_("transfer %(transfer)s is not the one awaiting an answer"),
                    transfer=transfer_id,
                ),
                transfer_id=transfer_id,
            )
        if self.lapsed(now):
            raise Conflict(
                wording=worded(
                    N_("transfer %(transfer)s expired at %(expires_at)s without an answer"),
                    transfer=transfer_id,
                    expires_at=self.expires_at.isoformat(),
                ),
                transfer_id=transfer_id,
                transfer_status="expired",
            )


def ensure_receiving_office(principal: Principal, office: str) -> None:
    """403 unless ``office``, the office a request is addressed to, is literally one of the
    caller's: the issue gives the answer to the receiving office, so a headquarters account
    (offices ``*``, which reads every office) does not answer for it, nor does any other."""
    if office not in principal.offices:
        raise Forbidden(
            wording=worded(
                N_("only office %(office)s, to which the transfer is addressed, answers it"),
                office=office,
            )
        )


def no_pending(transfer_id: str) -> Conflict:
    """The refusal of an answer to a request that was answered (or lapsed) already."""
    return Conflict(
        wording=worded(
            N_("transfer %(transfer)s is not awaiting an answer (already answered or expired)"),
            transfer=transfer_id,
        ),
        transfer_id=transfer_id,
    )


def deadline(requested_at: datetime) -> datetime:
    return requested_at + timedelta(days=ANSWER_DAYS)


# ------------------------------------------------------------ read model --

metadata = MetaData()

transfers = Table(
    "intake_transfers",
    metadata,
    Column("transfer_id", String(100), primary_key=True),
    Column("case_id", String(100), nullable=False),
    Column("from_office", String(100), nullable=False),
    Column("to_office", String(100), nullable=False),
    Column("reason", String(50), nullable=False),
    Column("status", String(20), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=True),
    Column("answered_by", String(200), nullable=True),
)
Index("intake_transfers_case_idx", transfers.c.case_id)
Index("intake_transfers_due_idx", transfers.c.status, transfers.c.expires_at)
Index("intake_transfers_to_office_idx", transfers.c.to_office, transfers.c.status)


def _answered_at(event: Answer) -> datetime:
    if isinstance(event, TransferAccepted):
        return event.accepted_at
    if isinstance(event, TransferRejected):
        return event.rejected_at
    return event.expired_at


_STATUS: dict[type[DomainEvent], TransferStatus] = {
    TransferAccepted: "accepted",
    TransferRejected: "rejected",
    TransferExpired: "expired",
}


class Transfers(Projection):
    """One row per transfer request, with its answer once there is one."""

    name = "intake_transfers"
    metadata = metadata

    async def _requested(
        self, conn: AsyncConnection, event: TransferRequested, envelope: Envelope
    ) -> None:
        t = transfers.c
        await conn.execute(transfers.delete().where(t.transfer_id == event.transfer_id))
        await conn.execute(
            transfers.insert().values(
                transfer_id=event.transfer_id,
                case_id=event.case_id,
                from_office=event.from_office,
                to_office=event.to_office,
                reason=event.reason,
                status="requested",
                requested_at=event.requested_at,
                expires_at=event.expires_at,
            )
        )

    async def _answered(self, conn: AsyncConnection, event: Answer, envelope: Envelope) -> None:
        await conn.execute(
            update(transfers)
            .where(transfers.c.transfer_id == event.transfer_id)
            .values(
                status=_STATUS[type(event)],
                answered_at=_answered_at(event),
                answered_by=event.recorded_by,
            )
        )

    handlers = {
        TransferRequested: _requested,
        TransferAccepted: _answered,
        TransferRejected: _answered,
        TransferExpired: _answered,
    }


async def due_transfers(conn: AsyncConnection, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(case id, transfer id) of requests still unanswered at their deadline, oldest first."""
    t = transfers.c
    stmt = (
        select(t.case_id, t.transfer_id)
        .where(t.status == "requested", t.expires_at <= now)
        .order_by(t.expires_at, t.transfer_id)
        .limit(limit)
    )
    return [(r.case_id, r.transfer_id) for r in await conn.execute(stmt)]


async def transfer_rows(
    conn: AsyncConnection,
    *,
    offices: frozenset[str] | None,
    direction: Literal["incoming", "outgoing", "both"],
    status: TransferStatus | None,
    limit: int,
    offset: int,
) -> tuple[list[Any], int]:
    """A page of the transfers to (incoming) or from (outgoing) ``offices`` (None: every
    office), newest request first, and how many there are."""
    t = transfers.c
    sides: list[ColumnElement[bool]] = []
    if offices is not None:
        wanted = sorted(offices)
        if direction in ("incoming", "both"):
            sides.append(t.to_office.in_(wanted))
        if direction in ("outgoing", "both"):
            sides.append(t.from_office.in_(wanted))
    where: list[ColumnElement[bool]] = [or_(*sides)] if sides else []
    if status is not None:
        where.append(t.status == status)
    query = (
        select(transfers).where(and_(true(), *where)).order_by(t.requested_at.desc(), t.transfer_id)
    )
    return await page(conn, query, limit=limit, offset=offset)


# ---------------------------------------------------------------- expiry --

Expire = Callable[[str, str, datetime, CommandContext], Any]


@dataclass(eq=False)
class TransferExpiry:
    """Records the expiry of every request past its deadline (a periodic job's work).

    Idempotent: the aggregate expires only the request still pending, so a
    request answered meanwhile (or expired by another run) is skipped, and a
    command racing on the case makes this run skip it; the next run retries.
    """

    expire: Expire
    runtime: ServiceRuntime
    batch_size: int = field(default=500, kw_only=True)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), kw_only=True)

    def __post_init__(self) -> None:
        self.context = CommandContext(Principal(user_id=EXPIRY_ACTOR))

    async def __call__(self) -> int:
        now = self.clock()
        async with self.runtime.db.engine.connect() as conn:
            due = await due_transfers(conn, now, self.batch_size)
        expired = 0
        for case_id, transfer_id in due:
            try:
                await self.expire(case_id, transfer_id, now, self.context)
            except (Conflict, DomainRuleViolation, NotFound, ConcurrencyError):
                continue  # answered, expired already, or raced: nothing to do (or next run)
            expired += 1
            log.info("transfer %s of case %s expired without an answer", transfer_id, case_id)
        return expired


def expiry_job(runtime: ServiceRuntime) -> PeriodicJob:
    """The expiry job of this runtime (its command object's ``expire_transfer``)."""
    sweep = TransferExpiry(runtime.commands.expire_transfer, runtime)
    return PeriodicJob(runtime.db, "transfer-expiry", sweep, interval=EXPIRY_SWEEP_INTERVAL)
