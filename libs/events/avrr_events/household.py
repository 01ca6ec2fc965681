"""A household member as the events carry it: the non-personal facts services decide on.

Intake publishes the household with ReturnRequested (docs/events.md);
eligibility assesses it and passes it on with DueDiligenceCleared; travel
opens a movement for it. The services that read it share this one shape, as
tolerant readers (unknown fields are ignored, so the publisher may add
facts); each declares it under its own docstring, which its event schemas
publish. Names, dates of birth and documents never travel here: they are
personal data, encrypted in intake's own events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from avrr_events.notices.catalogs import N_
from avrr_events.refusals import worded
from avrr_events.validation import InvalidValue


class HouseholdMember(BaseModel):
    """One person of the household: non-personal facts only (docs/events.md)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    person_id: str = Field(min_length=1, max_length=200)
    age_years: int = Field(ge=0, le=130)
    sex: Literal["female", "male", "other", "unknown"]
    relationship: Literal["principal", "spouse", "child", "parent", "sibling", "other"]
    unaccompanied_minor: bool = False

    @property
    def is_minor(self) -> bool:
        return self.age_years < 18

    @property
    def is_unaccompanied_child(self) -> bool:
        return self.unaccompanied_minor and self.is_minor


Members = TypeVar("Members", bound=Sequence[HouseholdMember])


def one_entry_per_person(household: Members) -> Members:
    """Refuse a household that names a person twice: travel books a seat per entry.

    A validator for the household fields of the publisher (eligibility) and its
    readers alike, so that what one writes the others read.
    """
    ids = [m.person_id for m in household]
    if len(set(ids)) != len(ids):
        raise InvalidValue(worded(N_("a person appears twice in the household")))
    return household
