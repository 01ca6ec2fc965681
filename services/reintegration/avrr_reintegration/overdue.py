"""The overdue lists of an office: monitoring visits past due, and granted cases still without
a plan past the programme's deadline.

A list is the office's that answers for the case: the office of its movement
until the hand-over, then the receiving office that confirmed the arrival
(avrr_events.handover), which does the visits and agrees the plan in the
country of return. Both offices still read and work the case (handover.py);
only the to-do lists move, so that nothing overdue sits on the list of an
office that no longer follows the household, nor falls off every list.

A transfer accepted after the hand-over (the household moved on: intake's
transfer, avrr_events.transfers) moves the lists to the receiving office of the
transfer, which is then the case's office; a hand-over after a transfer still
gives them to the office that confirmed the arrival.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, FromClause, and_, case, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_reintegration.handover import handovers
from avrr_reintegration.read_models import (
    case_transfers,
    cases,
    contact_withdrawn,
    monitoring_visits,
)

_h = handovers.c
_t = case_transfers.c


def _answering() -> tuple[FromClause, ColumnElement[Any]]:
    """Cases with their hand-over and transfer, and the office that answers for each: the
    hand-over's unless a transfer was accepted after it, else the case's office (which a
    transfer moved)."""
    joined = cases.outerjoin(handovers, _h.case_id == cases.c.case_id).outerjoin(
        case_transfers, _t.case_id == cases.c.case_id
    )
    handed_over_last = and_(
        _h.receiving_office.is_not(None),
        or_(_t.transferred_at.is_(None), _t.transferred_at < _h.handed_over_at),
    )
    return joined, case((handed_over_last, _h.receiving_office), else_=cases.c.office)


async def visits(
    conn: AsyncConnection, office: str, as_of: date, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Visits of the active cases ``office`` answers for, due before ``as_of`` and not made,
    oldest first."""
    v = monitoring_visits.c
    joined, answering = _answering()
    rows = await conn.execute(
        select(
            v.case_id,
            v.due_month,
            v.due_on,
            answering.label("office"),
            contact_withdrawn(v.case_id).label("do_not_contact"),
        )
        .select_from(monitoring_visits.join(joined, cases.c.case_id == v.case_id))
        .where(
            answering == office,
            v.visited_on.is_(None),
            v.due_on < as_of,
            cases.c.status == "granted",
        )
        .order_by(v.due_on, v.case_id, v.due_month)
        .limit(limit)
        .offset(offset)
    )
    return [dict(r._mapping) for r in rows]


async def granted_without_plan(conn: AsyncConnection, office: str) -> list[dict[str, Any]]:
    """Active granted cases ``office`` answers for that have no agreed plan yet, earliest
    arrival first."""
    c = cases.c
    joined, answering = _answering()
    rows = await conn.execute(
        select(c.case_id, c.programme_id, c.arrived_on, answering.label("office"))
        .select_from(joined)
        .where(answering == office, c.status == "granted", c.plan.is_(None))
        .order_by(c.arrived_on, c.case_id)
    )
    return [dict(r._mapping) for r in rows]
