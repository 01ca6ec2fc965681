"""The other services' events reintegration reads (tolerant readers: only the fields it uses).

Contracts: docs/events.md. An inbound event that does not validate against
these models is dead-lettered by the consumer, never half-applied.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from avrr_events import ObservedCaseEvent, ObservedEvent, transfers
from avrr_events.registry import declared_events

CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
Id = Annotated[str, Field(min_length=1, max_length=100)]


class ArrivalConfirmed(ObservedCaseEvent):
    """The returnee arrived: decide on reintegration assistance."""

    event_type = "avrr.travel.ArrivalConfirmed"

    programme_id: Id
    office: Id
    destination_country: CountryCode
    destination_region: str | None = Field(default=None, max_length=100)
    arrived_at: datetime
    # Who confirmed: the receiving office's confirmation hands the case over to it.
    confirmed_by: str | None = Field(default=None, max_length=100)
    confirmer_id: str | None = Field(default=None, max_length=200)
    # The household's languages (issue 19: the plan summary's); none in older arrivals.
    languages: list[str] = Field(default_factory=list, max_length=10)


class AssessedCategory(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    category: str = Field(min_length=1, max_length=100)
    severity: Literal["low", "medium", "high"]


class VulnerabilityAssessed(ObservedCaseEvent):
    """A household member's vulnerability: feeds the case's priority."""

    event_type = "avrr.eligibility.VulnerabilityAssessed"

    person_id: str | None = Field(default=None, max_length=100)
    categories: list[AssessedCategory] = Field(max_length=50)
    assessed_at: datetime


class CaseWithdrawn(ObservedCaseEvent):
    """The returnee withdrew: stop, free the place."""

    event_type = "avrr.intake.CaseWithdrawn"

    withdrawn_at: datetime


class CaseReopened(ObservedCaseEvent):
    """The withdrawn or closed case was taken up again: the person came back and consents
    again (intake's case.py); a withdrawal's stop before arrival is lifted."""

    event_type = "avrr.intake.CaseReopened"

    reopened_at: datetime


class ConsentWithdrawn(ObservedCaseEvent):
    """Withdrawn consent for ``share_with_reintegration_partners`` stops referrals at once."""

    event_type = "avrr.intake.ConsentWithdrawn"

    person_id: str | None = Field(default=None, max_length=100)
    purpose: str = Field(min_length=1, max_length=100)
    withdrawn_at: datetime


class ConsentGiven(ObservedCaseEvent):
    """A consent given (again): ``contact_by_programme`` given again lifts "do not contact"."""

    event_type = "avrr.intake.ConsentGiven"

    person_id: str = Field(min_length=1, max_length=100)
    purpose: str = Field(min_length=1, max_length=100)


class ReturnResumed(ObservedCaseEvent):
    """Every consent the return needs was given again: plans and disbursements go on."""

    event_type = "avrr.intake.ReturnResumed"

    resumed_at: datetime


class PersonalDataErased(ObservedCaseEvent):
    """Right to be forgotten: stop, shred the notes, keep only non-personal totals."""

    event_type = "avrr.intake.PersonalDataErased"

    person_ids: list[str] = Field(default_factory=list, max_length=100)
    erased_at: datetime


class TransferAccepted(transfers.CaseTransferred):
    """Intake\'s transfer of the case to another office, accepted (avrr_events.transfers)."""

    event_type = "avrr.intake.TransferAccepted"


OBSERVED_EVENTS: tuple[type[ObservedEvent], ...] = declared_events(globals(), ObservedEvent)
