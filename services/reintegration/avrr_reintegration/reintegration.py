"""The Reintegration aggregate (one per case) and the events it records.

Stream ``reintegration-<case_id>``. Its life: a decision on arrival (granted,
waitlisted or not offered; a waitlisted case is granted later when a place
frees up), a plan agreed with the returnee, disbursements against the plan's
budget, referrals, monitoring visits, sustainability scores at baseline and
end, completion. A withdrawal or an erasure stops it: no decision is taken on a
stopped case any more, unless intake reopens the withdrawn case (ReintegrationReopened):
before its arrival, the arrival then decides as for any case; after it, the case goes on
where it stood, with a place again (or on the waitlist) if it had or awaited one.

Events published under ``avrr.reintegration.*`` follow docs/events.md; the
extra fields marked *optional addition* are compatible additions that later
decisions of this aggregate need (the arrival facts, plan lateness).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from avrr_events import DomainEvent, Encrypted
from avrr_events.money import amount_schema
from avrr_events.notices import N_
from avrr_events.problems import DomainRuleViolation
from avrr_events.registry import declared_events
from avrr_events.withdrawal import (
    AggregateWithConflicts,
    ConflictCommand,
    WithdrawalConflictDetectedBase,
    WithdrawalConflictResolvedBase,
)
from avrr_reintegration.notices import worded
from avrr_reintegration.programmes import Programme

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
Amount = Annotated[
    Decimal,
    Field(gt=0, max_digits=14, decimal_places=2),
    WithJsonSchema(amount_schema(14, 2, positive=True)),
]
Decision = Literal["granted", "waitlisted", "not_offered"]
ComponentKind = Literal["economic", "social", "psychosocial"]
AssistanceKind = Literal["cash", "in_kind"]
# How assistance reaches the returnee. A closed list: statistics need it, and a
# free-text field would invite personal data ("paid to ...") into the ledger.
Method = Literal[
    "bank_transfer",
    "mobile_money",
    "cash_in_hand",
    "prepaid_card",
    "voucher",
    "goods_delivered",
    "paid_to_provider",
]
METHODS: dict[str, tuple[str, ...]] = {
    "cash": ("bank_transfer", "mobile_money", "cash_in_hand", "prepaid_card", "voucher"),
    "in_kind": ("goods_delivered", "paid_to_provider"),
}
Stage = Literal["baseline", "end"]
StopReason = Literal["withdrawn", "erased"]
CaseId = Annotated[str, Field(min_length=1, max_length=100)]
# The satisfaction question of the monitoring visits (issue 19): a coded scale, counted by
# intake's feedback report by office and visit.
Satisfaction = Annotated[
    int,
    Field(
        ge=1,
        le=5,
        description="asked at the 1- and 6-month visits: how satisfied the returnee is with "
        "the assistance, 1 very dissatisfied, 2 dissatisfied, 3 neither, 4 satisfied, 5 very "
        "satisfied; absent when not asked or not answered",
    ),
]


class ReintegrationRuleViolation(DomainRuleViolation):
    """A decision the case's current state or the programme's limits do not allow (422)."""


# A refusal per decision and per stage: the whole sentence is translated, not a word in it.
_NOT_GRANTED: dict[str, str] = {
    "waitlisted": N_("reintegration assistance is waitlisted for this case"),
    "not_offered": N_("reintegration assistance is not offered for this case"),
}
_ALREADY_SCORED: dict[str, str] = {
    "baseline": N_("the baseline survey was already scored"),
    "end": N_("the end survey was already scored"),
}


class Budget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Amount
    currency: Currency


class PlanComponentIn(BaseModel):
    """One component of the plan as agreed with the returnee: economic (micro-business,
    job placement, training), social (housing, education, documentation) or psychosocial
    (counselling)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ComponentKind
    activity: str = Field(min_length=1, max_length=200)
    budget: Budget


