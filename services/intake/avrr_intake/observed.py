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

from avrr_events import ObservedCaseEvent, ObservedEvent
from avrr_events.registry import declared_events

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


class EligibilityDecided(ObservedCaseEvent):
    event_type = "avrr.eligibility.EligibilityDecided"

    programme_id: str | None = None
    eligible: bool
    decided_at: datetime


class AssessedCategory(_Part):
    category: Code
    severity: Code


class VulnerabilityAssessed(ObservedCaseEvent):
    event_type = "avrr.eligibility.VulnerabilityAssessed"

    person_id: str | None = Field(default=None, max_length=200)
    categories: list[AssessedCategory] = Field(max_length=50)
    assessed_by: Code
    assessed_at: datetime


class BestInterestsDeterminationRecorded(ObservedCaseEvent):
    event_type = "avrr.eligibility.BestInterestsDeterminationRecorded"

    person_id: str = Field(max_length=200)
    outcome: Code
    determined_by: Code
    determined_at: datetime


class DueDiligenceChecked(ObservedCaseEvent):
    # The checklist's answers stay in eligibility; the timeline says who submitted it.
    event_type = "avrr.eligibility.DueDiligenceChecked"

    checked_by: Code
    checked_at: datetime


class DueDiligenceCleared(ObservedCaseEvent):
    event_type = "avrr.eligibility.DueDiligenceCleared"

    programme_id: Id
    office: Code
    host_country: Code
    destination_country: Code
    transport_mode: Code
    household: list[Traveller] = Field(min_length=1, max_length=50)
    cleared_at: datetime


class DueDiligenceRejected(ObservedCaseEvent):
    # The reasons are free text written by a caseworker: counted, never shown.
    event_type = "avrr.eligibility.DueDiligenceRejected"

    reasons: list[str] = Field(max_length=100)
    rejected_at: datetime


class AssessmentClosed(ObservedCaseEvent):
    event_type = "avrr.eligibility.AssessmentClosed"

    reason: str = Field(max_length=1000)
    closed_at: datetime


class AssessmentAmended(ObservedCaseEvent):
    """Eligibility re-assessed the request with the destination of a ReturnRequestAmended."""

    event_type = "avrr.eligibility.AssessmentAmended"

    amendment_id: Id
    destination_country: Code
    destination_region: str | None = Field(default=None, max_length=100)
    amended_at: datetime


class AmendmentRefused(ObservedCaseEvent):
    """An amendment reached eligibility after clearance: the destination cleared stands."""

    event_type = "avrr.eligibility.AmendmentRefused"

    amendment_id: Id
    destination_country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    destination_region: str | None = Field(default=None, max_length=100)
    programme_hint: str | None = Field(default=None, max_length=100)
    refused_at: datetime


class HouseholdMemberLeft(ObservedCaseEvent):
    """Eligibility took a person who left the household off the request (or, cleared, on to
    travel)."""

    event_type = "avrr.eligibility.HouseholdMemberLeft"

    person_id: Id
    cleared: bool
    left_at: datetime


class HouseholdMemberJoined(ObservedCaseEvent):
    """Eligibility put a person who joined the household on the request (decided again);
    ``clearance_lapsed``: the household had been cleared without them, and is cleared again."""

    event_type = "avrr.eligibility.HouseholdMemberJoined"

    person_id: Id
    joined_at: datetime
    clearance_lapsed: bool = False


class HouseholdAdditionRefused(ObservedCaseEvent):
    """The household travels as cleared, without the person added: they are not a member
    (recorded when an addition lapsed a clearance travel had departed with)."""

    event_type = "avrr.eligibility.HouseholdAdditionRefused"

    person_id: Id
    refused_at: datetime


class AssessmentReopened(ObservedCaseEvent):
    event_type = "avrr.eligibility.AssessmentReopened"

    reopened_at: datetime
    # case_reopened: taken up after the case's reopening, its clearance to be given again.
    cause: str | None = Field(default=None, max_length=100)


# ------------------------------------------------------------------- travel --


class MovementOpened(ObservedCaseEvent):
    event_type = "avrr.travel.MovementOpened"

    programme_id: Id
    destination_country: Code
    transport_mode: Code
    opened_at: datetime


class TravelDocumentObtained(ObservedCaseEvent):
    event_type = "avrr.travel.TravelDocumentObtained"

    person_id: str = Field(max_length=200)
    document_type: Code
    obtained_on: date


class FitForTravelConfirmed(ObservedCaseEvent):
    # health_details (encrypted, medical role only) deliberately not read.
    event_type = "avrr.travel.FitForTravelConfirmed"

    person_id: str = Field(max_length=200)
    outcome: Code
    confirmed_at: datetime


class TicketIssued(ObservedCaseEvent):
    # The booking reference identifies a passenger with the carrier: not read.
    event_type = "avrr.travel.TicketIssued"

    mode: Code
    carrier: str = Field(max_length=200)
    departure_date: date
    issued_at: datetime


