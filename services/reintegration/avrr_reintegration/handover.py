"""Handover: the receiving office in the country of origin that confirmed the arrival
works the reintegration case too (avrr_events.authorization.handed_over_to says when).

The case belongs to the office of its movement (``reintegration_cases.office``)
and, once handed over, to the receiving office as well: its reintegration
officers see and work the case. This read model keeps the receiving office,
and only an office the registry (avrr_events.offices) knows in the destination
country: a confirmer from anywhere else hands the case over to no one.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import DomainEvent, Envelope, Projection
from avrr_events.authorization import handed_over_to
from avrr_events.offices import OfficeRegistry
from avrr_reintegration.observed import ArrivalConfirmed
from avrr_reintegration.read_models import cases

metadata = MetaData()

handovers = Table(
    "reintegration_handovers",
    metadata,
    Column("case_id", String(100), primary_key=True),
    Column("receiving_office", String(200), nullable=False, index=True),
    Column("handed_over_at", DateTime(timezone=True), nullable=False),
)


class CaseHandovers(Projection):
    """Which receiving office each case was handed over to (one per case: the latest)."""

    name = "reintegration_case_handovers"
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
    """The offices that work a case: its movement's and, once handed over, the receiving
    office; None: no such case. One indexed read (asked before every case request)."""
    c, h = cases.c, handovers.c
    row = (
        await conn.execute(
            select(c.office, h.receiving_office)
            .select_from(cases.outerjoin(handovers, h.case_id == c.case_id))
            .where(c.case_id == case_id)
        )
    ).first()
    if row is None:
        return None
    return frozenset(office for office in row if office)
