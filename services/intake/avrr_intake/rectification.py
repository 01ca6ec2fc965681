"""Rectification: correcting a person's personal data (GDPR art. 16), with its reason.

A mistake in a name or a date of birth is corrected by an event, never by
editing the referral: the history stays one history, and who corrected what,
when and why is on record. ``PersonalDataRectified`` names the fields that
changed (``fields``) but carries their values only encrypted under the
person's key, as the person's whole corrected record (``personal``), so that
every read model can take it as it stands, without the referral: the case
file, the possible-duplicate check (the person's new ``duplicate_key``) and
the people search re-index the person from it, and erasing the person shreds
it with everything else. Neither the old nor the new values appear in
plaintext anywhere: not in the event, the timeline or the response.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from avrr_events import DomainEvent, Encrypted
from avrr_intake.referral import CaseId

# The person's encrypted record as the referral keeps it ({given_names, family_name,
# date_of_birth, document?}); sex and relationship are plaintext facts other services
# decide on, corrected by a household amendment, not here.
RectifiableField = Literal["given_names", "family_name", "date_of_birth", "document"]
RECTIFIABLE_FIELDS: tuple[RectifiableField, ...] = (
    "given_names",
    "family_name",
    "date_of_birth",
    "document",
)
RectificationReason = Literal[
    "data_subject_request",  # the person asked (their right to rectification)
    "clerical_error",  # mistyped or misheard when recorded
    "new_document",  # a new or better identity document was shown
    "other",
]


class PersonalDataRectified(DomainEvent):
    """A person's personal data was corrected; ``fields`` says which, never to what."""

    event_type = "avrr.intake.PersonalDataRectified"

    case_id: CaseId
    person_id: str = Field(min_length=1, max_length=100)
    fields: list[RectifiableField] = Field(
        min_length=1, max_length=4, description="which fields changed (names, never values)"
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
    reason: RectificationReason
    note: Encrypted | None = Field(
        default=None, description="what the person or the caseworker said, under the person's key"
    )
    rectified_by: str = Field(max_length=200)
    rectified_at: datetime