class PlanComponent(BaseModel):
    """One component as recorded: the activity describes the person's plans (a stall, a
    school, a treatment), so it is encrypted under the case's notes key and shredded with
    them; plaintext only in events written before that (read, never written)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ComponentKind
    activity: Encrypted | Annotated[str, Field(min_length=1, max_length=200)]
    budget: Budget


# ------------------------------------------------------------------ events --


class ReintegrationEligibilityDecided(DomainEvent):
    event_type = "avrr.reintegration.ReintegrationEligibilityDecided"

    case_id: CaseId
    programme_id: str
    decision: Decision
    priority: int
    reason: str
    decided_at: datetime
    # optional additions: the arrival facts later decisions and read models need
    office: str | None = None
    destination_country: str | None = None
    destination_region: str | None = None
    arrived_on: date | None = None
    # optional addition (issue 19): the returnee's languages, as travel's arrival told them,
    # for the plan summary; none on a later decision (it keeps the first's) or older events
    languages: list[str] = Field(default_factory=list, max_length=10)


class ReintegrationPlanAgreed(DomainEvent):
    event_type = "avrr.reintegration.ReintegrationPlanAgreed"

    case_id: CaseId
    components: list[PlanComponent]
    agreed_at: datetime
    # optional additions: days after arrival, and whether that is past the deadline
    days_after_arrival: int | None = None
    late: bool = False


class AssistanceDisbursed(DomainEvent):
    event_type = "avrr.reintegration.AssistanceDisbursed"

    case_id: CaseId
    programme_id: str
    kind: AssistanceKind
    amount: Amount
    currency: Currency
    method: str
    disbursed_on: date


class ServiceReferralMade(DomainEvent):
    event_type = "avrr.reintegration.ServiceReferralMade"

    case_id: CaseId
    organisation_id: str
    service: str
    referred_on: date


class MonitoringVisitRecorded(DomainEvent):
    event_type = "avrr.reintegration.MonitoringVisitRecorded"

    case_id: CaseId
    due_month: int
    visited_on: date
    notes: Encrypted | None = None
    satisfaction: Satisfaction | None = None


class SustainabilityScored(DomainEvent):
    event_type = "avrr.reintegration.SustainabilityScored"

    case_id: CaseId
    stage: Stage
    economic: float
    social: float
    psychosocial: float
    composite: float
    sustainable: bool
    scored_on: date


class ReintegrationCompleted(DomainEvent):
    event_type = "avrr.reintegration.ReintegrationCompleted"

    case_id: CaseId
    completed_on: date


class ReintegrationStopped(DomainEvent):
    """Internal: the case was withdrawn or its personal data erased; nothing follows."""

    event_type = "avrr.reintegration.ReintegrationStopped"

    case_id: CaseId
    reason: StopReason
    stopped_at: datetime


class ReintegrationReopened(DomainEvent):
    """Internal: intake reopened the withdrawn case (the person came back and consents
    again): the stop is lifted, on the same stream (one history). Before its arrival, the
    arrival decides as for any case; after it, the case goes on where it stood (a case that
    had a place, or waited for one, is admitted again: ReintegrationEligibilityDecided)."""

    event_type = "avrr.reintegration.ReintegrationReopened"

    case_id: CaseId
    reopened_at: datetime


class WithdrawalConflictDetected(WithdrawalConflictDetectedBase):
    """A disbursement recorded after the withdrawal's time (inside reintegration's window)."""

    event_type = "avrr.reintegration.WithdrawalConflictDetected"


class WithdrawalConflictResolved(WithdrawalConflictResolvedBase):
    """A supervisor's coded resolution of a conflict, with the reason (encrypted)."""

    event_type = "avrr.reintegration.WithdrawalConflictResolved"


CASE_EVENTS: tuple[type[DomainEvent], ...] = declared_events(globals(), DomainEvent)

