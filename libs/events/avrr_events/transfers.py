"""A case transferred between offices, as the services after intake follow it.

Intake records transfers (avrr_intake.transfer): its ``TransferAccepted``
says that from now on the case is the receiving office's. Eligibility, travel
and reintegration file their rows of a case under an office (the return
request's, the clearance's, the movement's) and scope every case route and
list by it; each reads ``TransferAccepted`` (``CaseTransferred``, subclassed
in its observed.py) and moves the rows it has of the case to the receiving
office with ``follow``, in the projection that owns them, so a rebuild replays
the move too. The office that handed the case over sees those rows no more.

A row a service creates after the transfer takes the office of the event it
is created from, which its publisher's aggregate recorded (eligibility's
return request, travel's clearance): the transfer reaches those aggregates
only through intake's later events.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from sqlalchemy import Table, update
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events.registry import ObservedCaseEvent


class CaseTransferred(ObservedCaseEvent):
    """Intake's TransferAccepted as the other services read it: the case and its offices."""

    event_type = "avrr.intake.TransferAccepted"

    from_office: str = Field(min_length=1, max_length=100)
    to_office: str = Field(min_length=1, max_length=100)
    accepted_at: datetime


async def follow(conn: AsyncConnection, event: CaseTransferred, *tables: Table) -> None:
    """Move the case's rows of ``tables`` (each with ``case_id`` and ``office``) to the
    receiving office."""
    for table in tables:
        await conn.execute(
            update(table).where(table.c.case_id == event.case_id).values(office=event.to_office)
        )
