"""The Movement aggregate: one household's journey home, and the events it is made of.

One movement per case (the stream ``movement-<case_id>``, keyed by case id):
opened when eligibility clears the case, it collects a travel document and a
fitness-to-travel outcome for every traveller, is ticketed only when all of
them are ready and the escorts the travellers need are booked, and ends in an
arrival confirmed at destination, or in a cancellation. A suspension of the
destination holds it (no ticket, no departure) until the destination reopens.

Events without a row in docs/events.md (TravelDocumentRequested,
TransitAssistanceNoted, NoShowRecorded, CaseWithdrawalNoted) are travel's
internal facts; they are published on the travel topic like every event, and
other services simply do not read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
)

from avrr_events import DomainEvent, Encrypted
from avrr_events.money import amount_schema
from avrr_events.notices import N_
from avrr_events.notices.wording import Wording
from avrr_events.problems import DomainRuleViolation
from avrr_events.registry import declared_events
from avrr_events.withdrawal import (
    AggregateWithConflicts,
    ConflictCommand,
    WithdrawalConflictDetectedBase,
    WithdrawalConflictResolvedBase,
)
from avrr_travel.escorts import Need, unescorted
from avrr_travel.observed import CountryCode, DueDiligenceCleared, HouseholdMember
from avrr_travel.reasons import NOT_A_TRAVELLER, worded

DocumentType = Literal["passport", "emergency_travel_document", "laissez_passer"]
FitnessOutcome = Literal["fit", "fit_with_escort", "unfit"]
TransportMode = Literal["air", "land"]
EscortKind = Literal["operational", "medical"]
ArrivalConfirmer = Literal["receiving_office", "partner"]
# The arrival request's cross-field rule, stated in its OpenAPI: the receiving office
# confirming in its own name names itself (``confirmer_id``, an office of the registry).
RECEIVING_OFFICE_NAMES_ITSELF: dict[str, Any] = {
    "if": {"properties": {"confirmed_by": {"const": "receiving_office"}}},
    "then": {"properties": {"confirmer_id": {"type": "string"}}, "required": ["confirmer_id"]},
}
ShortText = Annotated[str, Field(min_length=1, max_length=1000)]
Place = Annotated[str, Field(min_length=2, max_length=100)]


class Cost(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Annotated[Decimal, WithJsonSchema(amount_schema(12, 2, positive=False))] = Field(
        ge=0, max_digits=12, decimal_places=2
    )
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217")


class Escort(BaseModel):
    """An escort booked on the ticket: operational (IOM staff) or medical; ``cost`` (optional:
    staff already paid cost nothing more) is charged with the ticket to the programme's
    pre-departure travel budget (budgets.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: EscortKind
    cost: Cost | None = None

    @model_serializer(mode="wrap")
    def _cost_only_when_given(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A TicketIssued's escorts read as before when no cost was given: {"kind": ...}.
        data = handler(self)
        if isinstance(data, dict) and data.get("cost") is None:
            data.pop("cost", None)
        return data


# ------------------------------------------------------------------ events --


# The languages the household reads, as intake recorded them (ISO codes, first preferred).
Languages = Annotated[list[Annotated[str, Field(max_length=20)]], Field(max_length=10)]


class MovementOpened(DomainEvent):
    event_type = "avrr.travel.MovementOpened"

    case_id: str
    programme_id: str
    destination_country: CountryCode
    destination_region: str | None = None
    transport_mode: TransportMode
    travellers: list[HouseholdMember]
    opened_at: datetime
    # Optional additions to the contract: travel needs them for ArrivalConfirmed and the board.
    office: str | None = None
    host_country: CountryCode | None = None
    # Optional addition: the languages the household reads, for the travel instructions.
    languages: Languages = Field(default_factory=list)


class TravelDocumentRequested(DomainEvent):
    """Internal: a document was requested (emergency travel document, laissez-passer, passport)."""

    event_type = "avrr.travel.TravelDocumentRequested"

    case_id: str
    person_id: str
    document_type: DocumentType
    requested_on: date


class TravelDocumentObtained(DomainEvent):
    event_type = "avrr.travel.TravelDocumentObtained"

    case_id: str
    person_id: str
    document_type: DocumentType
    obtained_on: date


class FitForTravelConfirmed(DomainEvent):
    """The outcome of the medical check (all three outcomes, as the contract names it)."""

    event_type = "avrr.travel.FitForTravelConfirmed"

    case_id: str
    person_id: str
    outcome: FitnessOutcome
    unfit_until: date | None = None
    health_details: Encrypted | None = None
    confirmed_at: datetime


# The reason a travel officer types may tell anything about the household (an illness, a
# threat, an arrest): it travels in ``details``, encrypted under the principal traveller's
# key, and ``reason`` says only who gave it. Reasons the platform writes itself (a
# withdrawal, a suspended destination) stay in ``reason``.
OFFICE_REASON = "given_by_travel_office"
REASON_DESCRIPTION = (
    f"{OFFICE_REASON!r} when a travel officer gave it (the text is in details), else the "
    "platform's own reason; free text only in events written before details existed"
)
DETAILS_DESCRIPTION = "the travel officer's reason, under the principal traveller's key"


class OfficerReasonEvent(DomainEvent):
    """Base of the events a travel officer gives a reason for (no-show, rebooking,
    cancellation): the text in ``details``, encrypted; ``reason`` says who gave it."""

    case_id: str
    reason: str = Field(description=REASON_DESCRIPTION)
    details: Encrypted | None = Field(default=None, description=DETAILS_DESCRIPTION)


class TicketIssued(DomainEvent):
    event_type = "avrr.travel.TicketIssued"

    case_id: str
    mode: TransportMode
    carrier: str
    # Names the passengers at the carrier: under the principal traveller's key (plaintext
    # only in events written before it was encrypted: read, never written).
    booking_reference: Encrypted | str
    departure_date: date
    route: list[str]
    cost: Cost | None = None
    escorts: list[Escort] = []
    issued_at: datetime
    # Optional additions (absent in older tickets): where and when the travellers meet the
    # escort or programme staff on the departure day (the travel instructions say it). The
    # place is typed by the officer, so it is encrypted like the booking reference.
    meeting_point: Encrypted | None = None
    meeting_time: time | None = None


class DepartureConfirmed(DomainEvent):
    event_type = "avrr.travel.DepartureConfirmed"

    case_id: str
    departed_at: datetime


class TransitAssistanceNoted(DomainEvent):
    """Internal: assistance given at a transit point; the note may be personal, so encrypted."""

    event_type = "avrr.travel.TransitAssistanceNoted"

    case_id: str
    point: str
    note: Encrypted
    noted_at: datetime


class ArrivalConfirmed(DomainEvent):
    event_type = "avrr.travel.ArrivalConfirmed"

    case_id: str
    programme_id: str
    office: str
    destination_country: CountryCode
    destination_region: str | None = None
    arrived_at: datetime
    confirmed_by: ArrivalConfirmer
    # Optional addition: which receiving office or partner organisation confirmed.
    confirmer_id: str | None = None
    # Optional addition (issue 19): the household's languages, as the movement was opened
    # with them, so reintegration gives the plan summary in them (it hears of no others).
    languages: Languages = Field(default_factory=list)


class MovementPauseEvent(DomainEvent):
    """Base of the events that pause a movement or take it up again (held and released
    with its destination's suspension, reinstated when a withdrawn consent is given
    again): travel's own words for why, and when."""

    case_id: str
    reason: str
    at: datetime


class MovementHeld(MovementPauseEvent):
    event_type = "avrr.travel.MovementHeld"


class MovementReleased(MovementPauseEvent):
    event_type = "avrr.travel.MovementReleased"


class NoShowRecorded(OfficerReasonEvent):
    """Internal: the travellers did not show up for the departure; the ticket is void."""

    event_type = "avrr.travel.NoShowRecorded"

    recorded_at: datetime


class MovementRebooked(OfficerReasonEvent):
    event_type = "avrr.travel.MovementRebooked"

    new_departure_date: date
    # Optional additions: a rebooking usually changes the booking reference.
    carrier: str | None = None
    booking_reference: Encrypted | str | None = None


class MovementCancelled(OfficerReasonEvent):
    event_type = "avrr.travel.MovementCancelled"

    cancelled_at: datetime


class CaseWithdrawalNoted(DomainEvent):
    """Internal: the case was withdrawn before its movement opened; a later clearance opens none."""

    event_type = "avrr.travel.CaseWithdrawalNoted"

    case_id: str
    withdrawn_at: datetime
    # Optional addition (absent in older events): why, so that a note made for a
    # withdrawn consent can be lifted when the consent is given again.
    reason: str | None = None


# Why travel cancels a movement (or notes one not yet opened) when the consent to the
# processing of the return is withdrawn: a pause that MovementReinstated ends.
CONSENT_WITHDRAWN_REASON = "consent to the processing of the return withdrawn"


# Why travel takes up a movement the case's withdrawal (or closure) ended: intake reopened
# the case (eligibility's AssessmentReopened, cause case_reopened).
CASE_REOPENED_REASON = "case reopened: the movement opens again with a new clearance"
# Why travel takes up again a movement not departed: a person joined the cleared household
# (eligibility's HouseholdMemberJoined, clearance_lapsed), which is cleared again as a whole.
CLEARANCE_LAPSED_REASON = (
    "clearance lapsed: a household member was added; the movement opens again with a new clearance"
)
# The reasons a movement waits for a new clearance, its travellers and booking gone.
STARTING_OVER_REASONS = frozenset({CASE_REOPENED_REASON, CLEARANCE_LAPSED_REASON})


class MovementReinstated(MovementPauseEvent):
    """The consent whose withdrawal cancelled the movement was given again (eligibility's
    AssessmentReopened): it is preparing again with its travellers' documents and fitness;
    the voided booking is gone, so a new ticket is needed.

    With ``reason`` CASE_REOPENED_REASON the case itself was reopened: the movement, on its
    own stream (one history), waits for eligibility's new clearance, whose MovementOpened
    names the household and destination afresh. Documents and fitness are recorded again:
    travel keeps no document's expiry date, and fitness to travel is about the day of
    departure, not the one before the withdrawal.

    With ``reason`` CLEARANCE_LAPSED_REASON a person joined the household after clearance:
    it waits, as for a reopened case, for the clearance of the household as a whole; the
    ticket issued for the household without them is void."""

    event_type = "avrr.travel.MovementReinstated"


class WithdrawalConflictDetected(WithdrawalConflictDetectedBase):
    """A ticket or departure recorded after the withdrawal's time (inside travel's window)."""

    event_type = "avrr.travel.WithdrawalConflictDetected"


class WithdrawalConflictResolved(WithdrawalConflictResolvedBase):
    """A supervisor's coded resolution of a conflict, with the reason (encrypted)."""

    event_type = "avrr.travel.WithdrawalConflictResolved"


class TravellerRemoved(DomainEvent):
    """A person left the household after clearance and before departure (eligibility's
    HouseholdMemberLeft): they are no longer on the movement; a ticket already issued
    stands for the others."""

    event_type = "avrr.travel.TravellerRemoved"

    case_id: str
    person_id: str = Field(min_length=1, max_length=200)
    removed_at: datetime


class TravellersCorrected(DomainEvent):
    """The travellers' ages, sexes or unaccompanied children as a rectification in intake
    corrected them (eligibility's HouseholdCorrected, after clearance and before departure):
    the escort rules and the manifest go by these from now on."""

    event_type = "avrr.travel.TravellersCorrected"

    case_id: str
    travellers: list[HouseholdMember] = Field(min_length=1, max_length=50)
    corrected_at: datetime


class VulnerabilityScreeningNoted(DomainEvent):
    """Eligibility screened a person (``person_id``) or the whole case (None): the needs for an
    escort it found (escorts.py; empty: none, or none any more). May come before the movement
    opens: screening is done during the assessment."""

    event_type = "avrr.travel.VulnerabilityScreeningNoted"

    case_id: str
    person_id: str | None = Field(default=None, min_length=1, max_length=200)
    needs: list[Need] = Field(max_length=3)
    screened_at: datetime


class TravellerRemovalRefused(DomainEvent):
    """The removal of a traveller reached the movement after the departure it raced with:
    the person travelled; intake restores them to the household."""

    event_type = "avrr.travel.TravellerRemovalRefused"

    case_id: str
    person_id: str = Field(min_length=1, max_length=200)
    departed_at: datetime
    refused_at: datetime


class TravellerAdditionRefused(DomainEvent):
    """The lapse of the clearance for a person who joined the household (eligibility's
    HouseholdMemberJoined, clearance_lapsed) reached the movement after the departure it
    raced with: the household travelled as cleared, without them; intake reverses the
    addition and eligibility's clearance stands again."""

    event_type = "avrr.travel.TravellerAdditionRefused"

    case_id: str
    person_id: str = Field(min_length=1, max_length=200)
    departed_at: datetime
    refused_at: datetime


class MovementJoinedGroup(DomainEvent):
    """The household travels with a group movement (a convoy or charter, group.py)."""

    event_type = "avrr.travel.MovementJoinedGroup"

    case_id: str
    group_id: str
    at: datetime


class MovementLeftGroup(DomainEvent):
    """The household no longer travels with the group; ``cause`` says why (group.LeaveCause)."""

    event_type = "avrr.travel.MovementLeftGroup"

    case_id: str
    group_id: str
    cause: str
    at: datetime


EVENTS: tuple[type[DomainEvent], ...] = declared_events(globals(), DomainEvent)

SOURCE = "/avrr/travel"  # the CloudEvents source of travel's events

# The commands a withdrawal forbids whose late arrival travel flags (see avrr_events.withdrawal).
CONFLICTING: dict[str, ConflictCommand] = {
    TicketIssued.event_type: "ticket",
    DepartureConfirmed.event_type: "departure",
}

# ------------------------------------------------------------------- rules --


@dataclass(frozen=True)
class Missing:
    """One thing that stands between a movement and its ticket (or departure)."""

    requirement: str
    detail: str
    person_id: str | None = None
    # The detail as a catalog message, for the refusal's sentence in the reader's language
    # (the ``missing`` extension keeps the English ``detail``).
    worded: Wording | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, requirement: str, detail: Wording, person_id: str | None) -> Missing:
        """What is missing, its detail worded from the catalog (English in ``detail``)."""
        return cls(requirement, detail.english, person_id, detail)

    def described(self) -> Wording:
        """ "person: requirement (detail)", the detail in the reader's language."""
        detail = self.worded or self.detail
        if self.person_id is None:
            return worded(
                N_("%(requirement)s (%(detail)s)"), requirement=self.requirement, detail=detail
            )
        return worded(
            N_("%(person)s: %(requirement)s (%(detail)s)"),
            person=self.person_id,
            requirement=self.requirement,
            detail=detail,
        )

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"requirement": self.requirement, "detail": self.detail}
        if self.person_id is not None:
            out["person_id"] = self.person_id
        return out


