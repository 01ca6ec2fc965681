"""What eligibility reads from intake (docs/events.md), as tolerant readers.

Only the fields this service uses are declared; intake may add fields freely.
A payload that does not fit (or an event version this service does not know)
is dead-lettered by the consumer, never half-applied.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from avrr_eligibility.countries import CountryCode
from avrr_events import EventRegistry, ObservedCaseEvent, ObservedEvent, household, transfers
from avrr_events.registry import declared_events


class HouseholdMember(household.HouseholdMember):
    """One person of the household: non-personal facts only (docs/events.md)."""


class ReturnRequested(ObservedCaseEvent):
    event_type = "avrr.intake.ReturnRequested"

    office: str = Field(min_length=1, max_length=100)
    nationality: CountryCode
    host_country: CountryCode
    destination_country: CountryCode
    destination_region: str | None = Field(default=None, max_length=100)
    programme_hint: str | None = None
    household: list[HouseholdMember] = Field(min_length=1)
    requested_at: datetime
    languages: list[str] = Field(default_factory=list, max_length=10)


class ReturnRequestAmended(ObservedCaseEvent):
    """The request names another destination or programme (intake's amendment.py)."""

    event_type = "avrr.intake.ReturnRequestAmended"

    amendment_id: str = Field(min_length=1, max_length=100)
    destination_country: CountryCode
    destination_region: str | None = Field(default=None, max_length=100)
    programme_hint: str | None = Field(default=None, max_length=100)
    amended_at: datetime


class HouseholdMemberRemoved(ObservedCaseEvent):
    """A person left the household before departure (intake's household_change.py)."""

    event_type = "avrr.intake.HouseholdMemberRemoved"

    person_id: str = Field(min_length=1, max_length=200)
    removed_at: datetime


class HouseholdMemberAdded(ObservedCaseEvent):
    """A person joined the household before departure (intake's household_change.py)."""

    event_type = "avrr.intake.HouseholdMemberAdded"

    member: HouseholdMember
    added_at: datetime


class HouseholdAdditionReversed(ObservedCaseEvent):
    """An addition was reversed (intake's household_change.py): travel refused it, the
    household had departed without the person."""

    event_type = "avrr.intake.HouseholdAdditionReversed"

    person_id: str = Field(min_length=1, max_length=100)
    reversed_at: datetime


class HouseholdFactsCorrected(ObservedCaseEvent):
    """A rectification changed an age or a sex once the return was requested (intake's
    rectification.py): the household's non-personal facts as corrected."""

    event_type = "avrr.intake.HouseholdFactsCorrected"

    household: list[HouseholdMember] = Field(min_length=1)
    corrected_at: datetime


class CaseWithdrawn(ObservedCaseEvent):
    event_type = "avrr.intake.CaseWithdrawn"

    reason: str = Field(max_length=500)
    withdrawn_at: datetime


class CaseReopened(ObservedCaseEvent):
    """The withdrawn or closed case was taken up again: the person came back and consents
    again (intake's case.py). Its return, if it had applied, resumes with ReturnResumed."""

    event_type = "avrr.intake.CaseReopened"

    resumes_return: bool = False
    reopened_at: datetime


class ConsentWithdrawn(ObservedCaseEvent):
    event_type = "avrr.intake.ConsentWithdrawn"

    person_id: str | None = Field(default=None, max_length=200)
    purpose: str = Field(min_length=1, max_length=100)
    withdrawn_at: datetime


class ReturnResumed(ObservedCaseEvent):
    """Every consent the return needs was given again after a withdrawal suspended it."""

    event_type = "avrr.intake.ReturnResumed"

    resumed_at: datetime


# Without this consent (of anyone in the household) the return request cannot be processed.
PROCESSING_CONSENT = "return_assistance_processing"


class TransferAccepted(transfers.CaseTransferred):
    """Intake\'s transfer of the case to another office, accepted (avrr_events.transfers)."""

    event_type = "avrr.intake.TransferAccepted"


registry = EventRegistry(declared_events(globals(), ObservedEvent))
