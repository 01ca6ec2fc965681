"""The travel REST API: commands on a movement, and the queries of its read models.

Who may call what is ``POLICY`` (avrr_events.web.authorization): ``travel_officer``
works the movements of its offices and alone reads the manifest and transit
notes; ``medical`` alone records fitness to travel and reads health details;
the arrival is recorded by the movement's travel officer in the name of a
partner, or confirmed by a travel or reintegration officer of the receiving
office in its own name, which must be an office of the destination country in
the office registry (avrr_events.offices). Everyone sees only the movements
and boards of their offices.

Every command answers with the movement's new status and version and its
ETag, honours If-Match (412 on a stale version) and Idempotency-Key.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from avrr_events import ERASED, Encrypted
from avrr_events.commands import Principal, etag
from avrr_events.dates import NOT_IN_FUTURE
from avrr_events.handover import RECEIVING_OFFICE
from avrr_events.notices import N_
from avrr_events.offices import Office
from avrr_events.personal import ERASED_MARKER
from avrr_events.problems import Forbidden, NotFound
from avrr_events.web.authorization import (
    Authorized,
    Policy,
    Role,
    allow,
    may_see,
    sees_every_office,
)
from avrr_events.web.commands import Command, service_commands
from avrr_events.web.http import invalid_field
from avrr_events.web.notices import (
    NOTICE_RESPONSES,
    NoticeLanguage,
    notice_response,
    reader_language,
)
from avrr_events.web.responses import PlainJSONResponse, routed_to
from avrr_events.web.service import ServiceRuntime, runtime_of
from avrr_events.web.withdrawal import add_conflicts_list
from avrr_events.withdrawal import Resolution
from avrr_travel import consents, notices, read_models
from avrr_travel.commands import HEALTH_DETAILS, MovementCommands
from avrr_travel.movement import (
    RECEIVING_OFFICE_NAMES_ITSELF,
    ArrivalConfirmer,
    Booking,
    Cost,
    DocumentType,
    Escort,
    FitnessOutcome,
    Place,
    ShortText,
    TransportMode,
)
from avrr_travel.reasons import NO_MOVEMENT, worded

CONSENT_WITHDRAWN = "consent_withdrawn"  # shown instead of health details no longer consented
_UNREAD = object()  # no movement detail read for this request yet

router = APIRouter(tags=["movements"])

PersonId = Annotated[str, Field(min_length=1, max_length=200)]
# Health details as text, or as a flat record of findings: bounded like every request field.
HealthText = Annotated[str, Field(min_length=1, max_length=4000)]
HealthRecord = Annotated[
    dict[
        Annotated[str, Field(min_length=1, max_length=100)],
        Annotated[str, Field(max_length=2000)] | int | float | bool | None,
    ],
    Field(max_length=50),
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentRequest(Body):
    person_id: PersonId
    document_type: DocumentType
    requested_on: date


class DocumentObtained(Body):
    person_id: PersonId
    document_type: DocumentType
    obtained_on: date = Field(description=NOT_IN_FUTURE)


class FitnessCheck(Body):
    person_id: PersonId
    outcome: FitnessOutcome
    unfit_until: date | None = None
    health_details: HealthText | HealthRecord | None = Field(
        default=None, description="personal: encrypted for the person, shown to medical only"
    )


# At least two characters that are not spaces: a place someone can find.
MeetingPoint = Annotated[str, Field(min_length=2, max_length=200, pattern=r"\S[\s\S]*\S")]


class Ticket(Body):
    mode: TransportMode
    carrier: str = Field(min_length=1, max_length=200)
    booking_reference: str = Field(min_length=1, max_length=100)
    departure_date: date
    route: list[Place] = Field(
        min_length=2, max_length=12, description="origin, transit points, destination"
    )
    cost: Cost | None = None
    escorts: list[Escort] = Field(default_factory=list, max_length=20)
    meeting_point: MeetingPoint | None = Field(
        default=None,
        description="where the travellers meet the escort or programme staff on the departure "
        "day: a public place (a terminal, a bus station, the office), never a home address; "
        "encrypted for the principal traveller, given in the travel instructions",
    )
    meeting_time: time | None = Field(
        default=None, description="the local time of the meeting, on the departure date"
    )

    def booking(self) -> Booking:
        return Booking(
            mode=self.mode,
            carrier=self.carrier,
            booking_reference=self.booking_reference,
            departure_date=self.departure_date,
            route=list(self.route),
            cost=self.cost,
            escorts=list(self.escorts),
            meeting_point=self.meeting_point,
            meeting_time=self.meeting_time,
        )


class Reason(Body):
    reason: ShortText


class Rebooking(Body):
    reason: ShortText
    new_departure_date: date
    carrier: str | None = Field(default=None, min_length=1, max_length=200)
    booking_reference: str | None = Field(default=None, min_length=1, max_length=100)


class Departure(Body):
    departed_at: datetime | None = Field(default=None, description=NOT_IN_FUTURE)


class TransitAssistance(Body):
    point: Place
    note: str = Field(min_length=1, max_length=4000)


class ConflictResolution(Body):
    resolution: Resolution
    reason: ShortText = Field(description="personal: encrypted for the principal traveller")


class Arrival(Body, json_schema_extra=RECEIVING_OFFICE_NAMES_ITSELF):
    arrived_at: datetime | None = Field(default=None, description=NOT_IN_FUTURE)
    confirmed_by: ArrivalConfirmer
    confirmer_id: str | None = Field(default=None, min_length=1, max_length=200)


# The service's command object (``Service(commands=...)`` in main.py).
Movements = Annotated[MovementCommands, Depends(service_commands)]


async def case_offices(request: Request, case_id: str) -> frozenset[str] | None:
    """The office of the case's movement (None: no movement, the route answers 404).

    For the movement's detail (``GET /movements/{case_id}``) the whole detail is read
    here, in the one statement that also holds its office, and kept in the request for
    the route: the office and the detail are then one round trip, and one snapshot.
    """
    db = runtime_of(request).db
    if not routed_to(request, "movement"):
        return await read_models.movement_offices(db, case_id)
    detail = await read_models.movement_detail(db, case_id)
    request.state.movement_detail = detail
    if detail is None:
        return None
    return frozenset({detail["office"]} if detail["office"] else ())


OFFICER = allow(Role.TRAVEL_OFFICER, scope="case")
MOVEMENT_READERS = (Role.TRAVEL_OFFICER, Role.MEDICAL, Role.CASEWORKER, Role.SUPERVISOR)

POLICY = Policy(
    {
        "POST /movements/{case_id}/document-requests": OFFICER,
        "POST /movements/{case_id}/documents": OFFICER,
        "POST /movements/{case_id}/fitness": allow(Role.MEDICAL, scope="case"),
        "POST /movements/{case_id}/ticket": OFFICER,
        "POST /movements/{case_id}/no-show": OFFICER,
        "POST /movements/{case_id}/rebooking": OFFICER,
        "POST /movements/{case_id}/departure": OFFICER,
        "POST /movements/{case_id}/transit-assistance": OFFICER,
        # The movement's travel officer (a partner's confirmation), or the receiving office
        # of the destination country confirming in its own name (the handler checks which).
        "POST /movements/{case_id}/arrival": allow(
            Role.TRAVEL_OFFICER, Role.REINTEGRATION_OFFICER, scope="handler"
        ),
        "POST /movements/{case_id}/cancellation": OFFICER,
        # Withdrawal conflicts (avrr_events.withdrawal): a supervisor's list and resolution.
        "GET /withdrawal-conflicts": allow(Role.SUPERVISOR, scope="office"),
        "POST /movements/{case_id}/withdrawal-conflicts/{conflict_id}/resolution": allow(
            Role.SUPERVISOR, scope="case"
        ),
        "GET /movements/{case_id}": allow(*MOVEMENT_READERS, scope="case"),
        # What the household is told (no personal data but the meeting place, which the
        # movement's readers see): its readers hand it over.
        "GET /movements/{case_id}/notices/travel-instructions": allow(
            *MOVEMENT_READERS, scope="case"
        ),
        "GET /departures": allow(*MOVEMENT_READERS, scope="office"),
        "GET /manifests/{day}": allow(Role.TRAVEL_OFFICER, scope="office"),
        "GET /movements/{case_id}/medical": allow(Role.MEDICAL, scope="case"),
        "GET /movements/{case_id}/transit-assistance": OFFICER,
    },
    case_offices=case_offices,
)


# ---------------------------------------------------------------- commands --


@router.post("/movements/{case_id}/document-requests")
async def request_document(case_id: str, body: DocumentRequest, command: Command) -> Any:
    """Record that a travel document was requested (e.g. from the consulate)."""
    return await command(command.with_body(MovementCommands.request_document, case_id, body))


@router.post("/movements/{case_id}/documents")
async def obtain_document(case_id: str, body: DocumentObtained, command: Command) -> Any:
    """Record a traveller's travel document (a valid passport, or one obtained for the trip)."""
    return await command(command.with_body(MovementCommands.obtain_document, case_id, body))


