"""The Assessment of one case (aggregate) and the events it records.

Lifecycle: opened by intake's ReturnRequested together with the eligibility
decision; a caseworker then screens vulnerabilities, records best-interests
determinations for unaccompanied or separated children and submits the due
diligence checklist, which either clears the return for travel or rejects it
with reasons (a rejection can be fixed and the checklist submitted again).
Withdrawal closes the assessment: nothing more is recorded for it unless intake
reopens the case (AssessmentReopened, cause case_reopened), when it goes on,
on the same stream, with its clearance to be given again.

Clearance is where the safeguards meet: it requires an eligible decision,
every checklist item, no suspension of returns to the destination, and a
best-interests determination in favour of return for every unaccompanied or
separated child. The aggregate checks all of them together so the person gets
the whole list of what is missing at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from avrr_eligibility import reasons
from avrr_eligibility.countries import CountryCode, country_name
from avrr_eligibility.observed import HouseholdMember
from avrr_eligibility.programmes import (
    Decision,
    ProgrammeCatalogue,
    ReturnRequest,
    RuleOutcome,
    TransportMode,
)
from avrr_eligibility.reasons import worded
from avrr_events import Aggregate, DomainEvent
from avrr_events.household import one_entry_per_person
from avrr_events.problems import Conflict, DomainRuleViolation, NotFound
from avrr_events.registry import declared_events

VulnerabilityCategoryName = Literal[
    "unaccompanied_or_separated_child",
    "victim_of_trafficking",
    "smuggled_migrant",
    "health_needs",
    "elderly",
    "lgbtiq",
    "single_parent_family",
    "person_with_disability",
    "other",
]
Severity = Literal["low", "medium", "high"]
SEVERITY_RANK: dict[str, int] = {"low": 1, "medium": 2, "high": 3}
BestInterestsOutcome = Literal["return_in_best_interests", "return_not_in_best_interests"]


class VulnerabilityCategory(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    category: VulnerabilityCategoryName
    severity: Severity


class DueDiligenceChecklist(BaseModel):
    """What the caseworker verified before a return may go ahead.

    ``family_or_receiving_contact_reached`` concerns unaccompanied or separated
    children (a family member or guardian must be reached to receive them); it
    is required when the case has one and may be left out otherwise.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    identity_verified: bool
    nationality_verified: bool
    voluntariness_confirmed_in_private_interview: bool = Field(
        description="confirmed in an interview without family, authorities or others present "
        "and with no sign of pressure"
    )
    no_legal_impediment: bool
    family_or_receiving_contact_reached: bool | None = None
    destination_safe: bool


# ------------------------------------------------------------------ events --


class AssessmentOpened(DomainEvent):
    """Eligibility's own record of the request it assesses (from ReturnRequested)."""

    event_type = "avrr.eligibility.AssessmentOpened"

    case_id: str
    office: str
    nationality: CountryCode
    host_country: CountryCode
    destination_country: CountryCode
    destination_region: str | None = None
    programme_hint: str | None = None
    household: list[HouseholdMember]
    requested_at: datetime
    opened_at: datetime
    # Optional addition: the languages the household reads (intake's), for its notices.
    languages: list[Annotated[str, Field(max_length=20)]] = Field(
        default_factory=list, max_length=10
    )

    @property
    def return_request(self) -> ReturnRequest:
        """The facts of the request that the programme rules look at."""
        return ReturnRequest(
            nationality=self.nationality,
            host_country=self.host_country,
            destination_country=self.destination_country,
            requested_on=self.requested_at.date(),
            household_size=len(self.household),
            programme_hint=self.programme_hint,
        )


class EligibilityDecided(DomainEvent):
    event_type = "avrr.eligibility.EligibilityDecided"

    case_id: str
    programme_id: str | None = None
    eligible: bool
    reasons: list[RuleOutcome]
    decided_at: datetime
    # Optional addition to the contract: which programme file decided it.
    programmes_version: str | None = None


class VulnerabilityAssessed(DomainEvent):
    event_type = "avrr.eligibility.VulnerabilityAssessed"

    case_id: str
    person_id: str | None = None
    categories: list[VulnerabilityCategory]
    best_interests_determination_done: bool
    assessed_by: str
    assessed_at: datetime