# The commands a withdrawal forbids whose late arrival reintegration flags
# (avrr_events.withdrawal). A plan agreed in the window commits no money; it is
# refused once the withdrawal is known, like every other command.
CONFLICTING: dict[str, ConflictCommand] = {AssistanceDisbursed.event_type: "disbursement"}


@dataclass(frozen=True)
class Arrival:
    """The facts of an arrival the decision records."""

    programme_id: str
    office: str
    destination_country: str
    destination_region: str | None
    arrived_at: datetime
    languages: tuple[str, ...] = ()


@dataclass
class Plan:
    components: list[PlanComponent]
    agreed_at: datetime
    late: bool

    @property
    def total(self) -> Decimal:
        return sum((c.budget.amount for c in self.components), Decimal(0))


# --------------------------------------------------------------- aggregate --


@dataclass
class _State:
    programme_id: str | None = None
    office: str | None = None
    destination_country: str | None = None
    destination_region: str | None = None
    arrived_on: date | None = None
    languages: tuple[str, ...] = ()
    decision: Decision | None = None
    priority: int = 0
    plan: Plan | None = None
    disbursed: Decimal = Decimal(0)
    visits: dict[int, date] = field(default_factory=dict)
    scores: dict[str, date] = field(default_factory=dict)
    completed_on: date | None = None
    stopped: StopReason | None = None