class MovementRuleViolation(DomainRuleViolation):
    """A decision the movement's state does not allow (422): ``missing`` lists what is
    lacking, and ``movement_status`` is the movement's status (``cancelled`` once travel has
    learnt of a withdrawal: a client tells that refusal from any other)."""

    detail: str

    def __init__(
        self, detail: str | Wording, missing: list[Missing] | None = None, *, status: str
    ) -> None:
        shown: dict[str, Any] = {"missing": [m.as_dict() for m in missing]} if missing else {}
        if isinstance(detail, Wording):  # a catalog message: worded for the reader
            super().__init__(wording=detail, **shown, movement_status=status)
            self.detail = detail.english
        else:  # a library's refusal, as it words it (avrr_events.withdrawal)
            super().__init__(detail, **shown, movement_status=status)
            self.detail = detail
        self.missing = missing or []


@dataclass
class Document:
    document_type: DocumentType
    requested_on: date | None = None
    obtained_on: date | None = None


@dataclass
class Fitness:
    outcome: FitnessOutcome
    unfit_until: date | None
    confirmed_at: datetime


@dataclass
class Traveller:
    member: HouseholdMember
    document: Document | None = None
    fitness: Fitness | None = None
    # Screened needs for an escort (escorts.py); a case-wide screening counts for everyone.
    vulnerabilities: frozenset[Need] = frozenset()


