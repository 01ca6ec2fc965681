"""Counselling sessions: the informed decision to apply for return (or not)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field

from avrr_events import DomainEvent, Encrypted

Outcome = Literal[
    "continue_counselling",
    "decided_to_apply",
    "decided_not_to_apply",
    "referred_to_other_services",
]
# The outcome that ends the case: the person chose not to return with the programme.
CLOSING_OUTCOME: Outcome = "decided_not_to_apply"


class CounsellingRecorded(DomainEvent):
    event_type = "avrr.intake.CounsellingRecorded"

    case_id: str
    session_id: str
    held_on: date
    office: str = Field(max_length=100)
    counsellor: str = Field(max_length=200, description="staff user id")
    language: str = Field(max_length=35)
    topics: (
        Encrypted | Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=20)]
    ) = Field(
        default_factory=list,
        description="the topics talked about, under the principal's key (a plain list only "
        "in events written before they were encrypted: read, never written)",
    )
    outcome: Outcome
    notes: Encrypted | None = Field(default=None, description="under the principal's key")
    recorded_at: datetime
