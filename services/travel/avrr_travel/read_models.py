"""Read models of travel and the queries the API serves from them.

Fed by the consumer from travel's own topic (and rebuilt from its journal),
hence eventually consistent with the commands. Two projections:

- ``MovementViews``: movements, travellers (document and fitness *outcome*)
  and transit notes (still encrypted): the movement detail, the departures
  board per office and date, and the manifest of a date.
- ``MedicalRecords``: the health details of fitness checks, in a table of
  their own that only the medical endpoint reads, so no query that serves
  another role can leak them by joining the wrong column.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Database, DomainEvent, Encrypted, Envelope, Projection, transfers
from avrr_events import tables as store_tables
from avrr_events.adapters.prepared import PreparedRead
from avrr_events.household import HouseholdMember
from avrr_events.projections import case_office, insert_from_event
from avrr_events.tables import Json, case_entries, case_table
from avrr_events.withdrawal import ConflictList, conflicts_table
from avrr_travel.movement import (
    STARTING_OVER_REASONS,
    ArrivalConfirmed,
    CaseWithdrawalNoted,
    DepartureConfirmed,
    FitForTravelConfirmed,
    MovementCancelled,
    MovementHeld,
    MovementOpened,
    MovementRebooked,
    MovementReinstated,
    MovementReleased,
    NoShowRecorded,
    TicketIssued,
    TransitAssistanceNoted,
    TravelDocumentObtained,
    TravelDocumentRequested,
    TravellerAdditionRefused,
    TravellerRemovalRefused,
    TravellerRemoved,
    TravellersCorrected,
    VulnerabilityScreeningNoted,
    WithdrawalConflictDetected,
    WithdrawalConflictResolved,
)
from avrr_travel.observed import TransferAccepted

# A reopened case's movement, waiting for its new clearance (the aggregate's own status).
STARTING_OVER = "not_opened"

views = MetaData()

movements = case_table(
    "travel_movements",
    views,
    Column("version", Integer, nullable=False),
    Column("programme_id", String(100), nullable=False),
    Column("office", String(100), nullable=True),
    Column("host_country", String(2), nullable=True),
    Column("destination_country", String(2), nullable=False),
    Column("destination_region", String(100), nullable=True),
    Column("transport_mode", String(10), nullable=False),
    Column("status", String(20), nullable=False),
    Column("held", Boolean, nullable=False, default=False),
    Column("hold_reason", String(1200), nullable=True),
    Column("mode", String(10), nullable=True),
    Column("carrier", String(200), nullable=True),
    Column("booking_reference", String(100), nullable=True),  # plaintext of older events
    # The booking reference as an avrr_events.Encrypted value (TicketIssued since issue 15).
    Column("sealed_booking_reference", Json, nullable=True),
    Column("departure_date", Date, nullable=True),
    Column("route", Json, nullable=True),
    Column("cost", Json, nullable=True),
    Column("escorts", Json, nullable=True),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("ticket_issued_at", DateTime(timezone=True), nullable=True),
    Column("departed_at", DateTime(timezone=True), nullable=True),
    Column("arrived_at", DateTime(timezone=True), nullable=True),
    Column("arrival_confirmed_by", String(20), nullable=True),
    Column("arrival_confirmer_id", String(200), nullable=True),
    Column("cancelled_at", DateTime(timezone=True), nullable=True),
    Column("cancellation_reason", String(1200), nullable=True),
    # The travel officer's reason as an avrr_events.Encrypted value (decrypted per request).
    Column("cancellation_details", Json, nullable=True),
)
Index("travel_movements_board_idx", movements.c.departure_date, movements.c.office)

# The columns of a traveller that are the household member as the movement's event carries
# it: written from the event's member and served back as they are.
MEMBER_FIELDS = tuple(HouseholdMember.model_fields)

travellers = case_table(
    "travel_travellers",
    views,
    Column("person_id", String(200), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("age_years", Integer, nullable=False),
    Column("sex", String(10), nullable=False),
    Column("relationship", String(20), nullable=False),
    Column("unaccompanied_minor", Boolean, nullable=False),
    Column("document_type", String(40), nullable=True),
    Column("document_requested_on", Date, nullable=True),
    Column("document_obtained_on", Date, nullable=True),
    Column("fitness_outcome", String(20), nullable=True),
    Column("unfit_until", Date, nullable=True),
    Column("fitness_confirmed_at", DateTime(timezone=True), nullable=True),
)

transit_notes = case_entries(
    "travel_transit_notes",
    views,
    Column("point", String(100), nullable=False),
    Column("note", Json, nullable=False),  # an avrr_events.Encrypted value
    Column("noted_at", DateTime(timezone=True), nullable=False),
)

# Where each transferred case is now (avrr_events.transfers): new rows are filed there.
case_transfers = transfers.case_transfers_table("travel_case_transfers", views)

medical = MetaData()

medical_records = case_entries(
    "travel_medical_records",
    medical,
    Column("person_id", String(200), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("unfit_until", Date, nullable=True),
    Column("health_details", Json, nullable=True),  # an avrr_events.Encrypted value
    Column("confirmed_at", DateTime(timezone=True), nullable=False),
)


class MovementViews(Projection):
    """Movements, their travellers and transit notes: every event of a movement's stream."""

    name = "travel_movement_views"
    metadata = views

    async def _open(self, conn: AsyncConnection, event: MovementOpened, envelope: Envelope) -> None:
        existing = await conn.scalar(
            select(movements.c.status).where(movements.c.case_id == event.case_id)
        )
        if existing is not None and existing != STARTING_OVER:
            return
        if existing is not None:  # the reopened case's movement, opened again: shown afresh
            await conn.execute(delete(movements).where(movements.c.case_id == event.case_id))
        # Usually 1; later when a withdrawn consent's note and its lifting came first
        # (MovementReinstated): the ETag must be the stream's version all the same.
        version = await conn.scalar(
            select(store_tables.events.c.version).where(
                store_tables.events.c.event_id == envelope.id
            )
        )
        await insert_from_event(
            conn,
            movements,
            event,
            office=await transfers.office_now(conn, case_transfers, event.case_id, event.office),
            version=version or 1,
            status="preparing",
            held=False,
        )
        await conn.execute(
            travellers.insert(),
            [
                {"case_id": event.case_id, "seq": i, **m.model_dump(include=set(MEMBER_FIELDS))}
                for i, m in enumerate(event.travellers)
            ],
        )

    async def _moved(self, conn: AsyncConnection, event: DomainEvent, envelope: Envelope) -> None:
        # Every event of the stream counts, so ``version`` is the stream version (the ETag).
        await conn.execute(
            update(movements)
            .where(movements.c.case_id == envelope.subject)
            .values(version=movements.c.version + 1, **_movement_changes(event))
        )

    async def _moved_if_shown(
        self, conn: AsyncConnection, event: DomainEvent, envelope: Envelope
    ) -> None:
        # A withdrawal's note (and its lifting) may come before any movement was opened.
        if await _shown(conn, envelope.subject):
            await self._moved(conn, event, envelope)

    async def _reinstated(
        self, conn: AsyncConnection, event: MovementReinstated, envelope: Envelope
    ) -> None:
        await self._moved_if_shown(conn, event, envelope)
        if event.reason in STARTING_OVER_REASONS:
            # Its travellers, documents and fitness come again with the new clearance.
            t = travellers.c
            await conn.execute(travellers.delete().where(t.case_id == envelope.subject))

    async def _traveller_moved(
        self, conn: AsyncConnection, event: TravellerEvent, envelope: Envelope
    ) -> None:
        # A traveller's document or fitness: the movement counts it, the traveller's row shows it.
        await self._moved(conn, event, envelope)
        await conn.execute(
            update(travellers)
            .where(
                travellers.c.case_id == envelope.subject,
                travellers.c.person_id == event.person_id,
            )
            .values(**_traveller_changes(event))
        )

    async def _traveller_removed(
        self, conn: AsyncConnection, event: TravellerRemoved, envelope: Envelope
    ) -> None:
        await self._moved(conn, event, envelope)
        t = travellers.c
        await conn.execute(
            travellers.delete().where(t.case_id == envelope.subject, t.person_id == event.person_id)
        )

    async def _travellers_corrected(
        self, conn: AsyncConnection, event: TravellersCorrected, envelope: Envelope
    ) -> None:
        await self._moved(conn, event, envelope)
        t = travellers.c
        for member in event.travellers:
            await conn.execute(
                update(travellers)
                .where(t.case_id == envelope.subject, t.person_id == member.person_id)
                .values(**member.model_dump(include=set(MEMBER_FIELDS) - {"person_id"}))
            )

    async def _transit_noted(
        self, conn: AsyncConnection, event: TransitAssistanceNoted, envelope: Envelope
    ) -> None:
        await self._moved(conn, event, envelope)
        await conn.execute(
            transit_notes.insert().values(
                case_id=envelope.subject,
                point=event.point,
                note=event.note.model_dump(mode="json"),
                noted_at=event.noted_at,
            )
        )

    async def _transferred(
        self, conn: AsyncConnection, event: TransferAccepted, envelope: Envelope
    ) -> None:
        """Intake's transfer accepted: the movement is the receiving office's."""
        await transfers.follow(conn, event, movements, transferred=case_transfers)

    handlers = {
        MovementOpened: _open,
        TravelDocumentRequested: _traveller_moved,
        TravelDocumentObtained: _traveller_moved,
        FitForTravelConfirmed: _traveller_moved,
        TicketIssued: _moved,
        DepartureConfirmed: _moved,
        TransitAssistanceNoted: _transit_noted,
        ArrivalConfirmed: _moved,
        MovementHeld: _moved,
        MovementReleased: _moved,
        NoShowRecorded: _moved,
        MovementRebooked: _moved,
        MovementCancelled: _moved,
        CaseWithdrawalNoted: _moved_if_shown,
        MovementReinstated: _reinstated,
        WithdrawalConflictDetected: _moved,
        WithdrawalConflictResolved: _moved,
        TransferAccepted: _transferred,
        TravellerRemoved: _traveller_removed,
        TravellersCorrected: _travellers_corrected,
        TravellerRemovalRefused: _moved,
        TravellerAdditionRefused: _moved,
        VulnerabilityScreeningNoted: _moved_if_shown,
    }