@router.post("/movements/{case_id}/fitness")
async def confirm_fitness(case_id: str, body: FitnessCheck, command: Command) -> Any:
    """Record the outcome of a traveller's medical check (medical role only)."""
    return await command(command.with_body(MovementCommands.confirm_fitness, case_id, body))


@router.post("/movements/{case_id}/ticket")
async def issue_ticket(case_id: str, body: Ticket, movements: Movements, command: Command) -> Any:
    """Issue the ticket: 422 naming what is missing unless every traveller is ready."""
    return await command(lambda ctx: movements.issue_ticket(case_id, body.booking(), ctx))


@router.post("/movements/{case_id}/no-show")
async def record_no_show(case_id: str, body: Reason, command: Command) -> Any:
    return await command(command.with_body(MovementCommands.record_no_show, case_id, body))


@router.post("/movements/{case_id}/rebooking")
async def rebook(case_id: str, body: Rebooking, command: Command) -> Any:
    return await command(command.with_body(MovementCommands.rebook, case_id, body))


@router.post("/movements/{case_id}/departure")
async def confirm_departure(case_id: str, body: Departure, command: Command) -> Any:
    return await command(command.with_body(MovementCommands.confirm_departure, case_id, body))


@router.post("/movements/{case_id}/transit-assistance")
async def note_transit_assistance(case_id: str, body: TransitAssistance, command: Command) -> Any:
    return await command(command.with_body(MovementCommands.note_transit_assistance, case_id, body))


