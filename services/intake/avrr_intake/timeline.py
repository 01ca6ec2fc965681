"""The case timeline: everything that happened to a case, from every service, and time travel.

``CaseTimeline`` (table ``intake_timeline``) keeps one row per event of a
case, intake's own and the other services' (observed.py): when (the event's
CloudEvents ``time``), who (the publishing service and, where the event names
one, the staff member), a human-readable summary, and the event's
non-personal facts. Rows are numbered in arrival order (``seq``), so the
timeline reads in event time, then arrival.

Personal data never enters this table: encrypted values are dropped from the
facts, the free-text fields a person could write into (reasons of a due
diligence rejection, city of residence) are left out, and every summary is
built from the facts alone.

``CaseState`` is the case as the platform knew it at one moment: ``fold``
applies timeline entries one by one. ``GET /cases/{id}/state?as_of=`` folds
the entries up to ``as_of``; the situational reports (reports.py) fold every
event of a case as it arrives, with the same function, so the two never
disagree about a case's phase.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field
from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import DomainEvent, Envelope, EventRegistry, Projection
from avrr_events.places import place
from avrr_events.projections import page
from avrr_events.tables import Json, Position
from avrr_intake import observed
from avrr_intake.amendment import ReturnAmendmentRefused, ReturnRequestAmended
from avrr_intake.case import (
    CaseClosed,
    CaseReopened,
    CaseWithdrawn,
    PersonalDataErased,
    ReturnRequested,
    ReturnResumed,
    ReturnSuspended,
)
from avrr_intake.consent import NOT_RECORDED, ConsentGiven, ConsentWithdrawn
from avrr_intake.counselling import CounsellingRecorded
from avrr_intake.events import registry
from avrr_intake.feedback import FEEDBACK_EVENTS
from avrr_intake.health import NeedsDeclared
from avrr_intake.household_change import (
    HouseholdAdditionReversed,
    HouseholdMemberAdded,
    HouseholdMemberRemoved,
    HouseholdMemberRestored,
)
from avrr_intake.notes import AttachmentAdded, NoteAdded
from avrr_intake.rectification import HouseholdFactsCorrected, PersonalDataRectified
from avrr_intake.referral import (
    DuplicateReferredElsewhere,
    PossibleDuplicateFlagged,
    ReferralReceived,
)
from avrr_intake.transfer import (
    TransferAccepted,
    TransferExpired,
    TransferRejected,
    TransferRequested,
)

metadata = MetaData()

timeline = Table(
    "intake_timeline",
    metadata,
    Column("seq", Position, primary_key=True, autoincrement=True),
    Column("event_id", String(100), nullable=False, unique=True),
    Column("case_id", String(100), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("service", String(50), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("actor", String(200), nullable=True),
    Column("summary", String(500), nullable=False),
    Column("facts", Json, nullable=False),
)
Index("intake_timeline_case_idx", timeline.c.case_id, timeline.c.occurred_at, timeline.c.seq)

# Every event of a case that intake shows, its own and the observed ones: a timeline row
# names its type, and this registry gives the class the tables below are keyed by. Feedback
# is not a step of a case: a complaint must never reach the case's readers (feedback.py).
TIMELINE_EVENTS = EventRegistry(c for c in registry.types.values() if c not in FEEDBACK_EVENTS)
TIMELINE_TYPES = frozenset(TIMELINE_EVENTS.types)
_CLASSES = TIMELINE_EVENTS.types
Facts = dict[str, Any]

# Fields that name the staff member who did it, in the order they are looked for.
ACTOR_FIELDS = (
    "received_by",
    "counsellor",
    "recorded_by",
    "withdrawn_by",
    "closed_by",
    "erased_by",
    "assessed_by",
    "determined_by",
    "checked_by",
    "confirmer_id",
    "resolved_by",
    "rectified_by",
    "amended_by",
    "added_by",
    "removed_by",
)

# Fields left out of the facts although not encrypted: free text about the person.
_LEFT_OUT: dict[type[DomainEvent], set[str]] = {
    ReferralReceived: {"current_city", "referring_organisation"},
    observed.DueDiligenceRejected: {"reasons"},
    observed.AssessmentClosed: {"reason"},
    # The matching cases' and people's ids: not every reader of the timeline may see them.
    PossibleDuplicateFlagged: {"matches"},
}
_ENCRYPTED_KEYS = {"alg", "subject", "nonce", "ct"}


def _plain(value: Any) -> Any:
    """The value without any encrypted part (an Encrypted dump is dropped wherever it sits)."""
    if isinstance(value, dict):
        return {
            k: _plain(v)
            for k, v in value.items()
            if not (isinstance(v, dict) and set(v) == _ENCRYPTED_KEYS)
        }
    if isinstance(value, list):
        return [_plain(v) for v in value if not (isinstance(v, dict) and set(v) == _ENCRYPTED_KEYS)]
    return value


def facts_of(event: DomainEvent) -> dict[str, Any]:
    """The event's non-personal facts as JSON (no case id, no ciphertext, no free text)."""
    data = event.model_dump(mode="json", exclude={"case_id"})
    facts: dict[str, Any] = _plain(data)
    for name in _LEFT_OUT.get(type(event), ()):
        facts.pop(name, None)
    if isinstance(event, observed.DueDiligenceRejected):
        facts["reason_count"] = len(data.get("reasons", []))
    if isinstance(event, PossibleDuplicateFlagged):
        facts["match_count"] = len(data.get("matches", []))
    if isinstance(event, ReferralReceived):
        for person in facts.get("household", []):
            person.pop("duplicate_key", None)
    return facts