def _booking_reference(reference: Encrypted | str) -> dict[str, Any]:
    """The columns of a booking reference: encrypted, or plaintext from an older event."""
    if isinstance(reference, Encrypted):
        return {"booking_reference": None, "sealed_booking_reference": reference.model_dump()}
    return {"booking_reference": reference, "sealed_booking_reference": None}


def _reference_of(row: Any) -> Any:
    """The booking reference of a row as stored (an Encrypted dump the API decrypts)."""
    return row.sealed_booking_reference or row.booking_reference


def _movement_changes(event: DomainEvent) -> dict[str, Any]:
    match event:
        case TicketIssued():
            return {
                "status": "ticketed",
                "mode": event.mode,
                "carrier": event.carrier,
                **_booking_reference(event.booking_reference),
                "departure_date": event.departure_date,
                "route": list(event.route),
                "cost": event.cost.model_dump(mode="json") if event.cost else None,
                "escorts": [e.model_dump(mode="json") for e in event.escorts],
                "ticket_issued_at": event.issued_at,
            }
        case NoShowRecorded():
            return {"status": "no_show"}
        case MovementRebooked():
            changes: dict[str, Any] = {
                "status": "ticketed",
                "departure_date": event.new_departure_date,
            }
            if event.carrier:
                changes["carrier"] = event.carrier
            if event.booking_reference:
                changes.update(_booking_reference(event.booking_reference))
            return changes
        case DepartureConfirmed():
            return {"status": "departed", "departed_at": event.departed_at}
        case ArrivalConfirmed():
            return {
                "status": "arrived",
                "arrived_at": event.arrived_at,
                "arrival_confirmed_by": event.confirmed_by,
                "arrival_confirmer_id": event.confirmer_id,
            }
        case MovementHeld():
            return {"held": True, "hold_reason": event.reason}
        case MovementReleased():
            return {"held": False, "hold_reason": None}
        case MovementCancelled():
            return {
                "status": "cancelled",
                "cancelled_at": event.cancelled_at,
                "cancellation_reason": event.reason,
                "cancellation_details": (
                    event.details.model_dump(mode="json") if event.details else None
                ),
            }
        case MovementReinstated():
            # Preparing again (or, for a reopened case, waiting for its new clearance); the
            # booking the cancellation voided is gone.
            restarted = event.reason in STARTING_OVER_REASONS
            return {
                "status": STARTING_OVER if restarted else "preparing",
                "held": False,
                "hold_reason": None,
                "cancelled_at": None,
                "cancellation_reason": None,
                **dict.fromkeys(
                    (
                        "mode",
                        "carrier",
                        "booking_reference",
                        "departure_date",
                        "route",
                        "cost",
                        "escorts",
                        "ticket_issued_at",
                    )
                ),
            }
    return {}