@dataclass
class Booking:
    mode: TransportMode
    carrier: str
    booking_reference: Encrypted | str
    departure_date: date
    route: list[str]
    cost: Cost | None
    escorts: list[Escort] = field(default_factory=list)
    meeting_point: Encrypted | str | None = None  # a str until the command seals it
    meeting_time: time | None = None


Status = Literal[
    "not_opened", "preparing", "ticketed", "no_show", "departed", "arrived", "cancelled"
]
OPEN_STATUSES: frozenset[str] = frozenset({"preparing", "ticketed", "no_show"})


class Movement(AggregateWithConflicts):
    """The movement of one case's household; its id is the case id."""

    stream_type = "movement"
    conflict_detected = WithdrawalConflictDetected
    conflict_resolved = WithdrawalConflictResolved

    def __init__(self, case_id: str) -> None:
        super().__init__(case_id)
        self.opened: MovementOpened | None = None
        self.travellers: dict[str, Traveller] = {}
        self.booking: Booking | None = None
        self.no_show = False
        self.departed_at: datetime | None = None
        self.arrived_at: datetime | None = None
        self.cancelled = False
        self.withdrawn_before_opening = False
        self.paused_for_consent = False  # cancelled or noted for a withdrawn consent only
        self.hold_reason: str | None = None
        # When the reopened case's movement was taken up again (withdrawals before it are old).
        self.restarted_at: datetime | None = None
        # Eligibility's screenings by person (None: the whole case), kept across a reopening.
        self.screened: dict[str | None, frozenset[Need]] = {}
        self.group_id: str | None = None  # the convoy or charter it travels with (group.py)

    # ------------------------------------------------------------- state --

    def when(self, event: DomainEvent) -> None:
        match event:
            case MovementOpened():
                self.opened = event
                self.travellers = {m.person_id: Traveller(m) for m in event.travellers}
                self._screen_travellers()
            case TravelDocumentRequested():
                self.travellers[event.person_id].document = Document(
                    event.document_type, requested_on=event.requested_on
                )
            case TravelDocumentObtained():
                traveller = self.travellers[event.person_id]
                requested = traveller.document.requested_on if traveller.document else None
                traveller.document = Document(event.document_type, requested, event.obtained_on)
            case FitForTravelConfirmed():
                self.travellers[event.person_id].fitness = Fitness(
                    event.outcome, event.unfit_until, event.confirmed_at
                )
            case TicketIssued():
                self.booking = Booking(
                    event.mode,
                    event.carrier,
                    event.booking_reference,
                    event.departure_date,
                    list(event.route),
                    event.cost,
                    list(event.escorts),
                    event.meeting_point,
                    event.meeting_time,
                )
                self.no_show = False
            case NoShowRecorded():
                self.no_show = True
            case MovementRebooked():
                assert self.booking is not None
                self.booking.departure_date = event.new_departure_date
                self.booking.carrier = event.carrier or self.booking.carrier
                self.booking.booking_reference = (
                    event.booking_reference or self.booking.booking_reference
                )
                self.no_show = False
            case DepartureConfirmed():
                self.departed_at = event.departed_at
            case ArrivalConfirmed():
                self.arrived_at = event.arrived_at
            case MovementHeld():
                self.hold_reason = event.reason
            case MovementReleased():
                self.hold_reason = None
            case MovementCancelled():
                self.cancelled = True
                self.paused_for_consent = event.reason == CONSENT_WITHDRAWN_REASON
            case CaseWithdrawalNoted():
                self.withdrawn_before_opening = True
                self.paused_for_consent = event.reason == CONSENT_WITHDRAWN_REASON
            case MovementReinstated():
                if event.reason in STARTING_OVER_REASONS:
                    self.opened = None
                    self.travellers = {}
                if event.reason == CASE_REOPENED_REASON:
                    self.restarted_at = event.at
                self.cancelled = self.withdrawn_before_opening = self.paused_for_consent = False
                self.booking = None
                self.no_show = False
                self.hold_reason = None
            case WithdrawalConflictDetected() | WithdrawalConflictResolved():
                self.conflicts.when(event)
            case TravellerRemoved():
                self.travellers.pop(event.person_id, None)
            case TravellersCorrected():
                for member in event.travellers:
                    if member.person_id in self.travellers:
                        self.travellers[member.person_id].member = member
            case MovementJoinedGroup():
                self.group_id = event.group_id
            case MovementLeftGroup():
                self.group_id = None
            case VulnerabilityScreeningNoted():
                self.screened[event.person_id] = frozenset(event.needs)
                self._screen_travellers()
            case TransitAssistanceNoted() | TravellerRemovalRefused() | TravellerAdditionRefused():
                pass

    def _screen_travellers(self) -> None:
        case_wide = self.screened.get(None, frozenset())
        for pid, t in self.travellers.items():
            t.vulnerabilities = case_wide | self.screened.get(pid, frozenset())

    @property
    def status(self) -> Status:
        if self.cancelled:
            return "cancelled"
        if self.opened is None:
            return "not_opened"
        if self.arrived_at is not None:
            return "arrived"
        if self.departed_at is not None:
            return "departed"
        if self.no_show:
            return "no_show"
        if self.booking is not None:
            return "ticketed"
        return "preparing"

    @property
    def is_open(self) -> bool:
        """Still before departure and not cancelled: a suspension of its destination holds it."""
        return self.status in OPEN_STATUSES

    @property
    def held(self) -> bool:
        return self.hold_reason is not None

    # --------------------------------------------------------- decisions --

    def open(self, cleared: DueDiligenceCleared, opened_at: datetime) -> bool:
        """Open the movement from a DueDiligenceCleared; False when there is nothing to open.

        A clearance repeated, or arriving after the case was withdrawn, opens nothing.
        """
        if self.opened is not None or self.cancelled or self.withdrawn_before_opening:
            return False
        self.record(
            MovementOpened(
                case_id=self.id,
                programme_id=cleared.programme_id,
                destination_country=cleared.destination_country,
                destination_region=cleared.destination_region,
                transport_mode=cleared.transport_mode,
                travellers=list(cleared.household),
                opened_at=opened_at,
                office=cleared.office,
                host_country=cleared.host_country,
                languages=list(cleared.languages),
            )
        )
        return True

    def request_document(self, person_id: str, document_type: DocumentType, on: date) -> None:
        traveller = self._preparing_traveller(person_id)
        if traveller.document is not None and traveller.document.obtained_on is not None:
            raise self.refusal(
                worded(N_("traveller %(person)s already has a travel document"), person=person_id)
            )
        self.record(
            TravelDocumentRequested(
                case_id=self.id, person_id=person_id, document_type=document_type, requested_on=on
            )
        )

    def obtain_document(self, person_id: str, document_type: DocumentType, on: date) -> None:
        traveller = self._preparing_traveller(person_id)
        requested = traveller.document.requested_on if traveller.document else None
        if requested is not None and on < requested:
            raise self.refusal(
                worded(
                    N_(
                        "a document cannot be obtained (%(on)s) before it was requested "
                        "(%(requested)s)"
                    ),
                    on=on,
                    requested=requested,
                )
            )
        self.record(
            TravelDocumentObtained(
                case_id=self.id, person_id=person_id, document_type=document_type, obtained_on=on
            )
        )

    def confirm_fitness(
        self,
        person_id: str,
        outcome: FitnessOutcome,
        unfit_until: date | None,
        health_details: Encrypted | None,
        at: datetime,
    ) -> None:
        self._preparing_traveller(person_id)
        if outcome == "unfit" and unfit_until is None:
            raise self.refusal(worded(N_("an unfit outcome needs the date it holds until")))
        if outcome != "unfit" and unfit_until is not None:
            raise self.refusal(worded(N_("unfit_until is only for an unfit outcome")))
        if unfit_until is not None and unfit_until <= at.date():
            raise self.refusal(worded(N_("unfit_until must be a future date")))
        self.record(
            FitForTravelConfirmed(
                case_id=self.id,
                person_id=person_id,
                outcome=outcome,
                unfit_until=unfit_until,
                health_details=health_details,
                confirmed_at=at,
            )
        )

    def missing_for_travel(self, escorts: list[Escort]) -> list[Missing]:
        """What keeps this household from travelling with ``escorts``; empty when ready."""
        missing: list[Missing] = []
        for pid, t in self.travellers.items():
            if t.document is None or t.document.obtained_on is None:
                no_document = worded(N_("no travel document obtained"))
                if t.document is not None and t.document.requested_on is not None:
                    no_document = worded(
                        N_("no travel document obtained (%(document)s requested on %(day)s)"),
                        document=t.document.document_type,
                        day=t.document.requested_on,
                    )
                missing.append(Missing.of("travel_document", no_document, pid))
            if t.fitness is None:
                no_outcome = worded(N_("no fitness-to-travel outcome recorded"))
                missing.append(Missing.of("fitness_to_travel", no_outcome, pid))
            elif t.fitness.outcome == "unfit":
                unfit = worded(N_("unfit to travel until %(day)s"), day=t.fitness.unfit_until)
                missing.append(Missing.of("fitness_to_travel", unfit, pid))
        # Vulnerability drives escorts, whatever the fitness outcome says (escorts.py).
        for requirement, why, pid in unescorted(self.travellers, (e.kind for e in escorts)):
            missing.append(Missing.of(requirement, worded(why), pid))
        return missing

    def issue_ticket(self, booking: Booking, today: date, at: datetime) -> None:
        self._require_open("issue a ticket")
        self._require_not_held("issue a ticket")
        if self.booking is not None:
            raise self.refusal(worded(N_("a ticket was already issued: rebook it instead")))
        self._check_booking(booking, today)
        assert not isinstance(booking.meeting_point, str), "the command seals the meeting point"
        self.record(
            TicketIssued(
                case_id=self.id,
                mode=booking.mode,
                carrier=booking.carrier,
                booking_reference=booking.booking_reference,
                departure_date=booking.departure_date,
                route=booking.route,
                cost=booking.cost,
                escorts=booking.escorts,
                issued_at=at,
                meeting_point=booking.meeting_point,
                meeting_time=booking.meeting_time,
            )
        )

    def _check_booking(self, booking: Booking, today: date) -> None:
        if booking.departure_date < today:
            raise self.refusal(worded(N_("the departure date is in the past")))
        if len(booking.route) < 2:
            raise self.refusal(worded(N_("a route names at least its origin and its destination")))
        self._require_ready(booking.escorts, "the ticket cannot be issued")

    def record_no_show(self, details: Encrypted, at: datetime) -> None:
        if self.status != "ticketed":
            raise self.refusal(
                worded(
                    N_("a no-show needs a ticketed movement (it is %(status)s)"), status=self.status
                )
            )
        self.record(
            NoShowRecorded(case_id=self.id, reason=OFFICE_REASON, details=details, recorded_at=at)
        )

    def rebook(
        self,
        details: Encrypted,
        new_departure_date: date,
        carrier: str | None,
        booking_reference: Encrypted | None,
        today: date,
    ) -> None:
        self._require_open("rebook")
        self._require_not_held("rebook")
        if self.booking is None:
            raise self.refusal(worded(N_("there is no ticket to rebook: issue one first")))
        if new_departure_date < today:
            raise self.refusal(worded(N_("the new departure date is in the past")))
        self._require_ready(self.booking.escorts, "the movement cannot be rebooked")
        self.record(
            MovementRebooked(
                case_id=self.id,
                reason=OFFICE_REASON,
                details=details,
                new_departure_date=new_departure_date,
                carrier=carrier,
                booking_reference=booking_reference,
            )
        )

    def confirm_departure(self, at: datetime) -> None:
        if self.status != "ticketed":
            raise self.refusal(
                worded(
                    N_("only a ticketed movement can depart (it is %(status)s)"), status=self.status
                )
            )
        self._require_not_held("depart")
        assert self.booking is not None
        self._require_ready(self.booking.escorts, "the household cannot depart")
        self.record(DepartureConfirmed(case_id=self.id, departed_at=at))

    def ready_to_depart(self) -> bool:
        """Ticketed, not held, and every traveller ready with the booked escorts."""
        return (
            self.status == "ticketed"
            and not self.held
            and self.booking is not None
            and not self.missing_for_travel(self.booking.escorts)
        )

    def join_group(self, group_id: str, at: datetime) -> None:
        """Travel with the group ``group_id`` (the group decided; group.Group.assign)."""
        if self.group_id is not None:
            raise self.refusal(
                worded(
                    N_("the household already travels with group %(group)s"), group=self.group_id
                )
            )
        self.record(MovementJoinedGroup(case_id=self.id, group_id=group_id, at=at))

    def leave_group(self, group_id: str, cause: str, at: datetime) -> None:
        if self.group_id == group_id:
            self.record(MovementLeftGroup(case_id=self.id, group_id=group_id, cause=cause, at=at))

    def note_transit_assistance(self, point: str, note: Encrypted, at: datetime) -> None:
        if self.status not in ("ticketed", "departed"):
            raise self.refusal(
                worded(
                    N_(
                        "transit assistance is for a ticketed or departed movement "
                        "(it is %(status)s)"
                    ),
                    status=self.status,
                )
            )
        self.record(TransitAssistanceNoted(case_id=self.id, point=point, note=note, noted_at=at))

    def confirm_arrival(
        self, at: datetime, confirmed_by: ArrivalConfirmer, confirmer_id: str | None
    ) -> None:
        if self.status != "departed":
            raise self.refusal(
                worded(
                    N_("only a departed movement can arrive (it is %(status)s)"), status=self.status
                )
            )
        assert self.opened is not None and self.departed_at is not None
        if at < self.departed_at:
            raise self.refusal(worded(N_("arrival cannot be before departure")))
        self.record(
            ArrivalConfirmed(
                case_id=self.id,
                programme_id=self.opened.programme_id,
                office=self.opened.office or "",
                destination_country=self.opened.destination_country,
                destination_region=self.opened.destination_region,
                arrived_at=at,
                confirmed_by=confirmed_by,
                confirmer_id=confirmer_id,
                languages=list(self.opened.languages),
            )
        )

    def cancel(self, details: Encrypted, at: datetime) -> None:
        self._require_open("cancel")
        self.record(
            MovementCancelled(
                case_id=self.id, reason=OFFICE_REASON, details=details, cancelled_at=at
            )
        )

    def withdraw(self, reason: str, at: datetime) -> bool:
        """The case was withdrawn (or its consent to return): cancel what is still open.

        Returns False when nothing changes.

        A household already on its way (departed or arrived) is not cancelled.
        """
        if self.opened is None:
            if self.withdrawn_before_opening or self.cancelled:
                return False
            self.record(CaseWithdrawalNoted(case_id=self.id, withdrawn_at=at, reason=reason))
            return True
        if not self.is_open:
            return False
        self.record(MovementCancelled(case_id=self.id, reason=reason, cancelled_at=at))
        return True

    def reinstate(self, at: datetime) -> bool:
        """Take up again a movement a withdrawn consent cancelled (or kept from opening);
        False for anything else, a case withdrawal above all (that one is final)."""
        if not self.paused_for_consent or self.departed_at is not None:
            return False
        reason = "consent to the processing of the return given again"
        self.record(MovementReinstated(case_id=self.id, reason=reason, at=at))
        return True

    def start_over(self, at: datetime, reason: str = CASE_REOPENED_REASON) -> bool:
        """The case was reopened: a movement its withdrawal (or a withdrawn consent) ended
        before departure waits for a new clearance (MovementReinstated, CASE_REOPENED_REASON).
        Or (CLEARANCE_LAPSED_REASON) the consent was given again to a household whose
        clearance lapsed meanwhile (a person joined it): it waits for the new clearance too.
        False when nothing ended it, or the household had departed already."""
        if self.departed_at is not None or not (self.cancelled or self.withdrawn_before_opening):
            return False
        self.record(MovementReinstated(case_id=self.id, reason=reason, at=at))
        return True

    def lapse_clearance(self, person_id: str, at: datetime) -> bool:
        """A person joined the cleared household: a movement not departed waits for the new
        clearance of the household as a whole (its ticket void); one that departed refuses
        the addition (TravellerAdditionRefused). False when there is nothing to do: no
        movement open (the new clearance opens it), or one cancelled (ended for good, or paused
        for a withdrawn consent: the consent given again then starts it over, see
        ``start_over``)."""
        if self.opened is None or self.cancelled:
            return False
        if self.departed_at is not None:
            self.record(
                TravellerAdditionRefused(
                    case_id=self.id,
                    person_id=person_id,
                    departed_at=self.departed_at,
                    refused_at=at,
                )
            )
        else:
            self.record(MovementReinstated(case_id=self.id, reason=CLEARANCE_LAPSED_REASON, at=at))
        return True

    def ended_before_restart(self, at: datetime) -> bool:
        """A withdrawal of ``at`` came before the reopened case's movement started over: it
        ended the movement of before, and says nothing about this one."""
        return self.restarted_at is not None and at < self.restarted_at

    def hold(self, reason: str, at: datetime) -> bool:
        if not self.is_open or self.held:
            return False
        self.record(MovementHeld(case_id=self.id, reason=reason, at=at))
        return True

    def release(self, reason: str, at: datetime) -> bool:
        if not self.held or not self.is_open:
            return False
        self.record(MovementReleased(case_id=self.id, reason=reason, at=at))
        return True

    # ----------------------------------------------------------- helpers --

    def note_screening(self, person_id: str | None, needs: frozenset[Need], at: datetime) -> bool:
        """Keep eligibility's latest screening of ``person_id`` (None: the case); False when it
        changes nothing travel goes by (the same needs, or the journey is over)."""
        same = self.screened.get(person_id, frozenset()) == needs
        if same or self.status in ("departed", "arrived"):
            return False
        self.record(
            VulnerabilityScreeningNoted(
                case_id=self.id, person_id=person_id, needs=sorted(needs), screened_at=at
            )
        )
        return True

    def remove_traveller(self, person_id: str, at: datetime) -> bool:
        """Take a person who left the household off the movement; after the departure, refuse
        (they travelled). False when there is nothing to do: no movement open, or the person
        is not (or no longer) on it."""
        if self.opened is None or self.cancelled or person_id not in self.travellers:
            return False
        if self.departed_at is not None:
            self.record(
                TravellerRemovalRefused(
                    case_id=self.id,
                    person_id=person_id,
                    departed_at=self.departed_at,
                    refused_at=at,
                )
            )
        elif len(self.travellers) > 1:
            self.record(TravellerRemoved(case_id=self.id, person_id=person_id, removed_at=at))
        else:
            return False
        return True

    def correct_travellers(self, household: Sequence[HouseholdMember], at: datetime) -> bool:
        """Give the travellers the household's corrected facts (who is not on the movement
        stays off it); a movement a withdrawn consent paused takes them too, for when it
        prepares again. False when there is nothing to do: no movement, one cancelled for
        good, departed (the journey they decided is over), or the facts it already has."""
        ended = self.cancelled and not self.paused_for_consent
        if self.opened is None or ended or self.departed_at is not None:
            return False
        on_board = [m for m in household if m.person_id in self.travellers]
        if all(self.travellers[m.person_id].member == m for m in on_board):
            return False
        self.record(TravellersCorrected(case_id=self.id, travellers=on_board, corrected_at=at))
        return True

    def refusal(
        self, detail: str | Wording, missing: list[Missing] | None = None
    ) -> MovementRuleViolation:
        """The 422 refusing a decision, with the status the movement is in."""
        return MovementRuleViolation(detail, missing, status=self.status)

    def conflict_refusal(self, detail: str) -> MovementRuleViolation:
        return self.refusal(detail)

    @property
    def conflict_office(self) -> str | None:
        return self.opened.office if self.opened else None

    def _require_open(self, action: Action) -> None:
        if self.opened is None:
            raise self.refusal(worded(_NOT_OPEN[action]))
        if not self.is_open:
            raise self.refusal(worded(_CLOSED[action], status=self.status))

    def _require_not_held(self, action: Action) -> None:
        if self.held:
            raise self.refusal(worded(_HELD[action], reason=self.hold_reason))

    def _require_ready(self, escorts: list[Escort], refused: Unready) -> None:
        """Refuse (``refused``: what cannot happen) unless the household can travel with
        ``escorts``, naming everything that is missing."""
        missing = self.missing_for_travel(escorts)
        if missing:
            lacking = listed([m.described() for m in missing])
            raise self.refusal(worded(_UNREADY[refused], missing=lacking), missing)

    def _preparing_traveller(self, person_id: str) -> Traveller:
        self._require_open("change a traveller")
        traveller = self.travellers.get(person_id)
        if traveller is None:
            raise self.refusal(worded(NOT_A_TRAVELLER, person=person_id))
        return traveller