def actor_of(facts: dict[str, Any]) -> str | None:
    for name in ACTOR_FIELDS:
        if facts.get(name):
            return str(facts[name])
    return None


def service_of(envelope: Envelope) -> str:
    """The publishing service, from the CloudEvents source ``/avrr/<service>``."""
    return envelope.source.rstrip("/").rsplit("/", 1)[-1]


# ---------------------------------------------------------------- summaries --


def _household(f: dict[str, Any]) -> str:
    n = len(f.get("household", []))
    return f"{n} {'person' if n == 1 else 'people'}"


def _money(amount: Any, currency: Any) -> str:
    return f"{Decimal(str(amount)):.2f} {currency}"


def _plan(f: dict[str, Any]) -> str:
    components = f.get("components", [])
    kinds = ", ".join(sorted({c["kind"] for c in components}))
    return f"Reintegration plan agreed: {len(components)} components ({kinds})"


def _conflict_detected(f: Facts) -> str:
    return (
        f"Withdrawal conflict: {f['command']} recorded at {f['recorded_at']}, after the "
        f"withdrawal at {f['withdrawn_at']} (event {f['conflicting_event_id']}); "
        "a supervisor must resolve it"
    )


def _conflict_resolved(f: Facts) -> str:
    return (
        f"Withdrawal conflict resolved: {f['resolution'].replace('_', ' ')} "
        f"(event {f['conflicting_event_id']})"
    )