async def _shown(conn: AsyncConnection, case_id: str) -> bool:
    found = await conn.scalar(select(movements.c.case_id).where(movements.c.case_id == case_id))
    return found is not None


TravellerEvent = TravelDocumentRequested | TravelDocumentObtained | FitForTravelConfirmed


def _traveller_changes(event: TravellerEvent) -> dict[str, Any]:
    match event:
        case TravelDocumentRequested():
            return {
                "document_type": event.document_type,
                "document_requested_on": event.requested_on,
                "document_obtained_on": None,
            }
        case TravelDocumentObtained():
            return {"document_type": event.document_type, "document_obtained_on": event.obtained_on}
        case FitForTravelConfirmed():
            return {
                "fitness_outcome": event.outcome,
                "unfit_until": event.unfit_until,
                "fitness_confirmed_at": event.confirmed_at,
            }


class MedicalRecords(Projection):
    """Fitness checks with their (encrypted) health details, for the medical role only."""

    name = "travel_medical_records"
    metadata = medical

    async def _fitness_confirmed(
        self, conn: AsyncConnection, event: FitForTravelConfirmed, envelope: Envelope
    ) -> None:
        details = event.health_details
        await insert_from_event(
            conn,
            medical_records,
            event,
            health_details=details.model_dump(mode="json") if details else None,
        )

    handlers = {FitForTravelConfirmed: _fitness_confirmed}