class BestInterestsDeterminationRecorded(DomainEvent):
    """A best-interests determination (BID) for an unaccompanied or separated child."""

    event_type = "avrr.eligibility.BestInterestsDeterminationRecorded"

    case_id: str
    person_id: str
    outcome: BestInterestsOutcome
    determined_by: str
    determined_at: datetime


class DueDiligenceChecked(DomainEvent):
    """The checklist as submitted, kept for the audit trail of the clearance decision."""

    event_type = "avrr.eligibility.DueDiligenceChecked"

    case_id: str
    checklist: DueDiligenceChecklist
    checked_by: str
    checked_at: datetime


class DueDiligenceCleared(DomainEvent):
    event_type = "avrr.eligibility.DueDiligenceCleared"

    case_id: str
    programme_id: str
    office: str
    # The schema states what intake's and travel's readers require: ISO codes and one
    # to fifty members (the household comes from intake's referral, one to thirty).
    host_country: CountryCode
    destination_country: CountryCode
    destination_region: str | None = None
    transport_mode: TransportMode
    household: list[HouseholdMember] = Field(min_length=1, max_length=50)
    cleared_at: datetime
    # Optional addition: the languages the household reads, for travel's instructions.
    languages: list[Annotated[str, Field(max_length=20)]] = Field(
        default_factory=list, max_length=10
    )

    _one_entry_per_person = field_validator("household")(one_entry_per_person)


class DueDiligenceRejected(DomainEvent):
    event_type = "avrr.eligibility.DueDiligenceRejected"

    case_id: str
    reasons: list[str]
    rejected_at: datetime


# Why an assessment closed, for the services that must tell an end from a pause.
ClosureCause = Literal["case_withdrawn", "consent_withdrawn"]
# The reason written before ``cause`` existed when a withdrawn consent closed one.
CONSENT_CLOSURE_REASON = "consent to the processing of the return request withdrawn"


class AssessmentClosed(DomainEvent):
    event_type = "avrr.eligibility.AssessmentClosed"

    case_id: str
    reason: str
    closed_at: datetime
    # Optional addition (v1 stays v1; absent in older events, where the reason tells):
    # consent_withdrawn closes until the consent is given again (AssessmentReopened).
    cause: ClosureCause | None = None

    @property
    def for_consent(self) -> bool:
        return self.cause == "consent_withdrawn" or (
            self.cause is None and self.reason == CONSENT_CLOSURE_REASON
        )


# Why an assessment reopened when not for the consent a withdrawal took, given again
# (intake's ReturnResumed; no cause): the case itself was taken up again (CaseReopened).
ReopeningCause = Literal["case_reopened"]


class AssessmentReopened(DomainEvent):
    """The assessment closed is taken up again, on its own stream (one history).

    The consent whose withdrawal closed it was given again (intake's ReturnResumed): it
    goes on where it stood, its decisions and clearance included; travel reinstates a
    movement cancelled for the same withdrawal. Or the withdrawn or closed case was
    reopened (intake's CaseReopened, ``cause`` case_reopened): the person came back, so
    what was decided about their return before lapses: the clearance and the children's
    best-interests determinations are made again, and the request is decided again by
    today's programme rules when it resumes; the screenings stand.
    """

    event_type = "avrr.eligibility.AssessmentReopened"

    case_id: str
    reopened_at: datetime
    cleared: bool = Field(description="the clearance stands: travel reinstates the movement")
    # Optional additions (v1 stays v1; absent for a consent given again, as in older events).
    cause: ReopeningCause | None = None
    awaits_consent: bool = Field(
        default=False,
        description="the reopened case's return waits, suspended, for every member's consent: "
        "the assessment stays closed until intake's ReturnResumed",
    )


class AssessmentAmended(DomainEvent):
    """Intake's ReturnRequestAmended reached the assessment before clearance: the request is
    assessed again with its new destination and programme hint (an EligibilityDecided
    follows); screenings and best-interests determinations, about the people, stand."""

    event_type = "avrr.eligibility.AssessmentAmended"

    case_id: str
    amendment_id: str = Field(min_length=1, max_length=100)
    destination_country: CountryCode
    destination_region: str | None = Field(default=None, max_length=100)
    programme_hint: str | None = Field(default=None, max_length=100)
    amended_at: datetime


