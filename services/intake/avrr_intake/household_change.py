"""A household member who leaves or joins the household before travel, and the ways back.

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

``HouseholdMemberAdded`` brings a person into the household (a newborn, a
spouse who joined, a member the referral left out), with the facts and the
personal data a member has at the referral (``ReferredPerson``: encrypted
under their own new key, so that erasing the case shreds them too). Never a
second principal, never past the referral's limit of thirty people, and never
an adult into an unaccompanied child's case: that adult's claim to the child
is for family tracing and a best-interests determination, in a case of its own.
Once the return was requested, the new member's consent to it comes with the
addition: eligibility would otherwise process someone who never agreed to it.

An addition stops at departure, and lapses a clearance given before it: the new
member has to be screened (vulnerability, best interests, due diligence), and
clearance is the decision that the household as it stands may travel. Before
clearance eligibility puts the person on the request and decides again
(HouseholdMemberJoined); after it the same event says the clearance lapsed
(``clearance_lapsed``): the assessment awaits due diligence again, and travel's
movement, not departed, waits for the household's new clearance, its ticket void.
That clearance opens it with the new member, who needs a travel document and
fitness to travel before a ticket. Intake refuses an addition (409) from the
departure it has seen; one that raced with the departure reaches travel after it
and is refused there (TravellerAdditionRefused), and intake then records
``HouseholdAdditionReversed``: the person is not a member after all, and
eligibility's clearance stands again (HouseholdAdditionRefused). So a household
never departs without being cleared as a whole, and an addition and a departure
never both happen.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from avrr_events import DomainEvent, Encrypted
from avrr_intake.referral import CaseId, ReferredPerson, Relationship, Sex

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


AdditionReason = Literal[
    "born",  # a child born since the referral
    "joined_household",  # a spouse, parent or relative who joined the family
    "recording_error",  # a member the referral left out
    "other",
]
# The referral's limit on a household (ReferralIn.household), kept by every addition.
HOUSEHOLD_LIMIT = 30


class HouseholdMemberAdded(DomainEvent):
    """A person joined the case's household before departure (never a second principal)."""

    event_type = "avrr.intake.HouseholdMemberAdded"

    case_id: CaseId
    member: ReferredPerson = Field(
        description="as a referral's household member: facts plaintext, personal data "
        "under the new person's own key"
    )
    reason: AdditionReason
    note: Encrypted | None = Field(
        default=None, description="what was said, under the new person's key"
    )
    household_size: int = Field(ge=2, le=HOUSEHOLD_LIMIT, description="how many people there are")
    added_by: str = Field(max_length=200)
    added_at: datetime


class HouseholdAdditionReversed(DomainEvent):
    """The addition reached travel after the departure it raced with (travel's
    TravellerAdditionRefused; before, eligibility's HouseholdAdditionRefused after a clearance):
    the person is not a member of the case after all."""

    event_type = "avrr.intake.HouseholdAdditionReversed"

    case_id: CaseId
    person_id: str = Field(min_length=1, max_length=100)
    household_size: int = Field(ge=1, le=HOUSEHOLD_LIMIT, description="how many people remain")
    reversed_at: datetime