conflicts = MetaData()
withdrawal_conflicts = conflicts_table(conflicts, "travel_withdrawal_conflicts")


class WithdrawalConflicts(ConflictList):
    """The supervisors' list of tickets and departures that landed after a withdrawal."""

    name = "travel_withdrawal_conflicts"
    event_types = frozenset(
        {
            WithdrawalConflictDetected.event_type,
            WithdrawalConflictResolved.event_type,
            TransferAccepted.event_type,
        }
    )
    metadata = conflicts
    table = withdrawal_conflicts
    transferred = case_transfers


def projections() -> list[Projection]:
    return [MovementViews(), MedicalRecords(), WithdrawalConflicts()]


# ------------------------------------------------------------------ queries --


def _traveller_view(row: Any) -> dict[str, Any]:
    return {
        **{name: getattr(row, name) for name in MEMBER_FIELDS},
        "travel_document": {
            "document_type": row.document_type,
            "status": (
                "obtained"
                if row.document_obtained_on
                else "requested"
                if row.document_requested_on
                else "none"
            ),
            "requested_on": row.document_requested_on,
            "obtained_on": row.document_obtained_on,
        },
        "fitness_to_travel": (
            {"outcome": row.fitness_outcome, "unfit_until": row.unfit_until}
            if row.fitness_outcome
            else None
        ),
    }


def _booking_view(row: Any) -> dict[str, Any] | None:
    if row.ticket_issued_at is None:
        return None
    return {
        "mode": row.mode,
        "carrier": row.carrier,
        "booking_reference": _reference_of(row),
        "departure_date": row.departure_date,
        "route": row.route,
        "cost": row.cost,
        "escorts": row.escorts or [],
        "issued_at": row.ticket_issued_at,
    }