_SUMMARIES: dict[type[DomainEvent], Callable[[Facts], str]] = {
    ReferralReceived: lambda f: (
        f"Referral received from {f['source']} at office {f['office']}: household of "
        f"{_household(f)}, nationality {f['nationality']}, in {f['host_country']}"
    ),
    PossibleDuplicateFlagged: lambda f: (
        f"Possible duplicate flagged: {f.get('match_count', 0) + f.get('elsewhere', 0)} "
        "match(es) with other cases"
        + (f" ({f['elsewhere']} at other offices)" if f.get("elsewhere") else "")
    ),
    DuplicateReferredElsewhere: lambda f: (
        f"Person {f['person_id']} possibly referred again at another office"
    ),
    NeedsDeclared: lambda f: f"Needs declared for person {f['person_id']} (medical only)",
    # What was added and about whom; never the note's text nor the file's name.
    NoteAdded: lambda f: f"Note written about person {f['person_id']}",
    AttachmentAdded: lambda f: (
        f"{f['kind'].replace('_', ' ').capitalize()} attached for person {f['person_id']} "
        f"({f['content_type']}, {f['size_bytes']} bytes)"
    ),
    CounsellingRecorded: lambda f: (
        f"Counselling session held on {f['held_on']} in {f['language']}: "
        f"{f['outcome'].replace('_', ' ')}"
    ),
    ConsentGiven: lambda f: (
        f"Consent given for {f['purpose'].replace('_', ' ')} (person {f['person_id']}, "
        f"by {f['given_by'].replace('_', ' ')})"
    ),
    ConsentWithdrawn: lambda f: (
        f"Consent withdrawn for {f['purpose'].replace('_', ' ')} "
        f"({'person ' + f['person_id'] if f.get('person_id') else 'whole household'})"
        + f": {(f.get('reason') or NOT_RECORDED).replace('_', ' ')}"
    ),
    ReturnRequested: lambda f: (
        f"Return requested to {f['destination_country']} for {_household(f)}"
        + (f" (programme hint {f['programme_hint']})" if f.get("programme_hint") else "")
    ),
    ReturnSuspended: lambda f: (
        "Return suspended: consent withdrawn for "
        + ", ".join(p.replace("_", " ") for p in f["missing_consents"])
    ),
    ReturnResumed: lambda _f: "Return resumed: every consent it needs given again",
    # Which fields were corrected, never their values (they are encrypted in the event).
    PersonalDataRectified: lambda f: (
        f"Personal data of person {f['person_id']} rectified ("
        + ", ".join(n.replace("_", " ") for n in f["fields"])
        + f"): {f['reason'].replace('_', ' ')}"
    ),
    HouseholdFactsCorrected: lambda f: (
        f"Ages and sexes of the household corrected after person {f['person_id']}'s "
        f"rectification: passed on for {_household(f)}"
    ),
    ReturnRequestAmended: lambda f: (
        f"Return request amended: destination {f['destination_country']}"
        + (f" ({f['destination_region']})" if f.get("destination_region") else "")
        + f"; {f['reason'].replace('_', ' ')}"
    ),
    ReturnAmendmentRefused: lambda f: (
        "Return request amendment refused: the return was already cleared for "
        + f"{f['destination_country']}"
        + (f" ({f['destination_region']})" if f.get("destination_region") else "")
    ),
    HouseholdMemberRemoved: lambda f: (
        f"Person {f['person_id']} left the household: {f['reason'].replace('_', ' ')} "
        f"({f['household_size']} remain)"
    ),
    HouseholdMemberRestored: lambda f: (
        f"Person {f['person_id']} is back in the household: they had already departed with it"
    ),
    HouseholdMemberAdded: lambda f: (
        f"Person {f['member']['person_id']} ({f['member']['relationship']}) joined the "
        f"household: {f['reason'].replace('_', ' ')} ({f['household_size']} people)"
    ),
    HouseholdAdditionReversed: lambda f: (
        f"Person {f['person_id']} is not a member after all: the household had departed "
        "before the addition reached it"
    ),
    observed.HouseholdMemberJoined: lambda f: (
        f"Eligibility put person {f['person_id']} on the request (decided again)"
        + (
            ": the clearance lapsed, the household is cleared again"
            if f.get("clearance_lapsed")
            else ""
        )
    ),
    observed.HouseholdAdditionRefused: lambda f: (
        f"Eligibility refused to add person {f['person_id']}: the household was already cleared"
    ),
    observed.HouseholdMemberLeft: lambda f: (
        f"Eligibility took person {f['person_id']} off the "
        + ("cleared household" if f["cleared"] else "request (decided again)")
    ),
    observed.TravellerRemoved: lambda f: f"Person {f['person_id']} taken off the movement",
    observed.TravellerAdditionRefused: lambda f: (
        f"Travel refused to add person {f['person_id']} to the movement: already departed"
    ),
    observed.TravellerRemovalRefused: lambda f: (
        f"Travel refused to take person {f['person_id']} off the movement: already departed"
    ),
    observed.AssessmentAmended: lambda f: (
        f"Eligibility re-assessed for destination {f['destination_country']}"
    ),
    observed.AmendmentRefused: lambda _f: (
        "Eligibility refused the amendment: the return was already cleared"
    ),
    observed.AssessmentReopened: lambda f: (
        "Eligibility assessment taken up again: the return is cleared anew"
        if f.get("cause") == "case_reopened"
        else "Eligibility assessment reopened"
    ),
    observed.MovementReinstated: lambda f: (
        "Movement taken up again: it opens with the new clearance"
        if _starts_over(f)
        else "Movement reinstated (a new ticket is needed)"
    ),
    CaseWithdrawn: lambda f: f"Case withdrawn: {f['reason'].replace('_', ' ')}",
    CaseClosed: lambda f: f"Case closed: {f['reason'].replace('_', ' ')}",
    CaseReopened: lambda f: (
        f"Case reopened (it was {f['previous_status']}): {f['reason'].replace('_', ' ')}"
        + (
            "; its return resumes once every member consents again"
            if f.get("resumes_return")
            else ""
        )
    ),
    TransferRequested: lambda f: (
        f"Transfer to office {f['to_office']} requested by office {f['from_office']}: "
        f"{f['reason'].replace('_', ' ')} (answer due by {f['expires_at'][:10]})"
    ),
    TransferAccepted: lambda f: (
        f"Transfer accepted: office {f['to_office']} holds the case now "
        f"(from office {f['from_office']})"
    ),
    TransferRejected: lambda f: (
        f"Transfer to office {f['to_office']} rejected: {f['reason'].replace('_', ' ')}"
    ),
    TransferExpired: lambda f: (
        f"Transfer to office {f['to_office']} expired: no answer within 7 days"
    ),
    PersonalDataErased: lambda f: (
        f"Personal data erased for {len(f['person_ids'])} people (keys deleted"
        + ("; retention period over)" if f.get("reason") == "retention" else ")")
    ),
    observed.EligibilityDecided: lambda f: (
        f"Eligible for programme {f.get('programme_id') or '-'}"
        if f["eligible"]
        else "Not eligible for any programme"
    ),
    observed.VulnerabilityAssessed: lambda f: (
        "Vulnerability screening"
        + (f" of person {f['person_id']}" if f.get("person_id") else " of the household")
        + ": "
        + (
            ", ".join(
                f"{c['category'].replace('_', ' ')} ({c['severity']})" for c in f["categories"]
            )
            or "no vulnerability found"
        )
    ),
    observed.BestInterestsDeterminationRecorded: lambda f: (
        f"Best-interests determination for person {f['person_id']}: "
        f"{f['outcome'].replace('_', ' ')}"
    ),
    observed.DueDiligenceChecked: lambda _f: "Due diligence checklist submitted",
    observed.DueDiligenceCleared: lambda f: (
        f"Due diligence cleared: programme {f['programme_id']}, "
        f"{f['host_country']} -> {f['destination_country']} by {f['transport_mode']}"
    ),
    observed.DueDiligenceRejected: lambda f: (
        f"Due diligence rejected ({f.get('reason_count', 0)} reason(s))"
    ),
    observed.AssessmentClosed: lambda _f: "Eligibility assessment closed",
    observed.MovementOpened: lambda f: (
        f"Movement opened to {f['destination_country']} by {f['transport_mode']}"
    ),
    observed.TravelDocumentObtained: lambda f: (
        f"Travel document obtained ({f['document_type'].replace('_', ' ')}) "
        f"for person {f['person_id']} on {f['obtained_on']}"
    ),
    observed.FitForTravelConfirmed: lambda f: (
        f"Fitness to travel for person {f['person_id']}: {f['outcome'].replace('_', ' ')}"
    ),
    observed.TicketIssued: lambda f: (
        f"Ticket issued: {f['mode']} with {f['carrier']}, departing {f['departure_date']}"
    ),
    observed.DepartureConfirmed: lambda _f: "Departure confirmed",
    observed.MovementJoinedGroup: lambda f: f"Movement joined group {f['group_id']}",
    observed.MovementLeftGroup: lambda f: (
        f"Movement left group {f['group_id']} ({f['cause'].replace('_', ' ')})"
    ),
    observed.ArrivalConfirmed: lambda f: (
        f"Arrival confirmed in {f['destination_country']} by the "
        f"{f['confirmed_by'].replace('_', ' ')}"
    ),
    observed.MovementHeld: lambda _f: "Movement held",
    observed.MovementReleased: lambda _f: "Movement released",
    observed.MovementRebooked: lambda f: f"Movement rebooked for {f['new_departure_date']}",
    observed.MovementCancelled: lambda _f: "Movement cancelled",
    observed.ReintegrationEligibilityDecided: lambda f: (
        f"Reintegration assistance {f['decision'].replace('_', ' ')} "
        f"(programme {f['programme_id']})"
    ),
    observed.ReintegrationPlanAgreed: _plan,
    observed.AssistanceDisbursed: lambda f: (
        f"Assistance disbursed: {_money(f['amount'], f['currency'])} "
        f"{f['kind'].replace('_', '-')} by {f['method'].replace('_', ' ')}"
    ),
    observed.ServiceReferralMade: lambda f: f"Referred to a local service ({f['service']})",
    observed.MonitoringVisitRecorded: lambda f: (
        f"Monitoring visit (month {f['due_month']}) on {f['visited_on']}"
    ),
    observed.SustainabilityScored: lambda f: (
        f"Sustainability scored ({f['stage']}): {f['composite']:.2f}, "
        f"{'sustainable' if f['sustainable'] else 'not yet sustainable'}"
    ),
    observed.ReintegrationCompleted: lambda f: f"Reintegration completed on {f['completed_on']}",
    observed.ReintegrationStopped: lambda f: f"Reintegration stopped: {f['reason']}",
    observed.ReintegrationReopened: lambda _f: (
        "Reintegration taken up again: the arrival decides on assistance"
    ),
    observed.TravelWithdrawalConflictDetected: _conflict_detected,
    observed.ReintegrationWithdrawalConflictDetected: _conflict_detected,
    observed.TravelWithdrawalConflictResolved: _conflict_resolved,
    observed.ReintegrationWithdrawalConflictResolved: _conflict_resolved,
}


