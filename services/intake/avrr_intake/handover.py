"""Handover: the receiving office in the country of origin takes the case over on arrival.

A case belongs to the office that received its referral. When travel's
``ArrivalConfirmed`` says the receiving office confirmed the arrival
(``confirmed_by: receiving_office``, ``confirmer_id``: that office's id), the
case is handed over: from then on it belongs to that office too, and its
users see it in intake (lists, case file, timeline). An arrival confirmed by a
partner organisation names no office, so it hands the case over to none; nor
does one whose confirmer the office registry (avrr_events.offices) does not
know as an office of the destination country: travel refuses such arrivals,
and this reader does not trust that it always did.

The office scoping itself is avrr_events.web.authorization; the read model that
says which offices a case has is avrr_events.handover, with intake's table
here.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Database, handover
from avrr_intake import read_models
from avrr_intake.observed import ArrivalConfirmed


class CaseHandovers(handover.CaseHandovers, service="intake", arrival=ArrivalConfirmed):
    """Which receiving office each case was handed over to (avrr_events.handover)."""


metadata = CaseHandovers.metadata
handovers = CaseHandovers.table


async def case_offices(conn: AsyncConnection | Database, case_id: str) -> frozenset[str] | None:
    """The offices a case belongs to (referral office, receiving office); None: no such case.
    On a connection, or on the database (office scoping: no pool checkout on PostgreSQL)."""
    return await handover.case_offices(conn, read_models.cases, handovers, case_id)


def belongs_to(offices: frozenset[str]) -> ColumnElement[bool]:
    """A condition on ``intake_cases``: the case belongs to one of ``offices`` (or was
    handed over to one of them)."""
    return or_(held_by(offices), received_by(offices))


def held_by(offices: frozenset[str]) -> ColumnElement[bool]:
    """A condition on ``intake_cases``: one of ``offices`` holds the case (its referral's, or
    the one it was transferred to); the first half of ``belongs_to``."""
    return read_models.cases.c.office.in_(sorted(offices))


def received_by(offices: frozenset[str]) -> ColumnElement[bool]:
    """A condition on ``intake_cases``: the case was (last) handed over to one of ``offices``;
    the second half of ``belongs_to``."""
    h = handovers.c
    return read_models.cases.c.case_id.in_(
        select(h.case_id).where(h.receiving_office.in_(sorted(offices)))
    )
