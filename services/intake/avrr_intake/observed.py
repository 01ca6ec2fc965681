"""The other services' events intake reads, for the case timeline and the situational reports.

Tolerant readers (ObservedEvent): each model declares only the non-personal
fields intake shows or counts, with plain ``str`` where the publisher has a
closed list, so a new value or a new field upstream never dead-letters the
timeline. Encrypted fields (health details, notes) are never declared: intake
has no business reading them. Contracts: docs/events.md, checked by
tests/test_event_contracts.py.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from avrr_events import ObservedEvent

Id = Annotated[str, Field(min_length=1, max_length=100)]
Code = Annotated[str, Field(max_length=100)]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Traveller(_Part):
    """The shared HouseholdMember shape: non-personal facts about one person."""

    person_id: str = Field(min_length=1, max_length=200)
    age_years: int = Field(ge=0, le=130)
    sex: Code


# -------------------------------------------------------------- eligibility --


class EligibilityDecided(ObservedEvent):
    event_type = "avrr.eligibility.EligibilityDecided"

    case_id: Id
    programme_id: str | None = None
    eligible: bool
    decided_at: datetime


class AssessedCategory(_Part):
    category: Code
    severity: Code


class VulnerabilityAssessed(ObservedEvent):
    event_type = "avrr.eligibility.VulnerabilityAssessed"

    case_id: Id
    person_id: str | None = Field(default=None, max_length=200)
    categories: list[AssessedCategory] = Field(max_length=50)
    assessed_by: Code
    assessed_at: datetime


class BestInterestsDeterminationRecorded(ObservedEvent):
    event_type = "avrr.eligibility.BestInterestsDeterminationRecorded"

    case_id: Id
    person_id: str = Field(max_length=200)
    outcome: Code
    determined_by: Code
    determined_at: datetime


class DueDiligenceChecked(ObservedEvent):
    # The checklist's answers stay in eligibility; the timeline says who submitted it.
    event_type = "avrr.eligibility.DueDiligenceChecked"

    case_id: Id
    checked_by: Code
    checked_at: datetime


class DueDiligenceCleared(ObservedEvent):
    event_type = "avrr.eligibility.DueDiligenceCleared"

    case_id: Id
    programme_id: Id
    office: Code
    host_country: Code
    destination_country: Code
    transport_mode: Code
    household: list[Traveller] = Field(min_length=1, max_length=50)
    cleared_at: datetime


class DueDiligenceRejected(ObservedEvent):
    # The reasons are free text written by a caseworker: counted, never shown.
    event_type = "avrr.eligibility.DueDiligenceRejected"

    case_id: Id
    reasons: list[str] = Field(max_length=100)
    rejected_at: datetime


class AssessmentClosed(ObservedEvent):
    event_type = "avrr.eligibility.AssessmentClosed"

    case_id: Id
    reason: str = Field(max_length=1000)
    closed_at: datetime


class AssessmentReopened(ObservedEvent):
    event_type = "avrr.eligibility.AssessmentReopened"

    case_id: Id
    reopened_at: datetime


# ------------------------------------------------------------------- travel --


class MovementOpened(ObservedEvent):
    event_type = "avrr.travel.MovementOpened"

    case_id: Id
    programme_id: Id
    destination_country: Code
    transport_mode: Code
    opened_at: datetime


class TravelDocumentObtained(ObservedEvent):
    event_type = "avrr.travel.TravelDocumentObtained"

    case_id: Id
    person_id: str = Field(max_length=200)
    document_type: Code
    obtained_on: date


class FitForTravelConfirmed(ObservedEvent):
    # health_details (encrypted, medical role only) deliberately not read.
    event_type = "avrr.travel.FitForTravelConfirmed"

    case_id: Id
    person_id: str = Field(max_length=200)
    outcome: Code
    confirmed_at: datetime


class TicketIssued(ObservedEvent):
    # The booking reference identifies a passenger with the carrier: not read.
    event_type = "avrr.travel.TicketIssued"

    case_id: Id
    mode: Code
    carrier: str = Field(max_length=200)
    departure_date: date
    issued_at: datetime


class DepartureConfirmed(ObservedEvent):
    event_type = "avrr.travel.DepartureConfirmed"

    case_id: Id
    departed_at: datetime


class ArrivalConfirmed(ObservedEvent):
    event_type = "avrr.travel.ArrivalConfirmed"

    case_id: Id
    programme_id: Id
    office: Code
    destination_country: Code
    arrived_at: datetime
    confirmed_by: Code
    confirmer_id: str | None = Field(default=None, max_length=200)


class MovementHeld(ObservedEvent):
    event_type = "avrr.travel.MovementHeld"

    case_id: Id
    at: datetime


class MovementReleased(ObservedEvent):
    event_type = "avrr.travel.MovementReleased"

    case_id: Id
    at: datetime


class MovementRebooked(ObservedEvent):
    event_type = "avrr.travel.MovementRebooked"

    case_id: Id
    new_departure_date: date


class MovementCancelled(ObservedEvent):
    event_type = "avrr.travel.MovementCancelled"

    case_id: Id
    cancelled_at: datetime


class MovementReinstated(ObservedEvent):
    event_type = "avrr.travel.MovementReinstated"

    case_id: Id
    at: datetime


class _ConflictDetected(ObservedEvent):
    """A ticket, departure or disbursement recorded after the case's withdrawal (travel's
    or reintegration's, same shape: avrr_events.withdrawal)."""

    case_id: Id
    command: Code
    conflicting_event_id: Id
    conflicting_event_type: str = Field(max_length=200)
    recorded_at: datetime
    withdrawal: Code
    withdrawn_at: datetime
    detected_at: datetime