def summary_of(event_type: str, facts: Facts) -> str:
    """One line for a person reading the timeline; built from non-personal facts only."""
    describe = _SUMMARIES.get(_CLASSES.get(event_type, DomainEvent))
    return describe(facts)[:500] if describe else event_type.rsplit(".", 1)[-1]


# --------------------------------------------------------------- projection --


class CaseTimeline(Projection):
    """Appends one row per event of a case, from every service."""

    name = "intake_case_timeline"
    event_types = TIMELINE_TYPES
    metadata = metadata

    async def apply(self, conn: AsyncConnection, event: DomainEvent, envelope: Envelope) -> None:
        await self.apply_batch(conn, [(event, envelope)])

    async def apply_batch(
        self, conn: AsyncConnection, items: Sequence[tuple[DomainEvent, Envelope]]
    ) -> None:
        rows = []
        for event, envelope in items:
            case_id = getattr(event, "case_id", None)
            if case_id is None:
                continue
            facts = facts_of(event)
            rows.append(
                {
                    "event_id": envelope.id,
                    "case_id": case_id,
                    "occurred_at": utc(envelope.time),
                    "service": service_of(envelope),
                    "event_type": event.event_type,
                    "actor": actor_of(facts),
                    "summary": summary_of(event.event_type, facts),
                    "facts": facts,
                }
            )
        if rows:
            await conn.execute(timeline.insert(), rows)