class AmendmentRefused(DomainEvent):
    """Intake's ReturnRequestAmended reached the assessment after clearance (the two raced):
    the return stays cleared for the destination it was cleared for, which this names so
    that intake restores it on the case."""

    event_type = "avrr.eligibility.AmendmentRefused"

    case_id: str
    amendment_id: str = Field(min_length=1, max_length=100)
    destination_country: CountryCode
    destination_region: str | None = Field(default=None, max_length=100)
    programme_hint: str | None = Field(default=None, max_length=100)
    refused_at: datetime


class HouseholdMemberLeft(DomainEvent):
    """A person left the household (intake's HouseholdMemberRemoved). Before clearance the
    request is assessed again without them (an EligibilityDecided follows); after it
    (``cleared``), travel takes them off the movement."""

    event_type = "avrr.eligibility.HouseholdMemberLeft"

    case_id: str
    person_id: str = Field(min_length=1, max_length=200)
    household: list[HouseholdMember] = Field(min_length=1, max_length=50)
    cleared: bool = Field(description="due diligence had cleared the case: travel follows")
    left_at: datetime

    _one_entry_per_person = field_validator("household")(one_entry_per_person)


class HouseholdMemberJoined(DomainEvent):
    """A person joined the household (intake's HouseholdMemberAdded): the request is assessed
    again with them (an EligibilityDecided follows). They are screened, and a child alone
    needs a best-interests determination, before clearance as everyone. A household cleared
    already (``clearance_lapsed``) was cleared without them: the clearance lapses, due
    diligence clears the household as a whole again, and travel follows (its movement waits
    for that clearance; one that departed refuses the addition)."""

    event_type = "avrr.eligibility.HouseholdMemberJoined"

    case_id: str
    person_id: str = Field(min_length=1, max_length=200)
    household: list[HouseholdMember] = Field(min_length=1, max_length=50)
    joined_at: datetime
    # Optional addition (v1 stays v1; absent in older events, which all joined before clearance).
    clearance_lapsed: bool = Field(
        default=False,
        description="due diligence had cleared the case without this person: the clearance "
        "lapses (cause household_member_added) and travel follows",
    )

    _one_entry_per_person = field_validator("household")(one_entry_per_person)


class HouseholdCorrected(DomainEvent):
    """Intake corrected the ages or sexes of the household (a rectification of a date of
    birth or a sex, HouseholdFactsCorrected): the request's household reads so from now on.
    Before clearance an unaccompanied child it reveals needs a best-interests determination
    before the return is cleared, and eligibility is decided again if that changes the
    decision; after it (``cleared``), travel follows."""

    event_type = "avrr.eligibility.HouseholdCorrected"

    case_id: str
    household: list[HouseholdMember] = Field(min_length=1, max_length=50)
    cleared: bool = Field(description="due diligence had cleared the case: travel follows")
    corrected_at: datetime

    _one_entry_per_person = field_validator("household")(one_entry_per_person)


class HouseholdAdditionRefused(DomainEvent):
    """The household travels as it was cleared, unscreened people never: intake reverses the
    addition (HouseholdAdditionReversed). Recorded when intake reversed an addition whose
    lapse of the clearance reached travel after the departure (travel's
    TravellerAdditionRefused): the person leaves the request and the clearance the household
    departed with stands again. (Before this, an addition that reached a cleared assessment
    was refused here at once.)"""

    event_type = "avrr.eligibility.HouseholdAdditionRefused"

    case_id: str
    person_id: str = Field(min_length=1, max_length=200)
    refused_at: datetime


ASSESSMENT_EVENTS: tuple[type[DomainEvent], ...] = declared_events(globals(), DomainEvent)

# ------------------------------------------------------------------ errors --


class AssessmentError(Exception):
    """A command the assessment's state does not allow (each kind is the API's answer too)."""


class AssessmentNotFound(AssessmentError, NotFound):
    """No assessment for that case (HTTP 404)."""


class AssessmentIsClosed(AssessmentError, Conflict):
    """The case was withdrawn or closed: nothing more is recorded for it (HTTP 409)."""


