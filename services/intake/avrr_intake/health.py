"""Needs a person declares (health data): recorded only after their consent to medical data
processing was given, and read by the medical role only.

A referral arrives before any consent can be recorded for its people, so it
carries no declared needs (422 on ``declared_needs``); they are declared on the
case once the person consented (``POST /cases/{id}/declared-needs``). The
value rests under the person's health key, bound to the case, the person and
the field (avrr_events.personal.encrypt_for_purpose): a copy of the
ciphertext in another field or case does not open, and erasing the person
shreds it. Referrals recorded before this rule kept their needs under the
principal's key; they stay readable, by the medical role only.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from avrr_events import DomainEvent, Encrypted

MEDICAL_DATA_PROCESSING = "medical_data_processing"
DECLARED_NEEDS = "declared_needs"  # the field the ciphertext is bound to


class NeedsDeclared(DomainEvent):
    """A person's declared needs (may touch health), after their medical consent was given."""

    event_type = "avrr.intake.NeedsDeclared"

    case_id: str = Field(max_length=100)
    person_id: str = Field(max_length=100)
    declared_needs: Encrypted = Field(
        description="[need], under the person's health key, bound to case, person and field"
    )
    declared_by: str = Field(max_length=200)
    declared_at: datetime
