"""Informed consent, per person and per purpose, withdrawable at any moment.

Each ConsentGiven / ConsentWithdrawn concerns one person and one purpose, so
a subscriber (eligibility, travel, a government integration topic) can tell
exactly what may be shared about whom, and a withdrawal cancels exactly the
consent it names. For a child, the guardian or legal representative consents
and the child's own views are recorded (both encrypted under the child's key).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from avrr_events import DomainEvent, Encrypted
from avrr_intake.referral import CaseId

Purpose = Literal[
    "return_assistance_processing",
    "contact_by_programme",
    "share_with_authorities",
    "share_with_reintegration_partners",
    "medical_data_processing",
]
PURPOSES: tuple[Purpose, ...] = (
    "return_assistance_processing",
    "contact_by_programme",
    "share_with_authorities",
    "share_with_reintegration_partners",
    "medical_data_processing",
)
# Being contacted by the programme: withdrawn, the case's contact details (the principal's)
# are hidden and are no search key (search.py) until the principal gives it again.
CONTACT_BY_PROGRAMME: Purpose = "contact_by_programme"
# Without these, for every member of the household, there is no application to return.
REQUIRED_FOR_RETURN: tuple[Purpose, ...] = ("return_assistance_processing",)

GivenBy = Literal["self", "guardian", "legal_representative"]

# Why a person withdraws (a consent, or the whole case): coded, so that reports and the
# supervisor's conflict list can count them without reading anybody's words; what the
# person said goes in an optional note encrypted under their key. The codes follow the
# reasons AVRR programmes record when a migrant does not go ahead with an assisted return;
# "regularised_stay", "left_host_country" and "unreachable" were the case withdrawal's
# first codes and stay, so that old events read and old clients keep working.
WithdrawalReason = Literal[
    "changed_mind",
    "staying_in_host_country",
    "returned_by_other_means",
    "safety_concerns",
    "other",
    "regularised_stay",
    "left_host_country",
    "unreachable",
    "family_reasons",
    "health_reasons",
]
# What each code means, as the OpenAPI documents it (test_intake_withdrawal_reasons checks
# that every code has its meaning).
WITHDRAWAL_REASONS: dict[str, str] = {
    "changed_mind": "the person no longer wishes to return (voluntariness: no reason owed)",
    "staying_in_host_country": "the person decided to stay in the host country",
    "returned_by_other_means": "the person returned on their own, without the programme",
    "safety_concerns": "fear for their safety at the destination (conflict, persecution, "
    "threats, trafficking network)",
    "family_reasons": "family circumstances: a relative stays, falls ill or needs them",
    "health_reasons": "the person's or a relative's health does not allow the return now",
    "regularised_stay": "the person obtained a legal stay (residence, asylum, work permit)",
    "left_host_country": "the person moved on to another country",
    "unreachable": "the programme lost contact with the person",
    "other": "another reason (say it in the note)",
}
# Read for a consent withdrawal recorded before reasons were coded (its reason is absent).
NOT_RECORDED = "not_recorded"


def withdrawal_reasons_described(lead: str) -> str:
    """An OpenAPI description: ``lead``, then every withdrawal code with its meaning."""
    return (
        lead
        + ": "
        + "; ".join(f"`{code}`: {meaning}" for code, meaning in WITHDRAWAL_REASONS.items())
    )


# What the person may allow to be shared with the authorities of their country
# of origin (``share_with_authorities``), field by field; see authorities.py.
AuthorityField = Literal[
    "given_names", "family_name", "date_of_birth", "sex", "nationality", "travel_document"
]
AUTHORITY_FIELDS: tuple[AuthorityField, ...] = (
    "given_names",
    "family_name",
    "date_of_birth",
    "sex",
    "nationality",
    "travel_document",
)


class ConsentGiven(DomainEvent):
    event_type = "avrr.intake.ConsentGiven"

    case_id: CaseId
    person_id: str
    purpose: Purpose
    given_on: date
    given_by: GivenBy
    representative_person_id: str | None = Field(
        default=None, description="the guardian when they are in the household"
    )
    representative: Encrypted | None = Field(
        default=None, description="{name, relationship} of a guardian outside the household"
    )
    child_views: Encrypted | None = Field(default=None, description="the child's own views")
    language: str = Field(
        max_length=35, description="the language the consent text was shown (or interpreted) in"
    )
    recorded_by: str = Field(max_length=200)
    recorded_at: datetime
    # Optional addition (v1 stays v1): the version of the purpose's text the person was
    # shown (consent_texts.py). Absent in consents recorded before texts were versioned.
    text_version: str | None = Field(
        default=None,
        max_length=100,
        description="the purpose's text shown, as <purpose>@<edition> "
        "(e.g. return_assistance_processing@2026-12; absent: recorded before versions)",
    )
    # Optional addition (v1 stays v1: absent in older events): for
    # share_with_authorities, exactly the fields the person agreed to share.
    # Absent means none: an older consent cannot prove which fields it covered.
    shared_fields: list[AuthorityField] | None = Field(
        default=None,
        description="share_with_authorities only: the fields that may be shared (absent: none)",
    )


class ConsentWithdrawn(DomainEvent):
    event_type = "avrr.intake.ConsentWithdrawn"

    case_id: CaseId
    person_id: str | None = None
    purpose: Purpose
    withdrawn_at: datetime
    recorded_by: str = Field(max_length=200)
    # Optional additions (v1 stays v1): withdrawals recorded before them have no reason.
    reason: WithdrawalReason | None = Field(
        default=None, description="why (coded); absent: recorded before reasons were coded"
    )
    note: Encrypted | None = Field(
        default=None,
        description="what the person said, under their key (the principal's "
        "for the whole household)",
    )

    @property
    def reason_code(self) -> str:
        """The coded reason, ``not_recorded`` for a withdrawal recorded without one."""
        return self.reason or NOT_RECORDED