@router.post("/movements/{case_id}/arrival")
async def confirm_arrival(
    case_id: str, body: Arrival, request: Request, movements: Movements, command: Command
) -> Any:
    """Confirm the arrival at destination (by the receiving office or a partner).

    The movement's travel officer records a partner's confirmation. The
    receiving office confirms in its own name: a travel or reintegration
    officer of that office (``confirmer_id``, an office of the registry; 422
    otherwise), which must be a host or receiving office of the movement's
    destination country (403 otherwise), because the confirmation hands the
    case over to it: its users then read the whole case file.
    """
    receiver = await _arrival_confirmer(request, command.context.principal, case_id, body)
    return await command(
        lambda ctx: movements.confirm_arrival(
            case_id, body.arrived_at, body.confirmed_by, body.confirmer_id, ctx, receiver=receiver
        )
    )


async def _arrival_confirmer(
    request: Request, who: Principal, case_id: str, body: Arrival
) -> Office | None:
    """The receiving office confirming in its own name (None: a partner's confirmation),
    once the caller may confirm as it (the policy leaves this check to the handler)."""
    if body.confirmed_by != RECEIVING_OFFICE:
        offices = await case_offices(request, case_id)
        if not (
            who.has_any_role((Role.TRAVEL_OFFICER,)) and (offices is None or may_see(who, offices))
        ):
            raise Forbidden(
                wording=worded(
                    N_("a partner's confirmation is recorded by the movement's travel officer")
                )
            )
        return None
    if body.confirmer_id is None:
        raise invalid_field("confirmer_id", worded(N_("name the receiving office that confirms")))
    receiver = runtime_of(request).offices.get(body.confirmer_id)
    if receiver is None:
        raise invalid_field("confirmer_id", worded(N_("not an office of the office registry")))
    if not may_see(who, (receiver.id,)):
        raise Forbidden(
            wording=worded(
                N_("an arrival is confirmed as the receiving office only by a user of that office")
            )
        )
    return receiver


@router.post("/movements/{case_id}/cancellation")
async def cancel(case_id: str, body: Reason, command: Command) -> Any:
    return await command(command.with_body(MovementCommands.cancel, case_id, body))


@router.post("/movements/{case_id}/withdrawal-conflicts/{conflict_id}/resolution")
async def resolve_withdrawal_conflict(
    case_id: str,
    conflict_id: Annotated[str, Path(max_length=100)],
    body: ConflictResolution,
    movements: Movements,
    command: Command,
) -> Any:
    """Resolve a ticket or departure recorded after the case's withdrawal (supervisors):
    ``departure_undone``, ``person_was_withdrawn_returned_by_other_means``,
    ``ticket_cancelled`` or ``person_consented_again``, with the reason."""
    return await command(
        lambda ctx: movements.resolve_conflict(
            case_id, conflict_id, body.resolution, body.reason, ctx
        )
    )


# ----------------------------------------------------------------- queries --


add_conflicts_list(
    router,
    read_models.withdrawal_conflicts,
    """Tickets and departures of one office's cases recorded after the case's withdrawal
    (open until a supervisor resolves them; ``status=resolved|all`` for the others).""",
)


@router.get("/movements/{case_id}")
async def movement(case_id: str, request: Request, who: Authorized) -> JSONResponse:
    """The movement: travellers' documents and fitness outcomes, booking, hold, arrival."""
    # Read by office scoping (case_offices), unless the app's policy looks offices up
    # another way: then here, on the database (one prepared read, no pool checkout).
    detail = getattr(request.state, "movement_detail", _UNREAD)
    if detail is _UNREAD:
        detail = await read_models.movement_detail(runtime_of(request).db, case_id)
    if detail is None:
        raise NotFound(wording=worded(NO_MOVEMENT, case=case_id))
    # The booking reference and the officer's reasons, or "erased".
    detail = await runtime_of(request).cipher.reveal(detail)
    return PlainJSONResponse(detail, headers={"ETag": etag(detail["version"])})