# ------------------------------------------------------------------- state --

Phase = Literal[
    "referred",
    "counselled",
    "return_requested",
    "eligible",
    "cleared",
    "ticketed",
    "departed",
    "arrived",
    "reintegrating",
    "completed",
    "suspended",
    "withdrawn",
    "closed",
]
PHASES: tuple[Phase, ...] = get_args(Phase)


def phases_from(first: Phase) -> tuple[Phase, ...]:
    """``first`` and the phases of the return after it up to its completion, in order: where a
    case stands once it got past ``first`` (suspended, withdrawn and closed stop it instead)."""
    return PHASES[PHASES.index(first) : PHASES.index("completed") + 1]


# From clearance for travel a return's destination is fixed (amendment.py).
FIXED_FROM = phases_from("cleared")
# From departure the household travelled: nobody leaves it any more (household_change.py).
TRAVELLED_FROM = phases_from("departed")
# The phase an event moves a case to; the case keeps the furthest one reached
# (events of different services may arrive in any order), except that
# withdrawal and closure end it.
_ADVANCES: dict[type[DomainEvent], str] = {
    ReferralReceived: "referred",
    CounsellingRecorded: "counselled",
    ReturnRequested: "return_requested",
    observed.DueDiligenceCleared: "cleared",
    observed.TicketIssued: "ticketed",
    observed.DepartureConfirmed: "departed",
    observed.ArrivalConfirmed: "arrived",
    observed.ReintegrationPlanAgreed: "reintegrating",
    observed.AssistanceDisbursed: "reintegrating",
    observed.ReintegrationCompleted: "completed",
}
_ENDS: dict[type[DomainEvent], str] = {CaseWithdrawn: "withdrawn", CaseClosed: "closed"}
# A suspended return (a consent it needs withdrawn) stays suspended, whatever else
# arrives, until ReturnResumed; it resumes at the furthest phase the ticket-less
# return still holds (a reinstated movement needs a new ticket).
SUSPENDED = "suspended"
_RANK: dict[str, int] = {p: i for i, p in enumerate(PHASES)}