async def _travellers_of(
    conn: AsyncConnection, case_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {c: [] for c in case_ids}
    if not case_ids:
        return out
    rows = await conn.execute(
        select(travellers)
        .where(travellers.c.case_id.in_(list(case_ids)))
        .order_by(travellers.c.case_id, travellers.c.seq)
    )
    for row in rows:
        out[row.case_id].append(_traveller_view(row))
    return out


# One movement and its travellers in their order, in one statement: a row per traveller
# with the movement's columns on each (one row, traveller's columns empty, for a movement
# without travellers). The office scoping of the detail read takes its office from it too.
_DETAIL = PreparedRead(
    select(movements, *(c for c in travellers.c if c.key != "case_id"))
    .select_from(movements.outerjoin(travellers, travellers.c.case_id == movements.c.case_id))
    .where(movements.c.case_id == bindparam("case_id"))
    .order_by(travellers.c.seq)
)


async def movement_detail(conn: AsyncConnection | Database, case_id: str) -> dict[str, Any] | None:
    """One movement with its travellers (document and fitness outcome, never health details)."""
    rows = await _DETAIL.rows(conn, case_id=case_id)
    if not rows:
        return None
    row = rows[0]
    people = [_traveller_view(r) for r in rows if r.person_id is not None]
    return {
        "case_id": row.case_id,
        "version": row.version,
        "programme_id": row.programme_id,
        "office": row.office,
        "host_country": row.host_country,
        "destination_country": row.destination_country,
        "destination_region": row.destination_region,
        "transport_mode": row.transport_mode,
        "status": row.status,
        "held": row.held,
        "hold_reason": row.hold_reason,
        "travellers": people,
        "booking": _booking_view(row),
        "opened_at": row.opened_at,
        "departed_at": row.departed_at,
        "arrival": (
            {
                "arrived_at": row.arrived_at,
                "confirmed_by": row.arrival_confirmed_by,
                "confirmer_id": row.arrival_confirmer_id,
            }
            if row.arrived_at
            else None
        ),
        "cancellation": (
            {
                "cancelled_at": row.cancelled_at,
                # the officer's words (decrypted by the API), else the platform's reason
                "reason": row.cancellation_details or row.cancellation_reason,
            }
            if row.cancelled_at
            else None
        ),
    }


async def departures_board(conn: AsyncConnection, office: str, day: date) -> list[dict[str, Any]]:
    """The departures of one office on one day (cancelled movements left out)."""
    count = (
        select(func.count())
        .where(travellers.c.case_id == movements.c.case_id)
        .scalar_subquery()
        .label("travellers")
    )
    rows = await conn.execute(
        select(movements, count)
        .where(
            movements.c.office == office,
            movements.c.departure_date == day,
            movements.c.status != "cancelled",
        )
        .order_by(movements.c.case_id)
    )
    return [
        {
            "case_id": r.case_id,
            "status": r.status,
            "held": r.held,
            "destination_country": r.destination_country,
            "destination_region": r.destination_region,
            "mode": r.mode,
            "carrier": r.carrier,
            "booking_reference": _reference_of(r),
            "route": r.route,
            "travellers": r.travellers,
            "escorts": r.escorts or [],
        }
        for r in rows
    ]


async def manifest(conn: AsyncConnection, day: date, office: str | None) -> list[dict[str, Any]]:
    """Every traveller departing on ``day``, grouped by booking (cancelled ones left out)."""
    stmt = select(movements).where(
        movements.c.departure_date == day, movements.c.status != "cancelled"
    )
    if office is not None:
        stmt = stmt.where(movements.c.office == office)
    rows = (
        # by carrier (a booking reference is ciphertext: it orders nothing)
        await conn.execute(stmt.order_by(movements.c.carrier, movements.c.case_id))
    ).all()
    people = await _travellers_of(conn, [r.case_id for r in rows])
    return [
        {
            "case_id": r.case_id,
            "office": r.office,
            "status": r.status,
            "held": r.held,
            "mode": r.mode,
            "carrier": r.carrier,
            "booking_reference": _reference_of(r),
            "route": r.route,
            "destination_country": r.destination_country,
            "escorts": r.escorts or [],
            "travellers": people[r.case_id],
        }
        for r in rows
    ]


async def medical_records_of(conn: AsyncConnection, case_id: str) -> list[Any]:
    rows = await conn.execute(
        select(medical_records)
        .where(medical_records.c.case_id == case_id)
        .order_by(medical_records.c.id)
    )
    return list(rows)


async def transit_notes_of(conn: AsyncConnection, case_id: str) -> list[Any]:
    rows = await conn.execute(
        select(transit_notes).where(transit_notes.c.case_id == case_id).order_by(transit_notes.c.id)
    )
    return list(rows)


async def movement_offices(conn: AsyncConnection | Database, case_id: str) -> frozenset[str] | None:
    """The office a movement belongs to (for office scoping); None: no such movement."""
    return await case_office(conn, movements, case_id)
