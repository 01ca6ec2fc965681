"""REST commands -> Movement decisions -> events in the store (and its outbox).

Every command loads the movement inside one transaction, checks If-Match,
lets the aggregate decide, appends the new events at the version it loaded
(a concurrent writer makes the append fail: 409) and updates the write-side
destination lookup in the same transaction. Personal values (health details,
transit notes) are encrypted before the transaction opens, because the key
store may create the person's key in a transaction of its own.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Cause, Encrypted, EventStore, PersonalDataCipher, Repository
from avrr_events.authorization import RECEIVING_OFFICE
from avrr_events.database import Database
from avrr_events.http import DomainRuleViolation, Forbidden, NotFound, check_if_match
from avrr_events.offices import Office
from avrr_events.personal import HEALTH
from avrr_events.withdrawal import Resolution
from avrr_travel import consents, destinations
from avrr_travel.movement import (
    ArrivalConfirmer,
    Booking,
    DocumentType,
    FitnessOutcome,
    Movement,
    MovementRuleViolation,
    registry,
)
from avrr_travel.reactions import SOURCE


@dataclass(frozen=True)
class CommandContext:
    """What every command carries besides its own fields."""

    if_match: str | None = None
    traceparent: str | None = None


HEALTH_DETAILS = "health_details"  # the field health details are bound to


def _now() -> datetime:
    return datetime.now(UTC)


class MovementCommands:
    """The commands of the travel API over one service's database, store and cipher."""

    def __init__(
        self,
        db: Database,
        store: EventStore,
        cipher: PersonalDataCipher,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.repo: Repository[Movement] = Repository(store, registry, Movement, source=SOURCE)
        self.clock = clock

    async def _change(
        self,
        case_id: str,
        context: CommandContext,
        decide: Callable[[Movement], None],
        guard: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> Movement:
        async with self.db.transaction() as conn:
            movement = await self.repo.load(case_id, conn=conn)
            if movement.opened is None:
                raise NotFound(f"no movement for case {case_id}")
            check_if_match(context.if_match, movement.version)
            if guard is not None:
                await guard(conn)
            try:
                decide(movement)
            except MovementRuleViolation as exc:
                raise _problem(exc, movement.status) from None
            correlation = await destinations.correlation_of(conn, case_id) or str(uuid.uuid4())
            cause = Cause(correlation, None, context.traceparent)
            await self.repo.save(movement, cause, conn=conn)
            await destinations.remember(conn, movement)
        self.db.appended()
        return movement

    async def _traveller_of(self, case_id: str, person_id: str) -> None:
        """Check before encrypting for ``person_id`` (no key is created for a stranger)."""
        movement = await self.repo.load(case_id)
        if movement.opened is None:
            raise NotFound(f"no movement for case {case_id}")
        if person_id not in movement.travellers:
            raise DomainRuleViolation(f"{person_id} is not a traveller of this movement")

    # -------------------------------------------------------------- commands --

    async def request_document(
        self, case_id: str, person_id: str, document_type: DocumentType, on: date, r: CommandContext
    ) -> Movement:
        return await self._change(
            case_id, r, lambda m: m.request_document(person_id, document_type, on)
        )

    async def obtain_document(
        self, case_id: str, person_id: str, document_type: DocumentType, on: date, r: CommandContext
    ) -> Movement:
        if on > self.clock().date():
            raise DomainRuleViolation("a document cannot be obtained in the future")
        return await self._change(
            case_id, r, lambda m: m.obtain_document(person_id, document_type, on)
        )

    async def confirm_fitness(
        self,
        case_id: str,
        person_id: str,
        outcome: FitnessOutcome,
        unfit_until: date | None,
        health_details: Any,
        r: CommandContext,
    ) -> Movement:
        encrypted: Encrypted | None = None

        async def consented(conn: AsyncConnection) -> None:
            # Given, not merely not withdrawn: without a ConsentGiven there is none.
            if not await consents.may_process_medical_data(conn, case_id, person_id):
                raise DomainRuleViolation(
                    f"no consent of {person_id} to the processing of medical data stands "
                    "(never given, or withdrawn): record the outcome without health details",
                    field="health_details",
                )

        if health_details is not None:
            await self._traveller_of(case_id, person_id)
            async with self.db.autocommit() as conn:
                await consented(conn)  # before a key is created for the details
            # Under the person's health key, bound to this case and field (personal.py).
            encrypted = await self.cipher.encrypt_for_purpose(
                person_id, health_details, purpose=HEALTH, case_id=case_id, field=HEALTH_DETAILS
            )
        at = self.clock()
        return await self._change(
            case_id,
            r,
            lambda m: m.confirm_fitness(person_id, outcome, unfit_until, encrypted, at),
            consented if health_details is not None else None,
        )

    async def _seal(self, case_id: str, text: str) -> Encrypted:
        """Free text about a household (a booking reference, an officer's reason) under the
        principal traveller's key, so that erasing them shreds it in every copy."""
        movement = await self.repo.load(case_id)
        if movement.opened is None:
            raise NotFound(f"no movement for case {case_id}")
        return await self.cipher.encrypt(_principal_of(movement), text)

    async def issue_ticket(self, case_id: str, booking: Booking, r: CommandContext) -> Movement:
        if isinstance(booking.booking_reference, str):
            sealed = await self._seal(case_id, booking.booking_reference)
            booking = dataclasses.replace(booking, booking_reference=sealed)
        at = self.clock()
        return await self._change(case_id, r, lambda m: m.issue_ticket(booking, at.date(), at))

    async def record_no_show(self, case_id: str, reason: str, r: CommandContext) -> Movement:
        details = await self._seal(case_id, reason)
        at = self.clock()
        return await self._change(case_id, r, lambda m: m.record_no_show(details, at))

    async def rebook(
        self,
        case_id: str,
        reason: str,
        new_departure_date: date,
        carrier: str | None,
        booking_reference: str | None,
        r: CommandContext,
    ) -> Movement:
        details = await self._seal(case_id, reason)
        reference = await self._seal(case_id, booking_reference) if booking_reference else None
        today = self.clock().date()
        return await self._change(
            case_id,
            r,
            lambda m: m.rebook(details, new_departure_date, carrier, reference, today),
        )

    async def confirm_departure(
        self, case_id: str, departed_at: datetime | None, r: CommandContext
    ) -> Movement:
        at = self._not_future(departed_at, "departure")
        return await self._change(case_id, r, lambda m: m.confirm_departure(at))

    async def note_transit_assistance(
        self, case_id: str, point: str, note: str, r: CommandContext
    ) -> Movement:
        # The note is about the household: encrypted for the principal traveller, so erasing
        # them shreds it.
        movement = await self.repo.load(case_id)
        if movement.opened is None:
            raise NotFound(f"no movement for case {case_id}")
        subject = _principal_of(movement)
        encrypted = await self.cipher.encrypt(subject, note)
        at = self.clock()
        return await self._change(
            case_id, r, lambda m: m.note_transit_assistance(point, encrypted, at)
        )

    async def confirm_arrival(
        self,
        case_id: str,
        arrived_at: datetime | None,
        confirmed_by: ArrivalConfirmer,
        confirmer_id: str | None,
        r: CommandContext,
        receiver: Office | None = None,
    ) -> Movement:
        """Record the arrival; confirmed by the receiving office, that office (``receiver``,
        from the office registry) must be one of the movement's destination country, because
        the confirmation hands the case, names and all, over to it."""
        at = self._not_future(arrived_at, "arrival")

        def decide(m: Movement) -> None:
            if confirmed_by == RECEIVING_OFFICE:
                assert m.opened is not None
                country = m.opened.destination_country
                if receiver is None or not receiver.receives_in(country):
                    raise Forbidden(
                        f"office {confirmer_id} is not a receiving office in {country}, the "
                        "movement's destination: it may neither confirm the arrival as the "
                        "receiving office nor take the case over"
                    )
            m.confirm_arrival(at, confirmed_by, confirmer_id)

        return await self._change(case_id, r, decide)

    async def resolve_conflict(
        self,
        case_id: str,
        conflict_id: str,
        resolution: Resolution,
        reason: str,
        resolved_by: str,
        r: CommandContext,
    ) -> Movement:
        """A supervisor's resolution of a withdrawal conflict (404 for a conflict never
        detected on this case); the reason, free text, is encrypted like a transit note."""
        movement = await self.repo.load(case_id)
        if movement.opened is None or conflict_id not in movement.conflicts.detected:
            raise NotFound(f"no withdrawal conflict {conflict_id} on case {case_id}")
        encrypted = await self.cipher.encrypt(_principal_of(movement), reason)
        at = self.clock()
        return await self._change(
            case_id,
            r,
            lambda m: m.resolve_conflict(conflict_id, resolution, encrypted, resolved_by, at),
        )

    async def cancel(self, case_id: str, reason: str, r: CommandContext) -> Movement:
        details = await self._seal(case_id, reason)
        at = self.clock()
        return await self._change(case_id, r, lambda m: m.cancel(details, at))

    def _not_future(self, value: datetime | None, what: str) -> datetime:
        now = self.clock()
        if value is None:
            return now
        if value.tzinfo is None:
            raise DomainRuleViolation(f"the {what} time needs a time zone")
        if value > now:
            raise DomainRuleViolation(f"the {what} cannot be confirmed in advance")
        return value


def _principal_of(movement: Movement) -> str:
    for pid, t in movement.travellers.items():
        if t.member.relationship == "principal":
            return pid
    return next(iter(movement.travellers))


def _problem(exc: MovementRuleViolation, status: str) -> DomainRuleViolation:
    """422 naming what is missing, and the movement's status (``cancelled`` once travel
    has learnt of a withdrawal: a client tells that refusal from any other)."""
    if exc.missing:
        return DomainRuleViolation(
            exc.detail, missing=[m.as_dict() for m in exc.missing], movement_status=status
        )
    return DomainRuleViolation(exc.detail, movement_status=status)