class CaseState(BaseModel):
    """What the platform knew about a case at one moment: phase and non-personal facts."""

    phase: str | None = None
    office: str | None = None
    nationality: str | None = None
    host_country: str | None = None
    destination_country: str | None = None
    destination_region: str | None = Field(default=None, description="as the request wrote it")
    programme_id: str | None = None
    household: list[dict[str, Any]] = Field(default_factory=list)
    consents_given: int = 0
    counselling_sessions: int = 0
    eligible: bool | None = None
    vulnerabilities: dict[str, list[str]] = Field(
        default_factory=dict, description="categories per person id ('household' when none)"
    )
    due_diligence: str | None = None
    transport_mode: str | None = None
    documents_obtained: list[str] = Field(default_factory=list)
    fitness: dict[str, str] = Field(default_factory=dict)
    departure_date: str | None = None
    departed_at: str | None = None
    arrived_at: str | None = None
    movement_status: str | None = None
    reintegration_decision: str | None = None
    plan_components: int = 0
    disbursed: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="currency -> kind -> total"
    )
    monitoring_visits: int = 0
    sustainability: float | None = None
    completed_on: str | None = None
    withdrawal_reason: str | None = None
    closure_reason: str | None = None
    personal_data_erased: bool = False
    events: int = 0
    last_event_at: str | None = None

    @property
    def destination_region_key(self) -> str | None:
        """The region's place key (avrr_events.places), which every spelling of it shares."""
        if self.destination_country is None or self.destination_region is None:
            return None
        return place(self.destination_country, self.destination_region).region_key

    @property
    def vulnerability_categories(self) -> list[str]:
        return sorted({c for cats in self.vulnerabilities.values() for c in cats})

    def fold(self, event_type: str, facts: Facts, at: datetime) -> None:
        """Apply one timeline entry (pure: depends on the entry's type and facts only)."""
        kind = _CLASSES.get(event_type, DomainEvent)
        self.events += 1
        self.last_event_at = _iso(at)
        change = _FOLDS.get(kind)
        if change is not None:
            change(self, facts)
        if kind in _ENDS:
            self.phase = _ENDS[kind]
        elif kind in _ADVANCES:
            self._advance(_ADVANCES[kind])

    def _resumed_phase(self) -> str:
        if self.arrived_at is not None:
            return "arrived"
        if self.departed_at is not None:
            return "departed"
        if self.due_diligence == "cleared":
            return "cleared"
        return "eligible" if self.eligible else "return_requested"

    def _advance(self, phase: str) -> None:
        if self.phase in _ENDS.values() or self.phase == SUSPENDED:
            return
        if self.phase is None or _RANK[phase] > _RANK[self.phase]:
            self.phase = phase

    def public(self) -> dict[str, Any]:
        """The state as the API serves it (vulnerabilities as a list of categories too)."""
        doc = self.model_dump(mode="json")
        doc["household_size"] = len(self.household)
        doc["vulnerability_categories"] = self.vulnerability_categories
        return doc


# ------------------------------------------------------------------ folds --
# What each event changes in a CaseState besides its phase (_ADVANCES, _ENDS above).


def _referred(s: CaseState, f: Facts) -> None:
    s.office, s.nationality = f["office"], f["nationality"]
    s.host_country = f["host_country"]
    s.household = [_member(p) for p in f["household"]]


def _counselled(s: CaseState, f: Facts) -> None:
    s.counselling_sessions += 1


def _consent_given(s: CaseState, f: Facts) -> None:
    s.consents_given += 1


def _return_requested(s: CaseState, f: Facts) -> None:
    _destination_changed(s, f)
    s.household = [_member(p) for p in f["household"]]


def _destination_changed(s: CaseState, f: Facts) -> None:
    s.destination_country = f["destination_country"]
    s.destination_region = f.get("destination_region")


def _destined(s: CaseState, country: str) -> None:
    """Eligibility and travel name the country only: a region of another country goes."""
    if country != s.destination_country:
        s.destination_region = None
    s.destination_country = country


def _facts_corrected(s: CaseState, f: Facts) -> None:
    """Who travels stays who travels; their ages and sexes are the corrected ones."""
    corrected = {p["person_id"]: _member(p) for p in f["household"]}
    s.household = [corrected.get(m.get("person_id"), m) for m in s.household]