class _ConflictResolved(ObservedEvent):
    # the reason is encrypted: not read.
    case_id: Id
    conflicting_event_id: Id
    resolution: Code
    resolved_by: str = Field(max_length=200)
    resolved_at: datetime


class TravelWithdrawalConflictDetected(_ConflictDetected):
    event_type = "avrr.travel.WithdrawalConflictDetected"


class TravelWithdrawalConflictResolved(_ConflictResolved):
    event_type = "avrr.travel.WithdrawalConflictResolved"


class ReintegrationWithdrawalConflictDetected(_ConflictDetected):
    event_type = "avrr.reintegration.WithdrawalConflictDetected"


class ReintegrationWithdrawalConflictResolved(_ConflictResolved):
    event_type = "avrr.reintegration.WithdrawalConflictResolved"


# ------------------------------------------------------------ reintegration --


class ReintegrationEligibilityDecided(ObservedEvent):
    event_type = "avrr.reintegration.ReintegrationEligibilityDecided"

    case_id: Id
    programme_id: Id
    decision: Code
    decided_at: datetime


class Budget(_Part):
    amount: Decimal
    currency: Code


class PlanComponent(_Part):
    # ``activity`` is free text describing the person's plans: not read.
    kind: Code
    budget: Budget


class ReintegrationPlanAgreed(ObservedEvent):
    event_type = "avrr.reintegration.ReintegrationPlanAgreed"

    case_id: Id
    components: list[PlanComponent] = Field(max_length=100)
    agreed_at: datetime


class AssistanceDisbursed(ObservedEvent):
    event_type = "avrr.reintegration.AssistanceDisbursed"

    case_id: Id
    programme_id: Id
    kind: Code
    amount: Decimal
    currency: Code
    method: Code
    disbursed_on: date


class ServiceReferralMade(ObservedEvent):
    event_type = "avrr.reintegration.ServiceReferralMade"

    case_id: Id
    service: Code
    referred_on: date


class MonitoringVisitRecorded(ObservedEvent):
    # notes are encrypted: not read.
    event_type = "avrr.reintegration.MonitoringVisitRecorded"

    case_id: Id
    due_month: int
    visited_on: date


class SustainabilityScored(ObservedEvent):
    event_type = "avrr.reintegration.SustainabilityScored"

    case_id: Id
    stage: Code
    composite: float
    sustainable: bool
    scored_on: date


class ReintegrationCompleted(ObservedEvent):
    event_type = "avrr.reintegration.ReintegrationCompleted"

    case_id: Id
    completed_on: date


class ReintegrationStopped(ObservedEvent):
    event_type = "avrr.reintegration.ReintegrationStopped"

    case_id: Id
    reason: Code
    stopped_at: datetime


OBSERVED: tuple[type[ObservedEvent], ...] = (
    EligibilityDecided,
    VulnerabilityAssessed,
    BestInterestsDeterminationRecorded,
    DueDiligenceChecked,
    DueDiligenceCleared,
    DueDiligenceRejected,
    AssessmentClosed,
    AssessmentReopened,
    MovementOpened,
    TravelDocumentObtained,
    FitForTravelConfirmed,
    TicketIssued,
    DepartureConfirmed,
    ArrivalConfirmed,
    MovementHeld,
    MovementReleased,
    MovementRebooked,
    MovementCancelled,
    MovementReinstated,
    ReintegrationEligibilityDecided,
    ReintegrationPlanAgreed,
    AssistanceDisbursed,
    ServiceReferralMade,
    MonitoringVisitRecorded,
    SustainabilityScored,
    ReintegrationCompleted,
    ReintegrationStopped,
    TravelWithdrawalConflictDetected,
    TravelWithdrawalConflictResolved,
    ReintegrationWithdrawalConflictDetected,
    ReintegrationWithdrawalConflictResolved,
)
