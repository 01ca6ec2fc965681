"""A case transferred between offices, as the services after intake follow it.

Intake records transfers (avrr_intake.transfer): its ``TransferAccepted``
says that from now on the case is the receiving office's. Eligibility, travel
and reintegration file their rows of a case under an office (the return
request's, the clearance's, the movement's) and scope every case route and
list by it; each reads ``TransferAccepted`` (``CaseTransferred``, subclassed
in its observed.py) and moves the rows it has of the case to the receiving
office with ``follow``, in the projection that owns them, so a rebuild replays
the move too. The office that handed the case over sees those rows no more.

Rows a service creates after the transfer must not go back to the office that
handed the case over. The events they are created from may still name it:
eligibility's assessment, travel's movement and reintegration's case recorded
the office they were opened with, and their later events (a clearance, an
arrival, a withdrawal conflict) carry that office on. Nor is the order of
arrival fixed: ``TransferAccepted`` comes on intake's topic, a clearance on
eligibility's, so a projection may learn of the transfer before the row it
moves exists. Each service therefore remembers the office each transferred
case is with (``case_transfers_table``: one row per case, written by ``follow``
in the projection that owns the service's case rows) and files every new row
under ``office_now``: the receiving office once a transfer was accepted, else
the event's office. A row created before the projection learnt of the transfer
is moved by ``follow`` when it does; one created after finds the transfer
recorded. Either order ends with the receiving office.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from sqlalchemy import Column, DateTime, MetaData, String, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events.registry import ObservedCaseEvent
from avrr_events.tables import case_table


class CaseTransferred(ObservedCaseEvent):
    """Intake's TransferAccepted as the other services read it: the case and its offices."""

    event_type = "avrr.intake.TransferAccepted"

    from_office: str = Field(min_length=1, max_length=100)
    to_office: str = Field(min_length=1, max_length=100)
    accepted_at: datetime


def case_transfers_table(name: str, metadata: MetaData) -> Table:
    """The office each transferred case is with now: one row per case, its latest accepted
    transfer (as avrr_events.migration_ops.case_transfers_table creates it)."""
    return case_table(
        name,
        metadata,
        Column("office", String(100), nullable=False),
        Column("transferred_at", DateTime(timezone=True), nullable=False),
    )


async def follow(
    conn: AsyncConnection,
    event: CaseTransferred,
    *tables: Table,
    transferred: Table | None = None,
) -> None:
    """Move the case's rows of ``tables`` (each with ``case_id`` and ``office``) to the
    receiving office, and record in ``transferred`` (the service's ``case_transfers_table``,
    given by the one projection that owns it) where the case is now, for rows still to come.

    Intake's events of one case arrive in the order it recorded them, so the last
    transfer a projection applies is the latest: it replaces the row.
    """
    if transferred is not None:
        await conn.execute(transferred.delete().where(transferred.c.case_id == event.case_id))
        await conn.execute(
            transferred.insert().values(
                case_id=event.case_id, office=event.to_office, transferred_at=event.accepted_at
            )
        )
    for table in tables:
        await conn.execute(
            update(table).where(table.c.case_id == event.case_id).values(office=event.to_office)
        )


async def transferred_to(conn: AsyncConnection, transferred: Table, case_id: str) -> str | None:
    """The office the case was last transferred to; None: never transferred (as far as this
    service has learnt)."""
    office: str | None = await conn.scalar(
        select(transferred.c.office).where(transferred.c.case_id == case_id)
    )
    return office


async def office_now(
    conn: AsyncConnection, transferred: Table, case_id: str, office: str | None
) -> str | None:
    """The office a new row of the case is filed under: the one it was transferred to,
    else ``office`` (the office the row's event names)."""
    return await transferred_to(conn, transferred, case_id) or office
