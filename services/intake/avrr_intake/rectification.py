"""Rectification: correcting a person's personal data (GDPR art. 16), with its reason.

A mistake in a name, a date of birth, a phone number or the referrer's name is
corrected by an event, never by editing the referral: the history stays one
history, and who corrected what, when and why is on record.
``PersonalDataRectified`` names the fields that changed (``fields``) but
carries their values only encrypted under the person's key: the person's
whole corrected record (``personal``), and, when they changed, the case's
contact details, its referrer and its current city as the referral keeps them
(under the principal's key, whose they are). Every read model takes them as
they stand, without the referral: the case file, the possible-duplicate check
(the person's new ``duplicate_key``) and the people search re-index the person
from them, and erasing the person shreds them with everything else. Neither
the old nor the new values appear in plaintext anywhere: not in the event, the
timeline or the response. Sex is a plaintext fact, as in the referral: other
services decide on it.

Every personal field a referral records (``ReferralIn``) is rectifiable here
but the relationship (a household change, household_change.py) and the
nationality and host country (they decide the programme and the
jurisdiction: a correction there is a new assessment, not a rectification).

Downstream: after the return was requested, eligibility, travel and
reintegration decide on the household's ages, sexes and unaccompanied
children (ReturnRequested's ``household``). A rectification that changes
one of them (a date of birth, a sex) is followed by
``HouseholdFactsCorrected``: the household's non-personal facts as
corrected, in ReturnRequested's shape, so that eligibility assesses the
request again (its age-based rules, an unaccompanied child's best-interests
determination) and passes the change on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import Field

from avrr_events import DomainEvent, Encrypted
from avrr_intake.referral import CaseId, HouseholdMember, Sex

RectifiableField = Literal[
    "given_names",
    "family_name",
    "date_of_birth",
    "document",
    "sex",
    "contact",
    "referrer",
    "current_city",
]
RECTIFIABLE_FIELDS: tuple[RectifiableField, ...] = get_args(RectifiableField)
# The person's own record ({given_names, family_name, date_of_birth, document?}), under
# their key; the others are the case's (the principal's) or a plaintext fact (sex).
PERSONAL_FIELDS: tuple[RectifiableField, ...] = (
    "given_names",
    "family_name",
    "date_of_birth",
    "document",
)
# The case's data, the principal's (the referral seals it under their key).
PRINCIPALS_FIELDS: tuple[RectifiableField, ...] = ("contact", "referrer", "current_city")
# What other services decide on (ReturnRequested's household): a change is passed on.
HOUSEHOLD_FACTS: tuple[RectifiableField, ...] = ("date_of_birth", "sex")

RectificationReason = Literal[
    "data_subject_request",  # the person asked (their right to rectification)
    "clerical_error",  # mistyped or misheard when recorded
    "new_document",  # a new or better identity document was shown
    "other",
]
Organisation = Annotated[str, Field(max_length=200)]


class PersonalDataRectified(DomainEvent):
    """A person's personal data was corrected; ``fields`` says which, never to what."""

    event_type = "avrr.intake.PersonalDataRectified"

    case_id: CaseId
    person_id: str = Field(min_length=1, max_length=100)
    fields: list[RectifiableField] = Field(
        min_length=1,
        max_length=len(RECTIFIABLE_FIELDS),
        description="which fields changed (names, never values)",
    )
    personal: Encrypted = Field(
        description="the person's whole corrected record {given_names, family_name, "
        "date_of_birth, document?}, under their key: it replaces the referral's"
    )
    duplicate_key: Encrypted | None = Field(
        default=None,
        description="the person's new keyed identity hash (the possible-duplicate check), "
        "under their key",
    )
    age_years: int | None = Field(
        default=None, ge=0, le=130, description="the age on the day, when date_of_birth changed"
    )
    # Optional additions (v1 stays v1: absent in the rectifications of a person's record).
    sex: Sex | None = Field(default=None, description="the corrected sex, when it changed")
    contact: Encrypted | None = Field(
        default=None,
        description="the case's whole corrected contact details {phone?, email?, address?}, "
        "under the principal's key, when they changed: they replace the referral's",
    )
    referrer: Encrypted | None = Field(
        default=None,
        description="the corrected referrer {name, contact}, under the principal's key, "
        "when it changed",
    )
    referring_organisation: Organisation | None = Field(
        default=None,
        description="with referrer in fields: the referring organisation as it now reads",
    )
    current_city: Encrypted | None = Field(
        default=None,
        description="the corrected city the household lives in, under the principal's key",
    )
    reason: RectificationReason
    note: Encrypted | None = Field(
        default=None, description="what the person or the caseworker said, under the person's key"
    )
    rectified_by: str = Field(max_length=200)
    rectified_at: datetime


class HouseholdFactsCorrected(DomainEvent):
    """The household's non-personal facts (ReturnRequested's) after a rectification
    changed one of them once the return was requested: eligibility assesses it again.

    No name, date or document: the age in years (on the day), sex, relationship and
    unaccompanied child of every member, as ReturnRequested carries them."""

    event_type = "avrr.intake.HouseholdFactsCorrected"

    case_id: CaseId
    person_id: str = Field(
        min_length=1, max_length=100, description="the person whose data was rectified"
    )
    household: list[HouseholdMember] = Field(min_length=1)
    corrected_at: datetime
