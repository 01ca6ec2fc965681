"""Handover: the receiving office in the country of origin that confirmed the arrival
works the reintegration case too (avrr_events.handover.handed_over_to says when).

The case belongs to the office of its movement (``reintegration_cases.office``)
and, once handed over, to the receiving office as well: its reintegration
officers see and work the case. This read model keeps the receiving office,
and only an office the registry (avrr_events.offices) knows in the destination
country: a confirmer from anywhere else hands the case over to no one. The
projection and the query are avrr_events.handover, shared with intake.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Database, handover
from avrr_reintegration.observed import ArrivalConfirmed
from avrr_reintegration.read_models import cases


class CaseHandovers(handover.CaseHandovers, service="reintegration", arrival=ArrivalConfirmed):
    """Which receiving office each case was handed over to (avrr_events.handover)."""


metadata = CaseHandovers.metadata
handovers = CaseHandovers.table


async def case_offices(conn: AsyncConnection | Database, case_id: str) -> frozenset[str] | None:
    """The offices that work a case: its movement's and, once handed over, the receiving
    office; None: no such case. One indexed read (asked before every case request)."""
    return await handover.case_offices(conn, cases, handovers, case_id)
