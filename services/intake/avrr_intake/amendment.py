"""Amending a requested return: another destination or programme before clearance.

Intake records the change (``ReturnRequestAmended``) on the case; eligibility,
which owns clearance, decides whether it still applies. Until due diligence
cleared the return, eligibility re-assesses the request with the new
destination (its AssessmentAmended and a new EligibilityDecided), and travel
and reintegration follow without anything of their own: they learn the
destination from the clearance (DueDiligenceCleared) and the arrival, both
written after the amendment.

The race between a change and a clearance is settled by eligibility's
assessment stream, where both are written in one order: a clearance decided
on the old destination that loses the race fails its append (409, nothing
lost); an amendment that arrives after a clearance is refused there
(eligibility's AmendmentRefused), and intake then records
``ReturnAmendmentRefused``, restoring on the case the destination as
cleared. Intake itself refuses a change (409) as soon as it has seen the
clearance, so the asynchronous refusal only ever covers the race.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from avrr_events import DomainEvent, Encrypted
from avrr_intake.referral import CaseId, CountryCode

AmendedField = Literal["destination_country", "destination_region", "programme_hint"]
AMENDABLE_FIELDS: tuple[AmendedField, ...] = (
    "destination_country",
    "destination_region",
    "programme_hint",
)
AmendmentReason = Literal[
    "person_request",  # the person wants to go elsewhere
    "family_situation",  # family to join moved, or is elsewhere
    "safety",  # the first destination is no longer safe for them
    "recording_error",  # the request was recorded wrongly
    "other",
]


class ReturnRequestAmended(DomainEvent):
    """The return request now names another destination or programme (before clearance)."""

    event_type = "avrr.intake.ReturnRequestAmended"

    case_id: CaseId
    amendment_id: str = Field(min_length=1, max_length=100)
    destination_country: CountryCode
    destination_region: str | None = Field(default=None, max_length=100)
    programme_hint: str | None = Field(default=None, max_length=100)
    changed: list[AmendedField] = Field(min_length=1, max_length=3)
    reason: AmendmentReason
    note: Encrypted | None = Field(
        default=None, description="what the person said, under the principal's key"
    )
    amended_by: str = Field(max_length=200)
    amended_at: datetime


class ReturnAmendmentRefused(DomainEvent):
    """Eligibility refused an amendment that reached it after clearance: the destination
    of the case is again the one cleared for travel."""

    event_type = "avrr.intake.ReturnAmendmentRefused"

    case_id: CaseId
    amendment_id: str = Field(min_length=1, max_length=100)
    destination_country: CountryCode
    destination_region: str | None = Field(default=None, max_length=100)
    programme_hint: str | None = Field(default=None, max_length=100)
    refused_at: datetime
