"""Referrals: who refers a migrant, the household, and the possible-duplicate check.

A referral opens a case: ``ReferralReceived`` is the case's first event, so
there is no separate CaseOpened (a case never exists without its referral,
and two events for one fact would only let them disagree). A referral does
not mean eligibility: that is decided later by the eligibility service.

Non-personal facts that other services need (nationality, host country, age
in years, sex, relationship, household size, unaccompanied child) are
plaintext; names, dates of birth, documents, contacts and declared needs are
``Encrypted`` for the person they describe.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import date, datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from avrr_events import DomainEvent, Encrypted

# Shapes shared with the other services (docs/events.md, HouseholdMember).
Sex = Literal["female", "male", "other", "unknown"]
Relationship = Literal["principal", "spouse", "child", "parent", "sibling", "other"]
ReferralSource = Literal[
    "ngo", "consulate", "government_office", "iom_office", "other_partner", "self_referral"
]
# In events a country is just two capitals: the ISO list is checked on input,
# so an event written today stays readable if the list changes tomorrow.
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
# Ids as every consumer of intake's events reads them (their observed.py): the published
# schemas say so, so that a subscriber's stricter reader is no surprise.
CaseId = Annotated[str, Field(min_length=1, max_length=100)]
OfficeId = Annotated[str, Field(min_length=1, max_length=100)]
ADULT_AGE = 18


class ReferredPerson(BaseModel):
    """One member of the household as the referral describes them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    person_id: str = Field(max_length=100)
    relationship: Relationship
    sex: Sex
    age_years: int = Field(ge=0, le=130, description="age at referral")
    unaccompanied_minor: bool
    personal: Encrypted = Field(
        description="{given_names, family_name, date_of_birth, document?} for this person"
    )
    duplicate_key: Encrypted | None = Field(
        default=None,
        description="keyed hash of name + date of birth + nationality, encrypted with the "
        "person so that erasing them erases it too",
    )


class HouseholdMember(BaseModel):
    """The non-personal facts about one traveller that other services decide on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    person_id: str
    age_years: int = Field(ge=0, le=130)
    sex: Sex
    relationship: Relationship
    unaccompanied_minor: bool


class ReferralReceived(DomainEvent):
    """A partner (or the migrant themself) referred a household; this opens the case."""

    event_type = "avrr.intake.ReferralReceived"

    case_id: str = Field(max_length=100)
    source: ReferralSource
    referring_organisation: str | None = Field(default=None, max_length=200)
    referrer: Encrypted | None = Field(
        default=None, description="{name, contact} of the referrer, under the principal's key"
    )
    contact_sharing_consented: bool
    contact: Encrypted | None = Field(
        default=None,
        description="the migrant's contact details; present only when they consented to share",
    )
    office: str = Field(max_length=100)
    host_country: CountryCode
    current_city: Encrypted | Annotated[str, Field(max_length=100)] | None = Field(
        default=None,
        description="the city the household lives in now, under the principal's key "
        "(plaintext only in events written before it was encrypted: read, never written)",
    )
    nationality: CountryCode
    languages: list[str] = Field(default_factory=list, max_length=10)
    household: list[ReferredPerson] = Field(min_length=1, max_length=30)
    declared_needs: Encrypted | None = Field(
        default=None, description="needs as declared (may touch health), under the principal's key"
    )
    received_by: str = Field(max_length=200)
    received_at: datetime


class DuplicateMatch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    person_id: str
    matching_case_id: str
    matching_person_id: str


class PossibleDuplicateFlagged(DomainEvent):
    """A person of this referral looks like a person of another open case (for a human to check).

    ``matches`` names only cases the referring user's offices see; a match in a case of
    another office is counted in ``elsewhere``, without its case or person id (that office
    is told through DuplicateReferredElsewhere on its own case).
    """

    event_type = "avrr.intake.PossibleDuplicateFlagged"

    case_id: str
    # v1 stays v1: min_length was 1 before ``elsewhere``; one of the two is never empty.
    matches: list[DuplicateMatch] = Field(default_factory=list)
    elsewhere: int = Field(
        default=0, ge=0, description="matches in cases of offices the referrer does not see"
    )
    flagged_at: datetime

    @model_validator(mode="after")
    def _something_matched(self) -> Self:
        if not self.matches and not self.elsewhere:
            raise ValueError("a possible duplicate has matches, or matches elsewhere")
        return self


class DuplicateReferredElsewhere(DomainEvent):
    """A person of this case was referred again at an office that does not see this case.

    Recorded on the earlier case, so that its office's supervisors learn of it
    (``GET /duplicate-alerts``); which office referred them, and under which case,
    is not said: neither office learns the other's ids.
    """

    event_type = "avrr.intake.DuplicateReferredElsewhere"

    case_id: str
    person_id: str
    flagged_at: datetime


def age_on(born: date, day: date) -> int:
    """Age in whole years on ``day``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def normalised_name(name: str) -> str:
    """Casefolded, accents stripped, spaces collapsed: 'José  MARÍA' -> 'jose maria'."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def duplicate_key(secret: bytes, full_name: str, born: date, nationality: str) -> str:
    """HMAC-SHA256 of the normalised identity: comparable, but useless without the secret."""
    message = "\x1f".join((normalised_name(full_name), born.isoformat(), nationality.upper()))
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()
