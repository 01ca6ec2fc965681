"""The other services' events travel reads (tolerant readers: only the fields it uses).

Contracts: docs/events.md. An inbound event that does not validate against
these models is dead-lettered by the consumer, never half-applied.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from avrr_events import ObservedCaseEvent, ObservedEvent, household, transfers
from avrr_events.household import one_entry_per_person
from avrr_events.registry import declared_events
from avrr_travel.escorts import Need, escort_needs_of

CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class HouseholdMember(household.HouseholdMember):
    """One person of the household, non-personal facts only (shared shape of docs/events.md)."""


class DueDiligenceCleared(ObservedCaseEvent):
    """Eligibility cleared the case: travel opens a movement for its household."""

    event_type = "avrr.eligibility.DueDiligenceCleared"

    programme_id: str = Field(min_length=1, max_length=100)
    office: str = Field(min_length=1, max_length=100)
    host_country: CountryCode
    destination_country: CountryCode
    destination_region: str | None = Field(default=None, max_length=100)
    transport_mode: Literal["air", "land"]
    household: list[HouseholdMember] = Field(min_length=1, max_length=50)
    languages: list[str] = Field(default_factory=list, max_length=10)

    @field_validator("household")
    @classmethod
    def _one_entry_per_person(cls, household: list[HouseholdMember]) -> list[HouseholdMember]:
        return one_entry_per_person(household)


class HouseholdMemberLeft(ObservedCaseEvent):
    """A person left the household; ``cleared``: after clearance, so off the movement."""

    event_type = "avrr.eligibility.HouseholdMemberLeft"

    person_id: str = Field(min_length=1, max_length=200)
    cleared: bool
    left_at: datetime


class HouseholdMemberJoined(ObservedCaseEvent):
    """A person joined the household; ``clearance_lapsed``: after clearance, which lapsed,
    so the movement waits for the household's new clearance (absent: before clearance)."""

    event_type = "avrr.eligibility.HouseholdMemberJoined"

    person_id: str = Field(min_length=1, max_length=200)
    clearance_lapsed: bool = False
    joined_at: datetime


class HouseholdCorrected(ObservedCaseEvent):
    """Intake corrected the household's ages or sexes (a rectified date of birth or sex);
    ``cleared``: after clearance, so the movement's travellers read so."""

    event_type = "avrr.eligibility.HouseholdCorrected"

    household: list[HouseholdMember] = Field(min_length=1, max_length=50)
    cleared: bool
    corrected_at: datetime


class DestinationSuspended(ObservedEvent):
    """Returns to a country (or one region of it) are suspended: hold every open movement there."""

    event_type = "avrr.eligibility.DestinationSuspended"

    destination_country: CountryCode
    destination_region: str | None = Field(default=None, max_length=100)
    reason: str = Field(min_length=1)
    suspended_at: datetime


class DestinationReopened(ObservedEvent):
    event_type = "avrr.eligibility.DestinationReopened"

    destination_country: CountryCode
    destination_region: str | None = Field(default=None, max_length=100)


class AssessmentClosed(ObservedCaseEvent):
    """Eligibility closed the case's assessment (a withdrawal of the case or of the consent
    to process the return): no return goes on while it is closed."""

    event_type = "avrr.eligibility.AssessmentClosed"

    reason: str = Field(max_length=1000)
    cause: str | None = Field(default=None, max_length=100)


class AssessmentReopened(ObservedCaseEvent):
    """The consent whose withdrawal closed the assessment was given again, or (``cause``
    case_reopened) intake reopened the withdrawn or closed case: a new clearance follows."""

    event_type = "avrr.eligibility.AssessmentReopened"

    cause: str | None = Field(default=None, max_length=100)
    # False for a consent given again: the clearance lapsed meanwhile (a person joined the
    # household), so the movement waits for the new clearance.
    cleared: bool = True


class AssessedCategory(BaseModel):
    """One screened category; a plain string, so a category travel does not know is ignored."""

    category: str = Field(min_length=1, max_length=100)


class VulnerabilityAssessed(ObservedCaseEvent):
    """Eligibility screened a person (or the whole case, ``person_id`` absent): the needs it
    found decide the escorts the ticket requires (escorts.py)."""

    event_type = "avrr.eligibility.VulnerabilityAssessed"

    person_id: str | None = Field(default=None, min_length=1, max_length=200)
    categories: list[AssessedCategory] = Field(max_length=50)
    assessed_at: datetime

    @property
    def needs(self) -> frozenset[Need]:
        """The screened categories that call for an escort."""
        return escort_needs_of(c.category for c in self.categories)


class CaseWithdrawn(ObservedCaseEvent):
    """The migrant changed their mind: cancel the movement, then do nothing more for the case."""

    event_type = "avrr.intake.CaseWithdrawn"

    reason: str = Field(max_length=1000)
    # The withdrawal's own time: a ticket or departure recorded after it is a conflict.
    withdrawn_at: datetime


class ConsentWithdrawn(ObservedCaseEvent):
    """A consent withdrawn (for one person, or the household when ``person_id`` is absent).

    ``purpose`` is a plain string: a purpose travel does not know is ignored,
    not dead-lettered.
    """

    event_type = "avrr.intake.ConsentWithdrawn"

    person_id: str | None = Field(default=None, min_length=1, max_length=200)
    purpose: str = Field(min_length=1, max_length=100)
    withdrawn_at: datetime


class ConsentGiven(ObservedCaseEvent):
    """A person consented to a purpose; travel reads only consents to medical data processing
    (health details are recorded only after one). ``purpose`` is a plain string, as above."""

    event_type = "avrr.intake.ConsentGiven"

    person_id: str = Field(min_length=1, max_length=200)
    purpose: str = Field(min_length=1, max_length=100)
    recorded_at: datetime


class PersonalDataErased(ObservedCaseEvent):
    """Intake crypto-shredded the people of a case: travel shreds its own copies of their keys."""

    event_type = "avrr.intake.PersonalDataErased"

    person_ids: list[str] = Field(max_length=50)


class TransferAccepted(transfers.CaseTransferred):
    """Intake\'s transfer of the case to another office, accepted (avrr_events.transfers)."""

    event_type = "avrr.intake.TransferAccepted"


OBSERVED: tuple[type[ObservedEvent], ...] = declared_events(globals(), ObservedEvent)
