"""Hand-over: the receiving office that confirmed an arrival takes the case over too.

A case belongs to the office that holds it (intake: the referral's;
reintegration: the movement's). When travel's ``ArrivalConfirmed`` says the
receiving office in the country of origin confirmed the arrival, the case is
handed over: from then on it belongs to that office as well
(``handed_over_to`` says when; a partner's
confirmation, or a confirmer the office registry does not know in the
destination country, hands it over to no one).

Intake and reintegration each keep which office that is, in a table of their
own (``intake_handovers``, ``reintegration_handovers``) read before every
case request. This module writes that read model once: a service names its
table and its copy of the arrival event in one line
(``class CaseHandovers(handover.CaseHandovers, service="intake",
arrival=ArrivalConfirmed)``), and asks ``case_offices``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, ClassVar, Protocol

from sqlalchemy import Column, DateTime, MetaData, String, Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events.adapters.database import Database
from avrr_events.adapters.prepared import PreparedRead
from avrr_events.envelope import Envelope
from avrr_events.offices import OfficeRegistry
from avrr_events.projections import Projection
from avrr_events.registry import DomainEvent

log = logging.getLogger(__name__)

RECEIVING_OFFICE = "receiving_office"


def handed_over_to(
    confirmed_by: str | None,
    confirmer_id: str | None,
    destination_country: str,
    offices: OfficeRegistry,
) -> str | None:
    """The office an arrival hands its case over to: the receiving office that confirmed it.

    Travel's ``ArrivalConfirmed`` says who confirmed the arrival; when it was
    the receiving office in the country of origin, ``confirmer_id`` is that
    office, and from then on the case belongs to it too. A partner's
    confirmation names an organisation, not an office: no handover. Nor does
    a confirmer that the office registry does not know as a host or receiving
    office of the destination country: travel refuses such an arrival, and
    the readers check again, so an event that slipped through (an older
    travel, a forged record) hands the case to no one.
    """
    if confirmed_by != RECEIVING_OFFICE or not confirmer_id:
        return None
    office = offices.receiving_office(confirmer_id, destination_country)
    if office is None:
        log.warning(
            "arrival confirmed as receiving office by %r, not an office of %s: no hand-over",
            confirmer_id,
            destination_country,
        )
        return None
    return office.id


class Arrival(Protocol):
    """What a service's copy of travel's ``ArrivalConfirmed`` says about the hand-over."""

    @property
    def case_id(self) -> str: ...
    @property
    def destination_country(self) -> str: ...
    @property
    def arrived_at(self) -> datetime: ...
    @property
    def confirmed_by(self) -> str | None: ...
    @property
    def confirmer_id(self) -> str | None: ...


def handovers_table(name: str, metadata: MetaData) -> Table:
    """The hand-over table: one row per case, the office it was (last) handed over to."""
    return Table(
        name,
        metadata,
        Column("case_id", String(100), primary_key=True),
        Column("receiving_office", String(200), nullable=False, index=True),
        Column("handed_over_at", DateTime(timezone=True), nullable=False),
    )


class CaseHandovers(Projection):
    """Which receiving office each case was handed over to (one per case: the latest).

    A service's subclass names the service and its copy of the arrival event
    as class arguments (``service="intake", arrival=ArrivalConfirmed``): the
    projection is then ``<service>_case_handovers``, its table
    ``<service>_handovers`` in a metadata of its own, and its handlers table
    ``{arrival: CaseHandovers.hand_over}``.
    """

    table: ClassVar[Table]

    def __init_subclass__(
        cls, service: str | None = None, arrival: type[DomainEvent] | None = None, **kwargs: Any
    ) -> None:
        if service is not None and arrival is not None:
            cls.name = f"{service}_case_handovers"
            cls.metadata = MetaData()
            cls.table = handovers_table(f"{service}_handovers", cls.metadata)
            cls.handlers = {arrival: CaseHandovers.hand_over}
        super().__init_subclass__(**kwargs)

    def __init__(self, offices: OfficeRegistry) -> None:
        self.offices = offices

    async def hand_over(self, conn: AsyncConnection, event: Arrival, envelope: Envelope) -> None:
        """Keep the office the arrival hands the case over to (the latest replaces one before)."""
        office = handed_over_to(
            event.confirmed_by, event.confirmer_id, event.destination_country, self.offices
        )
        if office is None:
            return
        h = self.table.c
        await conn.execute(self.table.delete().where(h.case_id == event.case_id))
        await conn.execute(
            self.table.insert().values(
                case_id=event.case_id, receiving_office=office, handed_over_at=event.arrived_at
            )
        )


# The prepared read of each service's (cases, handovers) pair, built on first use.
_OFFICES: dict[tuple[Table, Table], PreparedRead] = {}


async def case_offices(
    conn: AsyncConnection | Database, cases: Table, handovers: Table, case_id: str
) -> frozenset[str] | None:
    """The offices a case belongs to: the office in ``cases`` and, once handed over, the
    receiving office; None: no such case. One indexed read (asked before every case request)."""
    read = _OFFICES.get((cases, handovers))
    if read is None:
        c, h = cases.c, handovers.c
        read = _OFFICES[cases, handovers] = PreparedRead(
            select(c.office, h.receiving_office)
            .select_from(cases.outerjoin(handovers, h.case_id == c.case_id))
            .where(c.case_id == bindparam("case_id"))
        )
    row = await read.first(conn, case_id=case_id)
    if row is None:
        return None
    return frozenset(office for office in row if office)