# What a movement refuses when it is not open, closed or held, and when its household is
# not ready: one sentence per action, as each language words it whole.
Action = Literal["issue a ticket", "rebook", "depart", "cancel", "change a traveller"]
_NOT_OPEN: dict[Action, str] = {
    "issue a ticket": N_("cannot issue a ticket: the movement is not open"),
    "rebook": N_("cannot rebook: the movement is not open"),
    "cancel": N_("cannot cancel: the movement is not open"),
    "change a traveller": N_("cannot change a traveller: the movement is not open"),
}
_CLOSED: dict[Action, str] = {
    "issue a ticket": N_("cannot issue a ticket: the movement is %(status)s"),
    "rebook": N_("cannot rebook: the movement is %(status)s"),
    "cancel": N_("cannot cancel: the movement is %(status)s"),
    "change a traveller": N_("cannot change a traveller: the movement is %(status)s"),
}
_HELD: dict[Action, str] = {
    "issue a ticket": N_("cannot issue a ticket: the movement is held (%(reason)s)"),
    "rebook": N_("cannot rebook: the movement is held (%(reason)s)"),
    "depart": N_("cannot depart: the movement is held (%(reason)s)"),
}
Unready = Literal[
    "the ticket cannot be issued", "the movement cannot be rebooked", "the household cannot depart"
]
_UNREADY: dict[Unready, str] = {
    "the ticket cannot be issued": N_("the ticket cannot be issued: %(missing)s"),
    "the movement cannot be rebooked": N_("the movement cannot be rebooked: %(missing)s"),
    "the household cannot depart": N_("the household cannot depart: %(missing)s"),
}


def listed(items: list[Wording]) -> Wording:
    """Items of a refusal's list in one phrase, "a; b; c", each in the reader's language
    (the separator a catalog message too: French sets it off with a space)."""
    phrase = items[-1]
    for item in reversed(items[:-1]):
        phrase = worded(N_("%(item)s; %(more)s"), item=item, more=phrase)
    return phrase