class AlreadyCleared(AssessmentError, Conflict):
    """Due diligence already cleared this case (HTTP 409)."""


class InvalidCommand(AssessmentError, DomainRuleViolation):
    """The command contradicts the case's facts (HTTP 422)."""


@dataclass(frozen=True)
class Suspension:
    """An active suspension of returns that covers a destination."""

    destination_country: str
    destination_region: str | None
    reason: str
    since: datetime

    def describe(self) -> str:
        where = country_name(self.destination_country)
        if self.destination_region:
            where = f"{self.destination_region} ({where})"
        return reasons.SUSPENDED % {
            "place": where,
            "day": self.since.date().isoformat(),
            "reason": self.reason,
        }


# --------------------------------------------------------------- aggregate --


class Assessment(Aggregate):
    """One case's eligibility assessment, keyed by the case id."""

    stream_type = "assessment"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.request: AssessmentOpened | None = None
        self.decision: EligibilityDecided | None = None
        self.vulnerabilities: dict[str | None, list[VulnerabilityCategory]] = {}
        self.best_interests: dict[str, BestInterestsOutcome] = {}
        self.cleared = False
        self.closed = False
        self.closed_for_consent = False
        # Decided before the case was withdrawn and reopened: decided again on resumption.
        self.decision_stale = False
        # The person whose addition lapsed the clearance, until the household is cleared again.
        self.lapsed_for: str | None = None

    def when(self, event: DomainEvent) -> None:
        match event:
            case AssessmentOpened():
                self.request = event
            case AssessmentAmended() if self.request is not None:
                self.request = self.request.model_copy(
                    update={
                        "destination_country": event.destination_country,
                        "destination_region": event.destination_region,
                        "programme_hint": event.programme_hint,
                    }
                )
            case HouseholdMemberLeft() | HouseholdMemberJoined() | HouseholdCorrected() if (
                self.request is not None
            ):
                self.request = self.request.model_copy(update={"household": event.household})
                if isinstance(event, HouseholdMemberJoined) and event.clearance_lapsed:
                    self.cleared = False
                    self.lapsed_for = event.person_id
            case HouseholdAdditionRefused() if self.request is not None:
                household = [m for m in self.request.household if m.person_id != event.person_id]
                self.request = self.request.model_copy(update={"household": household})
                if self.lapsed_for == event.person_id:
                    self.cleared = True
                    self.lapsed_for = None
            case EligibilityDecided():
                self.decision = event
                self.decision_stale = False
            case VulnerabilityAssessed(person_id=person_id, categories=categories):
                self.vulnerabilities[person_id] = list(categories)
            case BestInterestsDeterminationRecorded(person_id=person_id, outcome=outcome):
                self.best_interests[person_id] = outcome
            case DueDiligenceCleared():
                self.cleared = True
                self.lapsed_for = None
            case AssessmentClosed():
                self.closed = True
                self.closed_for_consent = event.for_consent
            case AssessmentReopened(cause="case_reopened"):
                self.cleared = False
                self.best_interests = {}
                self.closed = self.closed_for_consent = event.awaits_consent
                self.decision_stale = self.decision is not None
            case AssessmentReopened():
                self.closed = False
                self.closed_for_consent = False

    # ------------------------------------------------------------- queries --

    @property
    def household(self) -> list[HouseholdMember]:
        return list(self.request.household) if self.request else []

    def member(self, person_id: str) -> HouseholdMember | None:
        return next((m for m in self.household if m.person_id == person_id), None)

    def children_needing_best_interests(self) -> list[str]:
        """Person ids of unaccompanied or separated children, from intake or from screening."""
        ids = [m.person_id for m in self.household if m.is_unaccompanied_child]
        for person_id, categories in self.vulnerabilities.items():
            flagged = any(c.category == "unaccompanied_or_separated_child" for c in categories)
            if flagged and person_id is not None and person_id not in ids:
                ids.append(person_id)
        if not ids and any(
            c.category == "unaccompanied_or_separated_child"
            for c in self.vulnerabilities.get(None, [])
        ):
            # Flagged for the case without naming the child: every minor needs a BID.
            ids = [m.person_id for m in self.household if m.age_years < 18]
        return ids

    # ------------------------------------------------------------ decisions --

    def open(self, opened: AssessmentOpened, decision: Decision, programmes_version: str) -> None:
        """Open the assessment for a return request and record the eligibility decision."""
        if self.closed:
            raise AssessmentIsClosed(wording=worded(reasons.CLOSED, case=self.id))
        if self.request is not None:
            raise InvalidCommand(wording=worded(reasons.ALREADY_ASSESSED, case=self.id))
        self.record(opened)
        self.record(
            EligibilityDecided(
                case_id=self.id,
                programme_id=decision.programme.id if decision.programme else None,
                eligible=decision.eligible,
                reasons=decision.reasons,
                decided_at=opened.opened_at,
                programmes_version=programmes_version,
            )
        )

    def amend(
        self, amended: AssessmentAmended, decide: Callable[[ReturnRequest], Decision], version: str
    ) -> bool:
        """Assess the request again with its amended destination; once cleared, refuse it
        (AmendmentRefused, naming the destination cleared). False when there is nothing to
        amend: no request reached eligibility, or the assessment is closed."""
        if self.request is None or self.closed:
            return False
        if self.cleared:
            self.record(
                AmendmentRefused(
                    case_id=self.id,
                    amendment_id=amended.amendment_id,
                    destination_country=self.request.destination_country,
                    destination_region=self.request.destination_region,
                    programme_hint=self.request.programme_hint,
                    refused_at=amended.amended_at,
                )
            )
            return True
        self.record(amended)
        assert self.request is not None
        self._decide_again(decide(self.request.return_request), amended.amended_at, version)
        return True

    def remove_member(
        self,
        person_id: str,
        at: datetime,
        decide: Callable[[ReturnRequest], Decision],
        version: str,
    ) -> bool:
        """Take a person off the request: decided again before clearance, passed on to travel
        after it. False when there is nothing to change (no request, a case closed for good,
        or a person not, or no longer, in the household)."""
        request = self.request
        if request is None or (self.closed and not self.closed_for_consent):
            return False
        remaining = [m for m in request.household if m.person_id != person_id]
        if len(remaining) == len(request.household) or not remaining:
            return False
        self.record(
            HouseholdMemberLeft(
                case_id=self.id,
                person_id=person_id,
                household=remaining,
                cleared=self.cleared,
                left_at=at,
            )
        )
        if not self.cleared and self.request is not None:
            self._decide_again(decide(self.request.return_request), at, version)
        return True

    def add_member(
        self,
        member: HouseholdMember,
        at: datetime,
        decide: Callable[[ReturnRequest], Decision],
        version: str,
    ) -> bool:
        """Put a person who joined the household on the request and decide again. Once
        cleared, the clearance lapses with it (``clearance_lapsed``): clearance is the decision
        that the household as screened may travel, and this person was not screened. False
        when there is nothing to change (no request, a case closed for good, or the person on
        the request already)."""
        request = self.request
        if request is None or (self.closed and not self.closed_for_consent):
            return False
        if self.member(member.person_id) is not None:
            return False
        self.record(
            HouseholdMemberJoined(
                case_id=self.id,
                person_id=member.person_id,
                household=[*request.household, member],
                joined_at=at,
                clearance_lapsed=self.cleared,
            )
        )
        assert self.request is not None
        self._decide_again(decide(self.request.return_request), at, version)
        return True

    def keep_clearance(self, person_id: str, at: datetime) -> bool:
        """Intake reversed an addition (travel refused it: the household had departed): the
        person leaves the request, and the clearance their addition lapsed stands again
        (HouseholdAdditionRefused). False when they are not on the request."""
        if self.request is None or self.member(person_id) is None:
            return False
        self.record(HouseholdAdditionRefused(case_id=self.id, person_id=person_id, refused_at=at))
        return True

    def correct_household(
        self,
        corrected: Sequence[HouseholdMember],
        at: datetime,
        decide: Callable[[ReturnRequest], Decision],
        version: str,
    ) -> bool:
        """Take intake's corrected facts of the household's members (those still on the
        request: who left stays left). Decided again before clearance when the decision
        changes; passed on to travel after it. False when nothing changes (no request, a
        case closed for good, or the facts the request already has)."""
        request = self.request
        if request is None or (self.closed and not self.closed_for_consent):
            return False
        facts = {m.person_id: m for m in corrected}
        household = [facts.get(m.person_id, m) for m in request.household]
        if household == list(request.household):
            return False
        self.record(
            HouseholdCorrected(
                case_id=self.id, household=household, cleared=self.cleared, corrected_at=at
            )
        )
        if not self.cleared and self.request is not None:
            decision = decide(self.request.return_request)
            current = self.decision
            if current is None or (
                (decision.programme.id if decision.programme else None),
                decision.eligible,
                decision.reasons,
            ) != (current.programme_id, current.eligible, current.reasons):
                self._decide_again(decision, at, version)
        return True

    def _decide_again(self, decision: Decision, at: datetime, version: str) -> None:
        self.record(
            EligibilityDecided(
                case_id=self.id,
                programme_id=decision.programme.id if decision.programme else None,
                eligible=decision.eligible,
                reasons=decision.reasons,
                decided_at=at,
                programmes_version=version,
            )
        )

    def _require_open(self) -> AssessmentOpened:
        if self.closed:
            raise AssessmentIsClosed(wording=worded(reasons.WITHDRAWN, case=self.id))
        if self.request is None:
            raise AssessmentNotFound(wording=worded(reasons.NO_ASSESSMENT, case=self.id))
        return self.request

    def assess_vulnerability(
        self,
        person_id: str | None,
        categories: Sequence[VulnerabilityCategory],
        assessed_by: str,
        now: datetime,
    ) -> None:
        """Record a screening of one person (or of the whole case when ``person_id`` is None)."""
        self._require_open()
        if person_id is not None and self.member(person_id) is None:
            raise InvalidCommand(
                wording=worded(reasons.NOT_IN_HOUSEHOLD, person=person_id, case=self.id)
            )
        names = [c.category for c in categories]
        if len(set(names)) != len(names):
            raise InvalidCommand(wording=worded(reasons.CATEGORY_TWICE))
        child = "unaccompanied_or_separated_child" in names
        if child and person_id is not None:
            member = self.member(person_id)
            if member is not None and member.age_years >= 18:
                raise InvalidCommand(
                    wording=worded(reasons.NOT_A_CHILD, person=person_id, age=member.age_years)
                )
        self.record(
            VulnerabilityAssessed(
                case_id=self.id,
                person_id=person_id,
                categories=list(categories),
                best_interests_determination_done=(
                    person_id is not None and person_id in self.best_interests
                ),
                assessed_by=assessed_by,
                assessed_at=now,
            )
        )

    def record_best_interests(
        self, person_id: str, outcome: BestInterestsOutcome, determined_by: str, now: datetime
    ) -> None:
        """Record the best-interests determination for a child of the household."""
        self._require_open()
        if self.cleared:
            raise AlreadyCleared(wording=worded(reasons.ALREADY_CLEARED, case=self.id))
        member = self.member(person_id)
        if member is None:
            raise InvalidCommand(
                wording=worded(reasons.NOT_IN_HOUSEHOLD, person=person_id, case=self.id)
            )
        if member.age_years >= 18:
            raise InvalidCommand(
                wording=worded(
                    reasons.BEST_INTERESTS_OF_ADULT, person=person_id, age=member.age_years
                )
            )
        self.record(
            BestInterestsDeterminationRecorded(
                case_id=self.id,
                person_id=person_id,
                outcome=outcome,
                determined_by=determined_by,
                determined_at=now,
            )
        )

    def check_due_diligence(
        self,
        checklist: DueDiligenceChecklist,
        catalogue: ProgrammeCatalogue,
        suspensions: Sequence[Suspension],
        checked_by: str,
        now: datetime,
    ) -> list[str]:
        """Clear the return, or reject it with every reason; return the reasons (empty: cleared)."""
        request = self._require_open()
        if self.cleared:
            raise AlreadyCleared(wording=worded(reasons.ALREADY_CLEARED, case=self.id))
        children = self.children_needing_best_interests()
        gaps = self._eligibility_gaps(catalogue)
        gaps += [s.describe() for s in suspensions]
        gaps += _checklist_gaps(checklist, has_unaccompanied_children=bool(children))
        for person_id in children:
            outcome = self.best_interests.get(person_id)
            if outcome is None:
                gaps.append(reasons.NO_BEST_INTERESTS % {"person": person_id})
            elif outcome == "return_not_in_best_interests":
                gaps.append(reasons.NOT_IN_BEST_INTERESTS % {"person": person_id})
        self.record(
            DueDiligenceChecked(
                case_id=self.id, checklist=checklist, checked_by=checked_by, checked_at=now
            )
        )
        if gaps:
            self.record(DueDiligenceRejected(case_id=self.id, reasons=gaps, rejected_at=now))
            return gaps
        assert self.decision is not None and self.decision.programme_id is not None
        programme = catalogue.get(self.decision.programme_id)
        assert programme is not None
        self.record(
            DueDiligenceCleared(
                case_id=self.id,
                programme_id=programme.id,
                office=request.office,
                host_country=request.host_country,
                destination_country=request.destination_country,
                destination_region=request.destination_region,
                transport_mode=programme.transport_mode(unaccompanied_child=bool(children)),
                household=list(request.household),
                cleared_at=now,
                languages=list(request.languages),
            )
        )
        return []

    def _eligibility_gaps(self, catalogue: ProgrammeCatalogue) -> list[str]:
        decision = self.decision
        if decision is None or not decision.eligible or decision.programme_id is None:
            failed = [r.detail for r in (decision.reasons if decision else []) if not r.passed]
            return [reasons.NOT_ELIGIBLE, *failed]
        if catalogue.get(decision.programme_id) is None:
            return [reasons.PROGRAMME_ENDED % {"programme": decision.programme_id}]
        return []

    def close(self, reason: str, now: datetime, cause: ClosureCause | None = None) -> bool:
        """Close the assessment (withdrawal); False when it was closed already. The case's
        withdrawal is recorded over a closure for a withdrawn consent, which it makes final:
        a ReturnResumed of before no longer reopens it, only intake's CaseReopened does."""
        if self.closed and not (cause == "case_withdrawn" and self.closed_for_consent):
            return False
        self.record(AssessmentClosed(case_id=self.id, reason=reason, closed_at=now, cause=cause))
        return True

    def reopen(
        self,
        now: datetime,
        decide: Callable[[ReturnRequest], Decision] | None = None,
        version: str = "",
    ) -> bool:
        """Reopen an assessment a withdrawn consent closed, or a reopened case left waiting
        for every consent (then decided again with ``decide``); False for any other (a
        withdrawn case stays closed until intake reopens it)."""
        if not (self.closed and self.closed_for_consent):
            return False
        stale = self.decision_stale
        self.record(AssessmentReopened(case_id=self.id, reopened_at=now, cleared=self.cleared))
        if stale and decide is not None and self.request is not None:
            self._decide_again(decide(self.request.return_request), now, version)
        return True

    def take_up_again(self, now: datetime) -> bool:
        """Intake reopened the case (the person came back and consents again): nothing
        decided for the return before is taken on trust (see AssessmentReopened). A request
        assessed before waits, closed, for intake's ReturnResumed (every member's consent),
        which reopens it and has it decided again; without one, the next ReturnRequested
        opens the assessment. False when it is not closed (no withdrawal reached eligibility)."""
        if not self.closed:
            return False
        self.record(
            AssessmentReopened(
                case_id=self.id,
                reopened_at=now,
                cleared=False,
                cause="case_reopened",
                awaits_consent=self.request is not None,
            )
        )
        return True


def _checklist_gaps(
    checklist: DueDiligenceChecklist, *, has_unaccompanied_children: bool
) -> list[str]:
    gaps = []
    if not checklist.identity_verified:
        gaps.append(reasons.IDENTITY)
    if not checklist.nationality_verified:
        gaps.append(reasons.NATIONALITY)
    if not checklist.voluntariness_confirmed_in_private_interview:
        gaps.append(reasons.VOLUNTARINESS)
    if not checklist.no_legal_impediment:
        gaps.append(reasons.LEGAL_IMPEDIMENT)
    if has_unaccompanied_children and checklist.family_or_receiving_contact_reached is not True:
        gaps.append(reasons.GUARDIAN)
    if not checklist.destination_safe:
        gaps.append(reasons.DESTINATION_SAFE)
    return gaps