class DepartureConfirmed(ObservedCaseEvent):
    event_type = "avrr.travel.DepartureConfirmed"

    departed_at: datetime


class MovementJoinedGroup(ObservedCaseEvent):
    # Read for the group's manifest and consulate list (manifests.py).
    event_type = "avrr.travel.MovementJoinedGroup"

    group_id: Id
    at: datetime


class MovementLeftGroup(ObservedCaseEvent):
    event_type = "avrr.travel.MovementLeftGroup"

    group_id: Id
    cause: Code
    at: datetime


class ArrivalConfirmed(ObservedCaseEvent):
    event_type = "avrr.travel.ArrivalConfirmed"

    programme_id: Id
    office: Code
    destination_country: Code
    arrived_at: datetime
    confirmed_by: Code
    confirmer_id: str | None = Field(default=None, max_length=200)


class TravellerRemoved(ObservedCaseEvent):
    event_type = "avrr.travel.TravellerRemoved"

    person_id: Id
    removed_at: datetime


class TravellerRemovalRefused(ObservedCaseEvent):
    """A removal reached the movement after the departure: the person travelled."""

    event_type = "avrr.travel.TravellerRemovalRefused"

    person_id: Id
    departed_at: datetime
    refused_at: datetime


class TravellerAdditionRefused(ObservedCaseEvent):
    """An addition's lapse of the clearance reached the movement after the departure: the
    household travelled without the person."""

    event_type = "avrr.travel.TravellerAdditionRefused"

    person_id: Id
    departed_at: datetime
    refused_at: datetime


class MovementHeld(ObservedCaseEvent):
    event_type = "avrr.travel.MovementHeld"

    at: datetime


class MovementReleased(ObservedCaseEvent):
    event_type = "avrr.travel.MovementReleased"

    at: datetime


class MovementRebooked(ObservedCaseEvent):
    event_type = "avrr.travel.MovementRebooked"

    new_departure_date: date


class MovementCancelled(ObservedCaseEvent):
    event_type = "avrr.travel.MovementCancelled"

    cancelled_at: datetime


class MovementReinstated(ObservedCaseEvent):
    event_type = "avrr.travel.MovementReinstated"

    at: datetime
    # Travel's own words (never an officer's): a reopened case's movement starts over.
    reason: str | None = Field(default=None, max_length=1200)


class _ConflictDetected(ObservedCaseEvent):
    """A ticket, departure or disbursement recorded after the case's withdrawal (travel's
    or reintegration's, same shape: avrr_events.withdrawal)."""

    command: Code
    conflicting_event_id: Id
    conflicting_event_type: str = Field(max_length=200)
    recorded_at: datetime
    withdrawal: Code
    withdrawn_at: datetime
    detected_at: datetime


class _ConflictResolved(ObservedCaseEvent):
    # the reason is encrypted: not read.
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


class ReintegrationEligibilityDecided(ObservedCaseEvent):
    event_type = "avrr.reintegration.ReintegrationEligibilityDecided"

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


class ReintegrationPlanAgreed(ObservedCaseEvent):
    event_type = "avrr.reintegration.ReintegrationPlanAgreed"

    components: list[PlanComponent] = Field(max_length=100)
    agreed_at: datetime


class AssistanceDisbursed(ObservedCaseEvent):
    event_type = "avrr.reintegration.AssistanceDisbursed"

    programme_id: Id
    kind: Code
    amount: Decimal
    currency: Code
    method: Code
    disbursed_on: date


class ServiceReferralMade(ObservedCaseEvent):
    event_type = "avrr.reintegration.ServiceReferralMade"

    service: Code
    referred_on: date


class MonitoringVisitRecorded(ObservedCaseEvent):
    # notes are encrypted: not read.
    event_type = "avrr.reintegration.MonitoringVisitRecorded"

    due_month: int
    visited_on: date
    satisfaction: int | None = None  # the coded scale of intake's satisfaction.py


class SustainabilityScored(ObservedCaseEvent):
    event_type = "avrr.reintegration.SustainabilityScored"

    stage: Code
    composite: float
    sustainable: bool
    scored_on: date


class ReintegrationCompleted(ObservedCaseEvent):
    event_type = "avrr.reintegration.ReintegrationCompleted"

    completed_on: date


class ReintegrationStopped(ObservedCaseEvent):
    event_type = "avrr.reintegration.ReintegrationStopped"

    reason: Code
    stopped_at: datetime


class ReintegrationReopened(ObservedCaseEvent):
    """The case's reopening lifted reintegration's stop: its arrival decides as for any."""

    event_type = "avrr.reintegration.ReintegrationReopened"

    reopened_at: datetime


OBSERVED: tuple[type[ObservedEvent], ...] = declared_events(globals(), ObservedEvent)