class Reintegration(AggregateWithConflicts):
    """One case's reintegration. Its withdrawal conflicts are disbursements recorded
    after the withdrawal; resolving one is allowed on a stopped case: that is where
    conflicts are."""

    stream_type = "reintegration"
    conflict_detected = WithdrawalConflictDetected
    conflict_resolved = WithdrawalConflictResolved

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.state = _State()

    @property
    def conflict_office(self) -> str | None:
        return self.state.office

    def conflict_refusal(self, detail: str) -> ReintegrationRuleViolation:
        return ReintegrationRuleViolation(detail)

    def when(self, event: DomainEvent) -> None:
        s = self.state
        match event:
            case ReintegrationEligibilityDecided():
                s.programme_id = event.programme_id
                s.decision = event.decision
                s.priority = event.priority
                s.office = event.office or s.office
                s.destination_country = event.destination_country or s.destination_country
                s.destination_region = event.destination_region or s.destination_region
                s.arrived_on = event.arrived_on or s.arrived_on
                s.languages = tuple(event.languages) or s.languages
            case ReintegrationPlanAgreed():
                s.plan = Plan(list(event.components), event.agreed_at, event.late)
            case AssistanceDisbursed():
                s.disbursed += event.amount
            case MonitoringVisitRecorded():
                s.visits[event.due_month] = event.visited_on
            case SustainabilityScored():
                s.scores[event.stage] = event.scored_on
            case ReintegrationCompleted():
                s.completed_on = event.completed_on
            case ReintegrationStopped():
                s.stopped = event.reason
            case ReintegrationReopened():
                s.stopped = None
            case WithdrawalConflictDetected() | WithdrawalConflictResolved():
                self.conflicts.when(event)

    # -- queries of the state

    @property
    def decided(self) -> bool:
        return self.state.decision is not None

    @property
    def holds_place(self) -> bool:
        s = self.state
        return s.decision == "granted" and s.completed_on is None and s.stopped is None

    @property
    def stopped(self) -> bool:
        return self.state.stopped is not None

    @property
    def languages(self) -> tuple[str, ...]:
        """The returnee's languages, first preferred, as the arrival told them (none for a
        case opened from an arrival that did not)."""
        return self.state.languages

    def _require_active(self) -> None:
        s = self.state
        if s.stopped == "withdrawn":
            raise ReintegrationRuleViolation(
                wording=worded(N_("the case was withdrawn: nothing more is recorded"))
            )
        if s.stopped == "erased":
            raise ReintegrationRuleViolation(
                wording=worded(N_("the case's personal data was erased"))
            )
        if s.decision is None:
            raise ReintegrationRuleViolation(
                wording=worded(N_("no reintegration decision for this case (no arrival)"))
            )
        if s.decision != "granted":
            raise ReintegrationRuleViolation(wording=worded(_NOT_GRANTED[s.decision]))
        if s.completed_on is not None:
            raise ReintegrationRuleViolation(
                wording=worded(N_("the reintegration was already completed"))
            )

    def _not_before_arrival(self, day: date, message: str) -> None:
        """``message``: the sentence naming what is dated (``%(day)s``, ``%(arrived)s``)."""
        arrived = self.state.arrived_on
        if arrived is not None and day < arrived:
            raise ReintegrationRuleViolation(
                wording=worded(message, day=str(day), arrived=str(arrived))
            )

    # -- decisions

    def decide(
        self, arrival: Arrival, decision: Decision, priority: int, reason: str, at: datetime
    ) -> None:
        """Record the decision taken on arrival (once: a later arrival event changes nothing)."""
        if self.decided or self.stopped:
            raise ReintegrationRuleViolation(
                wording=worded(N_("reintegration was already decided for this case"))
            )
        self._record_decision(arrival.programme_id, decision, priority, reason, at, arrival)

    def grant_from_waitlist(self, reason: str, at: datetime) -> None:
        """A place freed up and this waiting case is the next by priority."""
        s = self.state
        if s.decision != "waitlisted" or self.stopped or s.programme_id is None:
            raise ReintegrationRuleViolation(
                wording=worded(N_("only a waitlisted case can be granted a freed place"))
            )
        self._record_decision(s.programme_id, "granted", s.priority, reason, at)

    def reconsider(self, decision: Decision, priority: int, reason: str, at: datetime) -> None:
        """A waiting or not-offered case decided again (its priority changed)."""
        s = self.state
        if s.decision not in ("waitlisted", "not_offered") or self.stopped or not s.programme_id:
            raise ReintegrationRuleViolation(
                wording=worded(N_("only a waiting or not-offered case is reconsidered"))
            )
        self._record_decision(s.programme_id, decision, priority, reason, at)

    def _record_decision(
        self,
        programme_id: str,
        decision: Decision,
        priority: int,
        reason: str,
        at: datetime,
        arrival: Arrival | None = None,
    ) -> None:
        # The first decision records the arrival's facts; a later one (arrival None) keeps them.
        self.record(
            ReintegrationEligibilityDecided(
                case_id=self.id,
                programme_id=programme_id,
                decision=decision,
                priority=priority,
                reason=reason,
                decided_at=at,
                office=arrival.office if arrival else None,
                destination_country=arrival.destination_country if arrival else None,
                destination_region=arrival.destination_region if arrival else None,
                arrived_on=arrival.arrived_at.date() if arrival else None,
                languages=list(arrival.languages) if arrival else [],
            )
        )

    def agree_plan(
        self, components: list[PlanComponent], agreed_at: datetime, programme: Programme
    ) -> None:
        """Record the plan agreed with the returnee (a revision replaces the previous plan)."""
        self._require_active()
        if not components:
            raise ReintegrationRuleViolation(
                wording=worded(N_("a plan needs at least one component"))
            )
        wrong = {c.budget.currency for c in components} - {programme.currency}
        if wrong:
            raise ReintegrationRuleViolation(
                wording=worded(
                    N_(
                        "budget lines must be in the programme's currency %(currency)s, "
                        "not %(wrong)s"
                    ),
                    currency=programme.currency,
                    wrong=", ".join(sorted(wrong)),
                )
            )
        plan = Plan(components, agreed_at, late=False)
        if programme.max_plan_budget is not None and plan.total > programme.max_plan_budget:
            raise ReintegrationRuleViolation(
                wording=worded(
                    N_(
                        "the plan's budget %(total)s exceeds the programme's maximum per plan "
                        "%(maximum)s %(currency)s"
                    ),
                    total=str(plan.total),
                    maximum=str(programme.max_plan_budget),
                    currency=programme.currency,
                )
            )
        if plan.total < self.state.disbursed:
            raise ReintegrationRuleViolation(
                wording=worded(
                    N_(
                        "the plan's budget %(total)s is below what was already disbursed "
                        "(%(disbursed)s)"
                    ),
                    total=str(plan.total),
                    disbursed=str(self.state.disbursed),
                )
            )
        self._not_before_arrival(
            agreed_at.date(),
            N_("the plan's agreement (%(day)s) is before the arrival (%(arrived)s)"),
        )
        days = None
        if self.state.arrived_on is not None:
            days = (agreed_at.date() - self.state.arrived_on).days
        self.record(
            ReintegrationPlanAgreed(
                case_id=self.id,
                components=components,
                agreed_at=agreed_at,
                days_after_arrival=days,
                late=days is not None and days > programme.plan_deadline_days,
            )
        )

    def disburse(
        self,
        kind: AssistanceKind,
        amount: Decimal,
        currency: str,
        method: str,
        disbursed_on: date,
        programme: Programme,
    ) -> AssistanceDisbursed:
        """A cash (CBI) or in-kind disbursement against the plan's budget.

        The programme-wide cap is the ProgrammeAllocation's decision, taken in
        the same transaction.
        """
        self._require_active()
        plan = self.state.plan
        if plan is None:
            raise ReintegrationRuleViolation(
                wording=worded(N_("no reintegration plan was agreed yet"))
            )
        if amount <= 0:
            raise ReintegrationRuleViolation(wording=worded(N_("the amount must be positive")))
        if currency != programme.currency:
            raise ReintegrationRuleViolation(
                wording=worded(
                    N_("disbursements are in the programme's currency %(currency)s"),
                    currency=programme.currency,
                )
            )
        if method not in METHODS[kind]:
            raise ReintegrationRuleViolation(
                wording=worded(
                    N_("%(method)s is not a method of %(kind)s assistance (%(methods)s)"),
                    method=repr(method),
                    kind=kind,
                    methods=", ".join(METHODS[kind]),
                )
            )
        remaining = plan.total - self.state.disbursed
        if amount > remaining:
            raise ReintegrationRuleViolation(
                wording=worded(
                    N_(
                        "%(amount)s %(currency)s exceeds what is left of the plan's budget "
                        "(%(remaining)s of %(total)s %(currency)s)"
                    ),
                    amount=str(amount),
                    currency=currency,
                    remaining=str(remaining),
                    total=str(plan.total),
                )
            )
        self._not_before_arrival(
            disbursed_on, N_("the disbursement date (%(day)s) is before the arrival (%(arrived)s)")
        )
        event = AssistanceDisbursed(
            case_id=self.id,
            programme_id=programme.id,
            kind=kind,
            amount=amount,
            currency=currency,
            method=method,
            disbursed_on=disbursed_on,
        )
        self.record(event)
        return event

    def refer(self, organisation_id: str, service: str, referred_on: date) -> None:
        """Refer the returnee to a mapped local organisation (checked by the caller)."""
        self._require_active()
        self._not_before_arrival(
            referred_on, N_("the referral date (%(day)s) is before the arrival (%(arrived)s)")
        )
        self.record(
            ServiceReferralMade(
                case_id=self.id,
                organisation_id=organisation_id,
                service=service,
                referred_on=referred_on,
            )
        )

    def record_visit(
        self,
        due_month: int,
        visited_on: date,
        notes: Encrypted | None,
        programme: Programme,
        satisfaction: int | None = None,
    ) -> None:
        self._require_active()
        if due_month not in programme.monitoring_months:
            months = ", ".join(str(m) for m in programme.monitoring_months)
            raise ReintegrationRuleViolation(
                wording=worded(
                    N_("no monitoring visit is due at month %(month)s (due at months %(months)s)"),
                    month=due_month,
                    months=months,
                )
            )
        if due_month in self.state.visits:
            raise ReintegrationRuleViolation(
                wording=worded(
                    N_("the month-%(month)s visit was already recorded on %(day)s"),
                    month=due_month,
                    day=str(self.state.visits[due_month]),
                )
            )
        self._not_before_arrival(
            visited_on, N_("the visit date (%(day)s) is before the arrival (%(arrived)s)")
        )
        self.record(
            MonitoringVisitRecorded(
                case_id=self.id,
                due_month=due_month,
                visited_on=visited_on,
                notes=notes,
                satisfaction=satisfaction,
            )
        )

    def record_score(
        self,
        stage: Stage,
        economic: float,
        social: float,
        psychosocial: float,
        composite: float,
        sustainable: bool,
        scored_on: date,
    ) -> None:
        self._require_active()
        scores = self.state.scores
        if stage in scores:
            raise ReintegrationRuleViolation(wording=worded(_ALREADY_SCORED[stage]))
        if stage == "end" and "baseline" not in scores:
            raise ReintegrationRuleViolation(
                wording=worded(N_("score the baseline survey before the end survey"))
            )
        if stage == "end" and scored_on < scores["baseline"]:
            raise ReintegrationRuleViolation(
                wording=worded(N_("the end survey cannot precede the baseline"))
            )
        self._not_before_arrival(
            scored_on, N_("the survey date (%(day)s) is before the arrival (%(arrived)s)")
        )
        self.record(
            SustainabilityScored(
                case_id=self.id,
                stage=stage,
                economic=economic,
                social=social,
                psychosocial=psychosocial,
                composite=composite,
                sustainable=sustainable,
                scored_on=scored_on,
            )
        )

    def complete(self, completed_on: date) -> None:
        """Close the reintegration: needs the end survey (the outcome must be measured)."""
        self._require_active()
        if "end" not in self.state.scores:
            raise ReintegrationRuleViolation(
                wording=worded(N_("score the end survey before completing"))
            )
        self._not_before_arrival(
            completed_on, N_("the completion date (%(day)s) is before the arrival (%(arrived)s)")
        )
        self.record(ReintegrationCompleted(case_id=self.id, completed_on=completed_on))

    def reopen(self, at: datetime) -> bool:
        """Intake reopened the case (the person came back and consents again): lift a
        withdrawal's stop, before the arrival or after it. False when it was not stopped by
        a withdrawal (an erasure is final). A case decided before the withdrawal lost its
        place or its turn with it (``wants_place``): it asks for one again."""
        if self.state.stopped != "withdrawn":
            return False
        self.record(ReintegrationReopened(case_id=self.id, reopened_at=at))
        return True

    @property
    def wants_place(self) -> bool:
        """A reopened case that held a place or waited for one before its withdrawal (which
        gave them up) and has not completed: it is admitted again (``readmit``)."""
        s = self.state
        return (
            s.stopped is None
            and s.decision in ("granted", "waitlisted")
            and s.completed_on is None
            and s.programme_id is not None
        )

    def readmit(self, decision: Decision, priority: int, at: datetime) -> None:
        """The reopened case's place again (``granted``), or its turn on the waitlist: its
        arrival's facts stay; only the decision is recorded again (nothing unless it
        ``wants_place``)."""
        if not self.wants_place or self.state.programme_id is None:
            return
        reason = (
            "case reopened: a reintegration place was available"
            if decision == "granted"
            else "case reopened: all places are taken: waiting by priority"
        )
        self._record_decision(self.state.programme_id, decision, priority, reason, at)

    def stop(self, reason: StopReason, at: datetime) -> bool:
        """Stop the case for good; False when it was already stopped for this reason.

        An erasure after a withdrawal is still recorded: read models must then
        forget the case's rows, not only close them.
        """
        if self.state.stopped == reason or self.state.stopped == "erased":
            return False
        self.record(ReintegrationStopped(case_id=self.id, reason=reason, stopped_at=at))
        return True
