"""Dates people enter: a day or a moment that has already come (UTC), never a later one.

A counselling session, a consent, a disbursement or a visit is recorded after
it happened. JSON Schema cannot compare a value with today, so the types'
descriptions state the rule in the OpenAPI documents; the validators refuse a
later value with "must not be in the future" (422).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

from avrr_events.notices.catalogs import N_
from avrr_events.refusals import worded
from avrr_events.validation import InvalidValue

FUTURE = worded(N_("must not be in the future"))


def not_in_future(day: date) -> date:
    """``day``, unless it is after today (UTC): ValueError."""
    if day > datetime.now(UTC).date():
        raise InvalidValue(FUTURE)
    return day


def moment_not_in_future(moment: datetime) -> datetime:
    """``moment`` (with its offset), unless it is after now: ValueError."""
    if moment > datetime.now(UTC):
        raise InvalidValue(FUTURE)
    return moment


NOT_IN_FUTURE = "not after today (UTC, now for a moment); a later one is refused (422)"
"""The description of a date or moment that must not be in the future."""

PastDate = Annotated[date, AfterValidator(not_in_future), Field(description=NOT_IN_FUTURE)]
PastMoment = Annotated[
    AwareDatetime,
    AfterValidator(moment_not_in_future),
    Field(description=f"with its UTC offset; {NOT_IN_FUTURE}"),
]
