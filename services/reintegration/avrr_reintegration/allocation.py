"""The ProgrammeAllocation aggregate: a programme's places, waitlist and disbursed funds.

Stream ``programme-<programme_id>``. Why a stream of its own: the limits are
programme-wide (places, budget cap), so two decisions on two different cases
can together break them although each case's own stream is consistent.
Every decision that consumes a place or money appends to this stream in the
SAME transaction as the case's events, with optimistic concurrency on both;
two concurrent decisions then cannot both append the same programme version,
and the loser re-decides on the new totals (see commands.py). A database
CHECK on a counter row would also hold the cap, but it would put a second
source of truth next to the events; here the cap is a fact of the history
and is rebuilt with it.

Ordering: the programme stream is appended before the case streams in every
transaction, so writers queue on one row first and can never deadlock on two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from avrr_events import Aggregate, DomainEvent
from avrr_events.notices import N_
from avrr_events.registry import declared_events
from avrr_reintegration.notices import worded
from avrr_reintegration.programmes import Programme
from avrr_reintegration.reintegration import Amount, Currency, ReintegrationRuleViolation

ReleaseReason = Literal["completed", "withdrawn", "erased"]


class ProgrammePlaceAllocated(DomainEvent):
    event_type = "avrr.reintegration.ProgrammePlaceAllocated"

    programme_id: str
    case_id: str
    priority: int
    allocated_at: datetime


class ProgrammeCaseWaitlisted(DomainEvent):
    event_type = "avrr.reintegration.ProgrammeCaseWaitlisted"

    programme_id: str
    case_id: str
    priority: int
    arrived_at: datetime


class ProgrammePlaceReleased(DomainEvent):
    event_type = "avrr.reintegration.ProgrammePlaceReleased"

    programme_id: str
    case_id: str
    reason: ReleaseReason
    released_at: datetime


class ProgrammeWaitlistLeft(DomainEvent):
    event_type = "avrr.reintegration.ProgrammeWaitlistLeft"

    programme_id: str
    case_id: str
    reason: ReleaseReason
    left_at: datetime


class ProgrammeFundsDisbursed(DomainEvent):
    event_type = "avrr.reintegration.ProgrammeFundsDisbursed"

    programme_id: str
    case_id: str
    amount: Amount
    currency: Currency


PROGRAMME_EVENTS: tuple[type[DomainEvent], ...] = declared_events(globals(), DomainEvent)


@dataclass(frozen=True, order=True)
class _Waiting:
    # Sort key: highest priority first, then the earliest arrival, then the case id.
    neg_priority: int
    arrived_at: datetime
    case_id: str


@dataclass
class _State:
    holders: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, _Waiting] = field(default_factory=dict)
    disbursed: Decimal = Decimal(0)


class ProgrammeAllocation(Aggregate):
    """One programme's places and funds."""

    stream_type = "programme"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.state = _State()

    @property
    def subject(self) -> str:
        return f"programme:{self.id}"

    def when(self, event: DomainEvent) -> None:
        s = self.state
        match event:
            case ProgrammePlaceAllocated():
                s.waiting.pop(event.case_id, None)
                s.holders[event.case_id] = event.priority
            case ProgrammeCaseWaitlisted():
                s.waiting[event.case_id] = _Waiting(
                    -event.priority, event.arrived_at, event.case_id
                )
            case ProgrammePlaceReleased():
                s.holders.pop(event.case_id, None)
            case ProgrammeWaitlistLeft():
                s.waiting.pop(event.case_id, None)
            case ProgrammeFundsDisbursed():
                s.disbursed += event.amount

    # -- queries

    def has_free_place(self, programme: Programme) -> bool:
        return programme.places is None or len(self.state.holders) < programme.places

    def waitlist(self) -> list[str]:
        """Waiting case ids, next to be granted first."""
        return [w.case_id for w in sorted(self.state.waiting.values())]

    @property
    def disbursed(self) -> Decimal:
        return self.state.disbursed

    # -- decisions

    def admit(
        self, case_id: str, priority: int, arrived_at: datetime, programme: Programme
    ) -> Literal["granted", "waitlisted"]:
        """Give the arriving case a place if one is free, else put it on the waitlist."""
        if case_id in self.state.holders or case_id in self.state.waiting:
            raise ReintegrationRuleViolation(
                wording=worded(N_("case %(case)s was already admitted"), case=case_id)
            )
        if self.has_free_place(programme):
            self._allocate(case_id, priority, arrived_at)
            return "granted"
        self._waitlist(case_id, priority, arrived_at)
        return "waitlisted"

    def reprioritise(self, case_id: str, priority: int) -> None:
        """A waiting case's priority changed (a later vulnerability assessment)."""
        waiting = self.state.waiting.get(case_id)
        if waiting is None:
            raise ReintegrationRuleViolation(
                wording=worded(N_("case %(case)s is not waiting"), case=case_id)
            )
        self._waitlist(case_id, priority, waiting.arrived_at)

    def release(
        self, case_id: str, reason: ReleaseReason, at: datetime, programme: Programme
    ) -> str | None:
        """The case leaves (place or waitlist); return the waiting case that gets its place."""
        if case_id in self.state.waiting:
            self.record(
                ProgrammeWaitlistLeft(
                    programme_id=self.id, case_id=case_id, reason=reason, left_at=at
                )
            )
            return None
        if case_id not in self.state.holders:
            return None
        self.record(
            ProgrammePlaceReleased(
                programme_id=self.id, case_id=case_id, reason=reason, released_at=at
            )
        )
        return self.grant_next(at, programme)

    def grant_next(self, at: datetime, programme: Programme) -> str | None:
        """Give a free place to the highest-priority waiting case, if any."""
        if not self.state.waiting or not self.has_free_place(programme):
            return None
        nxt = min(self.state.waiting.values())
        self._allocate(nxt.case_id, -nxt.neg_priority, at)
        return nxt.case_id

    def commit_funds(self, case_id: str, amount: Decimal, programme: Programme) -> None:
        """Count a disbursement against the programme-wide cap; refuse one beyond it."""
        cap = programme.budget
        if cap is not None and self.state.disbursed + amount > cap:
            left = cap - self.state.disbursed
            raise ReintegrationRuleViolation(
                wording=worded(
                    N_(
                        "%(amount)s %(currency)s exceeds the programme's remaining budget "
                        "(%(left)s of %(cap)s %(currency)s)"
                    ),
                    amount=str(amount),
                    currency=programme.currency,
                    left=str(left),
                    cap=str(cap),
                )
            )
        self.record(
            ProgrammeFundsDisbursed(
                programme_id=self.id, case_id=case_id, amount=amount, currency=programme.currency
            )
        )

    def _allocate(self, case_id: str, priority: int, at: datetime) -> None:
        """Give the case a place: on arrival, or from the waitlist when one frees up."""
        self.record(
            ProgrammePlaceAllocated(
                programme_id=self.id, case_id=case_id, priority=priority, allocated_at=at
            )
        )

    def _waitlist(self, case_id: str, priority: int, arrived_at: datetime) -> None:
        """Put the case on the waitlist, or again with a new priority (its arrival stays)."""
        self.record(
            ProgrammeCaseWaitlisted(
                programme_id=self.id, case_id=case_id, priority=priority, arrived_at=arrived_at
            )
        )
