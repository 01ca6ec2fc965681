"""A household member who leaves the household before departure, and the way back.

``HouseholdMemberRemoved`` takes a person off the case's household (they stay
in the host country, left the family, were recorded by mistake) with its
reason; their personal data stays theirs, under their key, and is erased with
the case. The principal is never removed (the case is theirs), nor the last
adult of a household with children: children would be left to travel
unaccompanied, which is a different case and needs a best-interests
determination.

Downstream, eligibility owns the household until clearance: it takes the
person off the request and decides again (HouseholdMemberLeft). After
clearance it passes the change on, and travel, which owns the movement until
departure, takes the traveller off it (TravellerRemoved). A removal that
reached travel after the departure it raced with is refused there
(TravellerRemovalRefused): the person travelled, and intake then records
``HouseholdMemberRestored``. Intake itself refuses a removal (409) as soon as
it has seen the departure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from avrr_events import DomainEvent, Encrypted
from avrr_intake.referral import CaseId, Relationship, Sex

RemovalReason = Literal[
    "stays_in_host_country",  # decided not to return
    "left_household",  # separated from the family
    "recording_error",  # was never part of this household
    "deceased",
    "other",
]


class HouseholdMemberRemoved(DomainEvent):
    """A person left the case's household before departure (not the principal)."""

    event_type = "avrr.intake.HouseholdMemberRemoved"

    case_id: CaseId
    person_id: str = Field(min_length=1, max_length=100)
    reason: RemovalReason
    note: Encrypted | None = Field(
        default=None, description="what was said, under the removed person's key"
    )
    household_size: int = Field(ge=1, le=30, description="how many people remain")
    removed_by: str = Field(max_length=200)
    removed_at: datetime


class HouseholdMemberRestored(DomainEvent):
    """A removal reached travel after the household departed: the person travelled with it
    and is a member of the case again."""

    event_type = "avrr.intake.HouseholdMemberRestored"

    case_id: CaseId
    person_id: str = Field(min_length=1, max_length=100)
    # The member's non-personal facts, as the household is shown and counted again.
    age_years: int = Field(ge=0, le=130)
    sex: Sex
    relationship: Relationship
    household_size: int = Field(ge=1, le=30, description="how many people there are again")
    restored_at: datetime