@router.get("/departures")
async def departures_board(
    request: Request,
    who: Authorized,
    office: Annotated[str, Query(min_length=1)],
    on: Annotated[date, Query()],
) -> Any:
    """The departures board of one office on one day (one of yours: the policy checks it)."""
    async with runtime_of(request).db.autocommit() as conn:
        board = await read_models.departures_board(conn, office, on)
    board = await runtime_of(request).cipher.reveal(board)  # the booking references
    return {"office": office, "date": on, "departures": board}


@router.get("/manifests/{day}")
async def manifest(
    day: date,
    request: Request,
    who: Authorized,
    office: Annotated[str | None, Query(min_length=1)] = None,
) -> Any:
    """Every traveller departing on ``day`` (travel officers only; the office is checked by
    the policy, and only a headquarters token may leave it out)."""
    if office is None and not sees_every_office(who):
        raise Forbidden(wording=worded(N_("name the office: you are scoped to offices")))
    async with runtime_of(request).db.autocommit() as conn:
        departures = await read_models.manifest(conn, day, office)
    departures = await runtime_of(request).cipher.reveal(departures)  # the booking references
    return {"date": day, "office": office, "departures": departures}


@router.get("/movements/{case_id}/medical")
async def medical_records(case_id: str, request: Request, who: Authorized) -> Any:
    """Fitness checks with their health details, decrypted (medical role only).

    Details of a person who withdrew consent to medical data processing read
    ``consent_withdrawn``; those of an erased person read ``erased``.
    """
    rt = runtime_of(request)
    async with rt.db.autocommit() as conn:
        rows = await read_models.medical_records_of(conn, case_id)
        people = {row.person_id for row in rows}
        withdrawn = await consents.medical_consent_withdrawn(conn, case_id, people)
    records = []
    for row in rows:
        details = None
        if row.health_details is not None:
            if withdrawn & {row.person_id, consents.WHOLE_HOUSEHOLD}:
                details = CONSENT_WITHDRAWN  # no longer processed, not even decrypted
            else:
                details = await _decrypt_health(rt, case_id, row.health_details)
        records.append(
            {
                "person_id": row.person_id,
                "outcome": row.outcome,
                "unfit_until": row.unfit_until,
                "health_details": details,
                "confirmed_at": row.confirmed_at,
            }
        )
    return {"case_id": case_id, "records": records}


@router.get(
    "/movements/{case_id}/notices/travel-instructions",
    summary="The travel instructions in the household's language, as HTML or PDF (by Accept)",
    response_class=Response,
    responses=NOTICE_RESPONSES,
)
async def travel_instructions(
    case_id: str,
    request: Request,
    movements: Movements,
    _who: Authorized,
    language: NoticeLanguage = None,
) -> Response:
    """Date, meeting point and time, transport and route, escort, each traveller's document
    and the household's rights, in ``language``, else the household's recorded language,
    else Accept-Language."""
    movement = await movements.repo.load(case_id)
    if movement.opened is None:
        raise NotFound(wording=worded(NO_MOVEMENT, case=case_id))
    meeting = movement.booking.meeting_point if movement.booking else None
    place = None if meeting is None else await _decrypt(runtime_of(request), meeting)
    chosen = language or reader_language(request, notices.person_languages(movement))
    notice = notices.travel_instructions(movement, chosen, place)
    return await notice_response(request, notice, filename="travel-instructions")


@router.get("/movements/{case_id}/transit-assistance")
async def transit_notes(case_id: str, request: Request, who: Authorized) -> Any:
    rt = runtime_of(request)
    async with rt.db.autocommit() as conn:
        rows = await read_models.transit_notes_of(conn, case_id)
    return {
        "case_id": case_id,
        "notes": [
            {"point": r.point, "note": await _decrypt(rt, r.note), "noted_at": r.noted_at}
            for r in rows
        ],
    }


async def _decrypt_health(rt: ServiceRuntime, case_id: str, stored: Any) -> Any:
    """Health details open only as the health_details of this case (personal.py)."""
    value = await rt.cipher.decrypt_for_purpose(
        Encrypted.model_validate(stored), case_id=case_id, field=HEALTH_DETAILS
    )
    return ERASED_MARKER if value is ERASED else value


async def _decrypt(rt: ServiceRuntime, stored: Any) -> Any:
    value = await rt.cipher.decrypt(Encrypted.model_validate(stored))
    return ERASED_MARKER if value is ERASED else value