def _member_removed(s: CaseState, f: Facts) -> None:
    s.household = [m for m in s.household if m.get("person_id") != f["person_id"]]


def _member_restored(s: CaseState, f: Facts) -> None:
    if all(m.get("person_id") != f["person_id"] for m in s.household):
        s.household.append(_member(f))


def _member_added(s: CaseState, f: Facts) -> None:
    _member_restored(s, f["member"])


def _return_suspended(s: CaseState, f: Facts) -> None:
    if s.phase not in _ENDS.values():
        s.phase = SUSPENDED


def _return_resumed(s: CaseState, f: Facts) -> None:
    if s.phase == SUSPENDED:
        s.phase = s._resumed_phase()


def _withdrawn(s: CaseState, f: Facts) -> None:
    s.withdrawal_reason = f["reason"]


def _closed(s: CaseState, f: Facts) -> None:
    s.closure_reason = f["reason"]


def _reopened(s: CaseState, f: Facts) -> None:
    # A case that had applied waits, suspended, for every consent (then ReturnResumed);
    # one that had not stands where a case stands before it applies.
    if f.get("resumes_return"):
        s.phase = SUSPENDED
    else:
        s.phase = "counselled" if s.counselling_sessions else "referred"
    s.withdrawal_reason = s.closure_reason = None
    if s.departed_at is None:
        # Eligibility clears the reopened case anew and travel opens its movement again
        # (documents and fitness recorded again): the resumed return is not yet cleared.
        s.due_diligence = s.transport_mode = s.movement_status = s.departure_date = None
        s.documents_obtained, s.fitness = [], {}


def _transferred(s: CaseState, f: Facts) -> None:
    s.office = f["to_office"]


def _erased(s: CaseState, f: Facts) -> None:
    s.personal_data_erased = True


def _eligibility_decided(s: CaseState, f: Facts) -> None:
    s.eligible = f["eligible"]
    s.programme_id = f.get("programme_id") or s.programme_id
    if f["eligible"]:
        s._advance("eligible")


def _vulnerability_assessed(s: CaseState, f: Facts) -> None:
    who = f.get("person_id") or "household"
    s.vulnerabilities[who] = sorted({c["category"] for c in f["categories"]})


def _cleared(s: CaseState, f: Facts) -> None:
    s.due_diligence = "cleared"
    s.programme_id = f["programme_id"]
    _destined(s, f["destination_country"])
    s.transport_mode = f["transport_mode"]
    s.household = [_member(p) for p in f["household"]]


def _rejected(s: CaseState, f: Facts) -> None:
    s.due_diligence = "rejected"


def _movement_opened(s: CaseState, f: Facts) -> None:
    s.movement_status = "open"


def _document_obtained(s: CaseState, f: Facts) -> None:
    if f["person_id"] not in s.documents_obtained:
        s.documents_obtained.append(f["person_id"])


def _fitness(s: CaseState, f: Facts) -> None:
    s.fitness[f["person_id"]] = f["outcome"]


def _ticketed(s: CaseState, f: Facts) -> None:
    s.departure_date = f["departure_date"]
    s.movement_status = "ticketed"


def _rebooked(s: CaseState, f: Facts) -> None:
    s.departure_date = f["new_departure_date"]


def _held(s: CaseState, f: Facts) -> None:
    s.movement_status = "held"


def _released(s: CaseState, f: Facts) -> None:
    s.movement_status = "open" if s.departure_date is None else "ticketed"


def _cancelled(s: CaseState, f: Facts) -> None:
    s.movement_status = "cancelled"


def _starts_over(f: Facts) -> bool:
    """Travel's MovementReinstated of a reopened case (its CASE_REOPENED_REASON)."""
    return str(f.get("reason") or "").startswith("case reopened")


def _reinstated(s: CaseState, f: Facts) -> None:
    s.movement_status = None if _starts_over(f) else "open"
    s.departure_date = None


def _departed(s: CaseState, f: Facts) -> None:
    s.departed_at = f["departed_at"]
    s.movement_status = "departed"


def _arrived(s: CaseState, f: Facts) -> None:
    s.arrived_at = f["arrived_at"]
    s.programme_id = f["programme_id"]
    _destined(s, f["destination_country"])
    s.movement_status = "arrived"


