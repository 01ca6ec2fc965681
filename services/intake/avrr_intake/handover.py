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

The office scoping itself is avrr_events.authorization; this module is the
read model that says which offices a case has.
"""

from __future__ import annotations

from sqlalchemy import Column, ColumnElement, DateTime, MetaData, String, Table, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import DomainEvent, Envelope, Projection
from avrr_events.authorization import handed_over_to
from avrr_events.offices import OfficeRegistry
from avrr_intake import read_models
from avrr_intake.observed import ArrivalConfirmed

metadata = MetaData()

handovers = Table(
    "intake_handovers",
    metadata,
    Column("case_id", String(100), primary_key=True),
    Column("receiving_office", String(200), nullable=False, index=True),
    Column("handed_over_at", DateTime(timezone=True), nullable=False),
)


class CaseHandovers(Projection):
    """Which receiving office each case was handed over to (one per case: the latest)."""

    name = "intake_case_handovers"
    event_types = frozenset({ArrivalConfirmed.event_type})
    metadata = metadata

    def __init__(self, offices: OfficeRegistry) -> None:
        self.offices = offices

    async def apply(self, conn: AsyncConnection, event: DomainEvent, envelope: Envelope) -> None:
        if not isinstance(event, ArrivalConfirmed):
            return
        office = handed_over_to(
            event.confirmed_by, event.confirmer_id, event.destination_country, self.offices
        )
        if office is None:
            return
        h = handovers.c
        await conn.execute(handovers.delete().where(h.case_id == event.case_id))
        await conn.execute(
            handovers.insert().values(
                case_id=event.case_id, receiving_office=office, handed_over_at=event.arrived_at
            )
        )


async def case_offices(conn: AsyncConnection, case_id: str) -> frozenset[str] | None:
    """The offices a case belongs to (referral office, receiving office); None: no such case.

    One indexed read (asked before every case request): the case joined to its handover.
    """
    c, h = read_models.cases.c, handovers.c
    row = (
        await conn.execute(
            select(c.office, h.receiving_office)
            .select_from(read_models.cases.outerjoin(handovers, h.case_id == c.case_id))
            .where(c.case_id == case_id)
        )
    ).first()
    if row is None:
        return None
    return frozenset(office for office in row if office)


def belongs_to(offices: frozenset[str]) -> ColumnElement[bool]:
    """A condition on ``intake_cases``: the case belongs to one of ``offices`` (or was
    handed over to one of them)."""
    c, h = read_models.cases.c, handovers.c
    wanted = sorted(offices)
    return or_(
        c.office.in_(wanted),
        c.case_id.in_(select(h.case_id).where(h.receiving_office.in_(wanted))),
    )
