"""REST commands -> Movement decisions -> events in the store (and its outbox).

Every command is ``Repository.execute`` inside one transaction: it loads the
movement, checks If-Match, lets the aggregate decide, appends the new events
at the version it loaded (a concurrent writer makes the append fail: 409) with
the case id as their correlation (``avrr_events.commands``), and updates the
write-side destination lookup in the same transaction. Each answers the
movement's case id, status, hold and new version (``CommandResult``).
Personal values (health details, transit notes) are encrypted before the
transaction opens, because the key store may create the person's key in a
transaction of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Encrypted, EventStore, PersonalDataCipher, Repository
from avrr_events.adapters.database import Database
from avrr_events.commands import CommandContext, CommandResult
from avrr_events.handover import RECEIVING_OFFICE
from avrr_events.notices import N_
from avrr_events.offices import Office
from avrr_events.personal import HEALTH
from avrr_events.problems import DomainRuleViolation, Forbidden, NotFound, PreconditionFailed
from avrr_events.withdrawal import Resolution
from avrr_travel import consents, destinations, pre_departure
from avrr_travel.events import registry
from avrr_travel.movement import (
    SOURCE,
    ArrivalConfirmer,
    Booking,
    DocumentType,
    FitnessOutcome,
    Movement,
)
from avrr_travel.reasons import NO_MOVEMENT, NOT_A_TRAVELLER, worded

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
    ) -> CommandResult:
        async with self.db.transaction() as conn:

            async def decided(movement: Movement) -> None:
                if movement.opened is None:
                    raise NotFound(wording=worded(NO_MOVEMENT, case=case_id))
                if guard is not None:
                    await guard(conn)
                decide(movement)

            try:
                movement, _ = await self.repo.execute(case_id, context, decided, conn=conn)
            except PreconditionFailed:
                # No movement is 404 whatever If-Match names (execute checks it first).
                if (await self.repo.load(case_id, conn=conn)).opened is None:
                    raise NotFound(wording=worded(NO_MOVEMENT, case=case_id)) from None
                raise
            await destinations.remember(conn, movement)
        self.db.appended()
        return CommandResult(
            movement.version,
            {
                "case_id": movement.id,
                "status": movement.status,
                "held": movement.held,
                "version": movement.version,
            },
        )

    async def _traveller_of(self, case_id: str, person_id: str) -> None:
        """Check before encrypting for ``person_id`` (no key is created for a stranger)."""
        movement = await self.repo.load(case_id)
        if movement.opened is None:
            raise NotFound(wording=worded(NO_MOVEMENT, case=case_id))
        if person_id not in movement.travellers:
            raise DomainRuleViolation(wording=worded(NOT_A_TRAVELLER, person=person_id))

    # -------------------------------------------------------------- commands --

    async def request_document(
        self,
        case_id: str,
        person_id: str,
        document_type: DocumentType,
        requested_on: date,
        context: CommandContext,
    ) -> CommandResult:
        return await self._change(
            case_id, context, lambda m: m.request_document(person_id, document_type, requested_on)
        )

    async def obtain_document(
        self,
        case_id: str,
        person_id: str,
        document_type: DocumentType,
        obtained_on: date,
        context: CommandContext,
    ) -> CommandResult:
        if obtained_on > self.clock().date():
            raise DomainRuleViolation(
                wording=worded(N_("a document cannot be obtained in the future"))
            )
        return await self._change(
            case_id, context, lambda m: m.obtain_document(person_id, document_type, obtained_on)
        )

    async def confirm_fitness(
        self,
        case_id: str,
        person_id: str,
        outcome: FitnessOutcome,
        unfit_until: date | None,
        health_details: Any,
        context: CommandContext,
    ) -> CommandResult:
        encrypted: Encrypted | None = None

        async def consented(conn: AsyncConnection) -> None:
            # Given, not merely not withdrawn: without a ConsentGiven there is none.
            if not await consents.may_process_medical_data(conn, case_id, person_id):
                raise DomainRuleViolation(
                    wording=worded(
                        N_(
                            "no consent of %(person)s to the processing of medical data stands "
                            "(never given, or withdrawn): record the outcome without health "
                            "details"
                        ),
                        person=person_id,
                    ),
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
            context,
            lambda m: m.confirm_fitness(person_id, outcome, unfit_until, encrypted, at),
            consented if health_details is not None else None,
        )

    async def _seal(self, case_id: str, text: str) -> Encrypted:
        """Free text about a household (a booking reference, an officer's reason) under the
        principal traveller's key, so that erasing them shreds it in every copy."""
        movement = await self.repo.load(case_id)
        if movement.opened is None:
            raise NotFound(wording=worded(NO_MOVEMENT, case=case_id))
        return await self.cipher.encrypt(_principal_of(movement), text)

    async def issue_ticket(
        self, case_id: str, booking: Booking, context: CommandContext
    ) -> CommandResult:
        if isinstance(booking.booking_reference, str):
            sealed = await self._seal(case_id, booking.booking_reference)
            booking = dataclasses.replace(booking, booking_reference=sealed)
        if isinstance(booking.meeting_point, str):
            place = await self._seal(case_id, booking.meeting_point)
            booking = dataclasses.replace(booking, meeting_point=place)
        at = self.clock()
        # The ticket's cost goes to the programme's travel budget line in the same transaction.
        charges = pre_departure.PreDepartureCommands(self.db, self.repo)
        return await self._change(
            case_id,
            context,
            lambda m: m.issue_ticket(booking, at.date(), at),
            guard=lambda conn: charges.charge_ticket(conn, case_id, booking, context),
        )

    async def record_no_show(
        self, case_id: str, reason: str, context: CommandContext
    ) -> CommandResult:
        details = await self._seal(case_id, reason)
        at = self.clock()
        return await self._change(case_id, context, lambda m: m.record_no_show(details, at))

    async def rebook(
        self,
        case_id: str,
        reason: str,
        new_departure_date: date,
        carrier: str | None,
        booking_reference: str | None,
        context: CommandContext,
    ) -> CommandResult:
        details = await self._seal(case_id, reason)
        reference = await self._seal(case_id, booking_reference) if booking_reference else None
        today = self.clock().date()
        return await self._change(
            case_id,
            context,
            lambda m: m.rebook(details, new_departure_date, carrier, reference, today),
        )

    async def confirm_departure(
        self, case_id: str, departed_at: datetime | None, context: CommandContext
    ) -> CommandResult:
        at = self._not_future(departed_at, "departure")
        return await self._change(case_id, context, lambda m: m.confirm_departure(at))

    async def note_transit_assistance(
        self, case_id: str, point: str, note: str, context: CommandContext
    ) -> CommandResult:
        # The note is about the household: encrypted for the principal traveller, so erasing
        # them shreds it.
        movement = await self.repo.load(case_id)
        if movement.opened is None:
            raise NotFound(wording=worded(NO_MOVEMENT, case=case_id))
        subject = _principal_of(movement)
        encrypted = await self.cipher.encrypt(subject, note)
        at = self.clock()
        return await self._change(
            case_id, context, lambda m: m.note_transit_assistance(point, encrypted, at)
        )

    async def confirm_arrival(
        self,
        case_id: str,
        arrived_at: datetime | None,
        confirmed_by: ArrivalConfirmer,
        confirmer_id: str | None,
        context: CommandContext,
        receiver: Office | None = None,
    ) -> CommandResult:
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
                        wording=worded(
                            N_(
                                "office %(office)s is not a receiving office in %(country)s, "
                                "the movement's destination: it may neither confirm the arrival "
                                "as the receiving office nor take the case over"
                            ),
                            office=confirmer_id,
                            country=country,
                        )
                    )
            m.confirm_arrival(at, confirmed_by, confirmer_id)

        return await self._change(case_id, context, decide)

    async def resolve_conflict(
        self,
        case_id: str,
        conflict_id: str,
        resolution: Resolution,
        reason: str,
        context: CommandContext,
    ) -> CommandResult:
        """A supervisor's resolution of a withdrawal conflict (404 for a conflict never
        detected on this case), in the caller's name; the reason, free text, is encrypted
        like a transit note."""
        resolved_by = context.principal.user_id
        movement = await self.repo.load(case_id)
        if movement.opened is None or conflict_id not in movement.conflicts.detected:
            raise NotFound(
                wording=worded(
                    N_("no withdrawal conflict %(conflict)s on case %(case)s"),
                    conflict=conflict_id,
                    case=case_id,
                )
            )
        encrypted = await self.cipher.encrypt(_principal_of(movement), reason)
        at = self.clock()
        return await self._change(
            case_id,
            context,
            lambda m: m.resolve_conflict(conflict_id, resolution, encrypted, resolved_by, at),
        )

    async def cancel(self, case_id: str, reason: str, context: CommandContext) -> CommandResult:
        details = await self._seal(case_id, reason)
        at = self.clock()
        return await self._change(case_id, context, lambda m: m.cancel(details, at))

    def _not_future(self, value: datetime | None, what: Confirmed) -> datetime:
        now = self.clock()
        if value is None:
            return now
        if value.tzinfo is None:
            raise DomainRuleViolation(wording=worded(_NEEDS_A_TIME_ZONE[what]))
        if value > now:
            raise DomainRuleViolation(wording=worded(_IN_ADVANCE[what]))
        return value


Confirmed = Literal["departure", "arrival"]
# A departure's or an arrival's time refused, one sentence each, as each language words it.
_NEEDS_A_TIME_ZONE: dict[Confirmed, str] = {
    "departure": N_("the departure time needs a time zone"),
    "arrival": N_("the arrival time needs a time zone"),
}
_IN_ADVANCE: dict[Confirmed, str] = {
    "departure": N_("the departure cannot be confirmed in advance"),
    "arrival": N_("the arrival cannot be confirmed in advance"),
}


def _principal_of(movement: Movement) -> str:
    for pid, t in movement.travellers.items():
        if t.member.relationship == "principal":
            return pid
    return next(iter(movement.travellers))