def _reintegration_decided(s: CaseState, f: Facts) -> None:
    s.reintegration_decision = f["decision"]


def _plan_agreed(s: CaseState, f: Facts) -> None:
    s.plan_components = len(f["components"])


def _disbursed(s: CaseState, f: Facts) -> None:
    per_kind = s.disbursed.setdefault(f["currency"], {})
    total = Decimal(per_kind.get(f["kind"], "0")) + Decimal(str(f["amount"]))
    per_kind[f["kind"]] = f"{total:.2f}"


def _visited(s: CaseState, f: Facts) -> None:
    s.monitoring_visits += 1


def _scored(s: CaseState, f: Facts) -> None:
    s.sustainability = f["composite"]


def _completed(s: CaseState, f: Facts) -> None:
    s.completed_on = f["completed_on"]


_FOLDS: dict[type[DomainEvent], Callable[[CaseState, Facts], None]] = {
    ReferralReceived: _referred,
    CounsellingRecorded: _counselled,
    ConsentGiven: _consent_given,
    ReturnRequested: _return_requested,
    ReturnSuspended: _return_suspended,
    ReturnResumed: _return_resumed,
    ReturnRequestAmended: _destination_changed,
    ReturnAmendmentRefused: _destination_changed,
    HouseholdMemberRemoved: _member_removed,
    HouseholdMemberRestored: _member_restored,
    HouseholdMemberAdded: _member_added,
    HouseholdAdditionReversed: _member_removed,
    HouseholdFactsCorrected: _facts_corrected,
    # Whatever order the services' events arrive in, who left stays left.
    observed.HouseholdMemberLeft: _member_removed,
    observed.TravellerRemoved: _member_removed,
    CaseWithdrawn: _withdrawn,
    CaseClosed: _closed,
    CaseReopened: _reopened,
    TransferAccepted: _transferred,
    PersonalDataErased: _erased,
    observed.EligibilityDecided: _eligibility_decided,
    observed.VulnerabilityAssessed: _vulnerability_assessed,
    observed.DueDiligenceCleared: _cleared,
    observed.DueDiligenceRejected: _rejected,
    observed.MovementOpened: _movement_opened,
    observed.TravelDocumentObtained: _document_obtained,
    observed.FitForTravelConfirmed: _fitness,
    observed.TicketIssued: _ticketed,
    observed.MovementRebooked: _rebooked,
    observed.MovementHeld: _held,
    observed.MovementReleased: _released,
    observed.MovementCancelled: _cancelled,
    observed.MovementReinstated: _reinstated,
    observed.DepartureConfirmed: _departed,
    observed.ArrivalConfirmed: _arrived,
    observed.ReintegrationEligibilityDecided: _reintegration_decided,
    observed.ReintegrationPlanAgreed: _plan_agreed,
    observed.AssistanceDisbursed: _disbursed,
    observed.MonitoringVisitRecorded: _visited,
    observed.SustainabilityScored: _scored,
    observed.ReintegrationCompleted: _completed,
}


def _member(p: dict[str, Any]) -> dict[str, Any]:
    return {k: p.get(k) for k in ("person_id", "relationship", "sex", "age_years") if k in p}


def utc(moment: datetime) -> datetime:
    """The moment in UTC; a naive one (SQLite hands timestamps back without zone) is UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return utc(moment).isoformat()


def fold(entries: Iterable[Any]) -> CaseState:
    """The state after the given timeline rows (in timeline order)."""
    state = CaseState()
    for row in entries:
        state.fold(row.event_type, row.facts, row.occurred_at)
    return state


# ------------------------------------------------------------------ queries --


def _ordered(case_id: str) -> Any:
    t = timeline.c
    return select(timeline).where(t.case_id == case_id).order_by(t.occurred_at, t.seq)


async def entries(
    conn: AsyncConnection, case_id: str, *, limit: int, offset: int
) -> tuple[list[Any], int]:
    """A page of the case's timeline (event time, then arrival) and how many entries in all."""
    return await page(conn, _ordered(case_id), limit=limit, offset=offset)


async def state_as_of(conn: AsyncConnection, case_id: str, as_of: datetime) -> CaseState | None:
    """The case as it was at ``as_of`` (None when nothing had happened to it yet)."""
    until = timeline.c.occurred_at <= utc(as_of)
    rows = (await conn.execute(_ordered(case_id).where(until))).all()
    return fold(rows) if rows else None
