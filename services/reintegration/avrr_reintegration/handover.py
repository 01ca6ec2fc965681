"""Handover: the receiving office in the country of origin that confirmed the arrival
works the reintegration case too (avrr_events.authorization.handed_over_to says when).

The case belongs to the office of its movement (``reintegration_cases.office``)
and, once handed over, to the receiving office as well: its reintegration
officers see and work the case. This read model keeps the receiving office.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import DomainEvent, Envelope, Projection
from avrr_events.authorization import handed_over_to
from avrr_reintegration.observed import ArrivalConfirmed

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

    async def apply(self, conn: AsyncConnection, event: DomainEvent, envelope: Envelope) -> None:
        if not isinstance(event, ArrivalConfirmed):
            return
        office = handed_over_to(event.confirmed_by, event.confirmer_id)
        if office is None:
            return
        h = handovers.c
        await conn.execute(handovers.delete().where(h.case_id == event.case_id))
        await conn.execute(
            handovers.insert().values(
                case_id=event.case_id, receiving_office=office, handed_over_at=event.arrived_at
            )
        )


async def receiving_office(conn: AsyncConnection, case_id: str) -> str | None:
    """The office the case was handed over to, if any."""
    h = handovers.c
    office: str | None = await conn.scalar(select(h.receiving_office).where(h.case_id == case_id))
    return office
