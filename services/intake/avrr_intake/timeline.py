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
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import DomainEvent, Envelope, Projection
from avrr_events.tables import Json, Position
from avrr_intake import observed
from avrr_intake.case import registry as intake_registry

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

# Every event type of a case that intake shows: its own and the observed ones.
TIMELINE_TYPES = frozenset(intake_registry.types) | frozenset(observed.registry.types)

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
)

# Fields left out of the facts although not encrypted: free text about the person.
_LEFT_OUT = {
    "avrr.intake.ReferralReceived": {"current_city", "referring_organisation"},
    "avrr.eligibility.DueDiligenceRejected": {"reasons"},
    "avrr.eligibility.AssessmentClosed": {"reason"},
    # The matching cases' and people's ids: not every reader of the timeline may see them.
    "avrr.intake.PossibleDuplicateFlagged": {"matches"},
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
    for name in _LEFT_OUT.get(event.event_type, ()):
        facts.pop(name, None)
    if event.event_type == "avrr.eligibility.DueDiligenceRejected":
        facts["reason_count"] = len(data.get("reasons", []))
    if event.event_type == "avrr.intake.PossibleDuplicateFlagged":
        facts["match_count"] = len(data.get("matches", []))
    if event.event_type == "avrr.intake.ReferralReceived":
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


_SUMMARIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "ReferralReceived": lambda f: (
        f"Referral received from {f['source']} at office {f['office']}: household of "
        f"{_household(f)}, nationality {f['nationality']}, in {f['host_country']}"
    ),
    "PossibleDuplicateFlagged": lambda f: (
        f"Possible duplicate flagged: {f.get('match_count', 0) + f.get('elsewhere', 0)} "
        "match(es) with other cases"
        + (f" ({f['elsewhere']} at other offices)" if f.get("elsewhere") else "")
    ),
    "DuplicateReferredElsewhere": lambda f: (
        f"Person {f['person_id']} possibly referred again at another office"
    ),
    "NeedsDeclared": lambda f: f"Needs declared for person {f['person_id']} (medical only)",
    "CounsellingRecorded": lambda f: (
        f"Counselling session held on {f['held_on']} in {f['language']}: "
        f"{f['outcome'].replace('_', ' ')}"
    ),
    "ConsentGiven": lambda f: (
        f"Consent given for {f['purpose'].replace('_', ' ')} (person {f['person_id']}, "
        f"by {f['given_by'].replace('_', ' ')})"
    ),
    "ConsentWithdrawn": lambda f: (
        f"Consent withdrawn for {f['purpose'].replace('_', ' ')} "
        f"({'person ' + f['person_id'] if f.get('person_id') else 'whole household'})"
        + (f": {f['reason'].replace('_', ' ')}" if f.get("reason") else "")
    ),
    "ReturnRequested": lambda f: (
        f"Return requested to {f['destination_country']} for {_household(f)}"
        + (f" (programme hint {f['programme_hint']})" if f.get("programme_hint") else "")
    ),
    "ReturnSuspended": lambda f: (
        "Return suspended: consent withdrawn for "
        + ", ".join(p.replace("_", " ") for p in f["missing_consents"])
    ),
    "ReturnResumed": lambda _f: "Return resumed: every consent it needs given again",
    "AssessmentReopened": lambda _f: "Eligibility assessment reopened",
    "MovementReinstated": lambda _f: "Movement reinstated (a new ticket is needed)",
    "CaseWithdrawn": lambda f: f"Case withdrawn: {f['reason'].replace('_', ' ')}",
    "CaseClosed": lambda f: f"Case closed: {f['reason'].replace('_', ' ')}",
    "PersonalDataErased": lambda f: (
        f"Personal data erased for {len(f['person_ids'])} people (keys deleted"
        + ("; retention period over)" if f.get("reason") == "retention" else ")")
    ),
    "EligibilityDecided": lambda f: (
        f"Eligible for programme {f.get('programme_id') or '-'}"
        if f["eligible"]
        else "Not eligible for any programme"
    ),
    "VulnerabilityAssessed": lambda f: (
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
    "BestInterestsDeterminationRecorded": lambda f: (
        f"Best-interests determination for person {f['person_id']}: "
        f"{f['outcome'].replace('_', ' ')}"
    ),
    "DueDiligenceChecked": lambda _f: "Due diligence checklist submitted",
    "DueDiligenceCleared": lambda f: (
        f"Due diligence cleared: programme {f['programme_id']}, "
        f"{f['host_country']} -> {f['destination_country']} by {f['transport_mode']}"
    ),
    "DueDiligenceRejected": lambda f: (
        f"Due diligence rejected ({f.get('reason_count', 0)} reason(s))"
    ),
    "AssessmentClosed": lambda _f: "Eligibility assessment closed",
    "MovementOpened": lambda f: (
        f"Movement opened to {f['destination_country']} by {f['transport_mode']}"
    ),
    "TravelDocumentObtained": lambda f: (
        f"Travel document obtained ({f['document_type'].replace('_', ' ')}) "
        f"for person {f['person_id']} on {f['obtained_on']}"
    ),
    "FitForTravelConfirmed": lambda f: (
        f"Fitness to travel for person {f['person_id']}: {f['outcome'].replace('_', ' ')}"
    ),
    "TicketIssued": lambda f: (
        f"Ticket issued: {f['mode']} with {f['carrier']}, departing {f['departure_date']}"
    ),
    "DepartureConfirmed": lambda _f: "Departure confirmed",
    "ArrivalConfirmed": lambda f: (
        f"Arrival confirmed in {f['destination_country']} by the "
        f"{f['confirmed_by'].replace('_', ' ')}"
    ),
    "MovementHeld": lambda _f: "Movement held",
    "MovementReleased": lambda _f: "Movement released",
    "MovementRebooked": lambda f: f"Movement rebooked for {f['new_departure_date']}",
    "MovementCancelled": lambda _f: "Movement cancelled",
    "ReintegrationEligibilityDecided": lambda f: (
        f"Reintegration assistance {f['decision'].replace('_', ' ')} "
        f"(programme {f['programme_id']})"
    ),
    "ReintegrationPlanAgreed": _plan,
    "AssistanceDisbursed": lambda f: (
        f"Assistance disbursed: {_money(f['amount'], f['currency'])} "
        f"{f['kind'].replace('_', '-')} by {f['method'].replace('_', ' ')}"
    ),
    "ServiceReferralMade": lambda f: f"Referred to a local service ({f['service']})",
    "MonitoringVisitRecorded": lambda f: (
        f"Monitoring visit (month {f['due_month']}) on {f['visited_on']}"
    ),
    "SustainabilityScored": lambda f: (
        f"Sustainability scored ({f['stage']}): {f['composite']:.2f}, "
        f"{'sustainable' if f['sustainable'] else 'not yet sustainable'}"
    ),
    "ReintegrationCompleted": lambda f: f"Reintegration completed on {f['completed_on']}",
    "ReintegrationStopped": lambda f: f"Reintegration stopped: {f['reason']}",
    "WithdrawalConflictDetected": lambda f: (
        f"Withdrawal conflict: {f['command']} recorded at {f['recorded_at']}, after the "
        f"withdrawal at {f['withdrawn_at']} (event {f['conflicting_event_id']}); "
        "a supervisor must resolve it"
    ),
    "WithdrawalConflictResolved": lambda f: (
        f"Withdrawal conflict resolved: {f['resolution'].replace('_', ' ')} "
        f"(event {f['conflicting_event_id']})"
    ),
}


def summary_of(event_type: str, facts: dict[str, Any]) -> str:
    """One line for a person reading the timeline; built from non-personal facts only."""
    short = event_type.rsplit(".", 1)[-1]
    describe = _SUMMARIES.get(short)
    return describe(facts)[:500] if describe else short


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

PHASES = (
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
)
# The phase an event moves a case to; the case keeps the furthest one reached
# (events of different services may arrive in any order), except that
# withdrawal and closure end it.
_ADVANCES = {
    "ReferralReceived": "referred",
    "CounsellingRecorded": "counselled",
    "ReturnRequested": "return_requested",
    "DueDiligenceCleared": "cleared",
    "TicketIssued": "ticketed",
    "DepartureConfirmed": "departed",
    "ArrivalConfirmed": "arrived",
    "ReintegrationPlanAgreed": "reintegrating",
    "AssistanceDisbursed": "reintegrating",
    "ReintegrationCompleted": "completed",
}
_ENDS = {"CaseWithdrawn": "withdrawn", "CaseClosed": "closed"}
# A suspended return (a consent it needs withdrawn) stays suspended, whatever else
# arrives, until ReturnResumed; it resumes at the furthest phase the ticket-less
# return still holds (a reinstated movement needs a new ticket).
SUSPENDED = "suspended"
_RANK = {p: i for i, p in enumerate(PHASES)}


class CaseState(BaseModel):
    """What the platform knew about a case at one moment: phase and non-personal facts."""

    phase: str | None = None
    office: str | None = None
    nationality: str | None = None
    host_country: str | None = None
    destination_country: str | None = None
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
    def vulnerability_categories(self) -> list[str]:
        return sorted({c for cats in self.vulnerabilities.values() for c in cats})

    def fold(self, event_type: str, facts: dict[str, Any], at: datetime) -> None:
        """Apply one timeline entry (pure: depends on the entry's type and facts only)."""
        short = event_type.rsplit(".", 1)[-1]
        self.events += 1
        self.last_event_at = _iso(at)
        f = facts
        match short:
            case "ReferralReceived":
                self.office, self.nationality = f["office"], f["nationality"]
                self.host_country = f["host_country"]
                self.household = [_member(p) for p in f["household"]]
            case "CounsellingRecorded":
                self.counselling_sessions += 1
            case "ConsentGiven":
                self.consents_given += 1
            case "ReturnRequested":
                self.destination_country = f["destination_country"]
                self.household = [_member(p) for p in f["household"]]
            case "ReturnSuspended":
                if self.phase not in _ENDS.values():
                    self.phase = SUSPENDED
            case "ReturnResumed":
                if self.phase == SUSPENDED:
                    self.phase = self._resumed_phase()
            case "CaseWithdrawn":
                self.withdrawal_reason = f["reason"]
            case "CaseClosed":
                self.closure_reason = f["reason"]
            case "PersonalDataErased":
                self.personal_data_erased = True
            case "EligibilityDecided":
                self.eligible = f["eligible"]
                self.programme_id = f.get("programme_id") or self.programme_id
                if f["eligible"]:
                    self._advance("eligible")
            case "VulnerabilityAssessed":
                who = f.get("person_id") or "household"
                self.vulnerabilities[who] = sorted({c["category"] for c in f["categories"]})
            case "DueDiligenceCleared":
                self.due_diligence = "cleared"
                self.programme_id = f["programme_id"]
                self.destination_country = f["destination_country"]
                self.transport_mode = f["transport_mode"]
                self.household = [_member(p) for p in f["household"]]
            case "DueDiligenceRejected":
                self.due_diligence = "rejected"
            case "MovementOpened":
                self.movement_status = "open"
            case "TravelDocumentObtained":
                if f["person_id"] not in self.documents_obtained:
                    self.documents_obtained.append(f["person_id"])
            case "FitForTravelConfirmed":
                self.fitness[f["person_id"]] = f["outcome"]
            case "TicketIssued":
                self.departure_date = f["departure_date"]
                self.movement_status = "ticketed"
            case "MovementRebooked":
                self.departure_date = f["new_departure_date"]
            case "MovementHeld":
                self.movement_status = "held"
            case "MovementReleased":
                self.movement_status = "open" if self.departure_date is None else "ticketed"
            case "MovementCancelled":
                self.movement_status = "cancelled"
            case "MovementReinstated":
                self.movement_status = "open"
                self.departure_date = None
            case "DepartureConfirmed":
                self.departed_at = f["departed_at"]
                self.movement_status = "departed"
            case "ArrivalConfirmed":
                self.arrived_at = f["arrived_at"]
                self.programme_id = f["programme_id"]
                self.destination_country = f["destination_country"]
                self.movement_status = "arrived"
            case "ReintegrationEligibilityDecided":
                self.reintegration_decision = f["decision"]
            case "ReintegrationPlanAgreed":
                self.plan_components = len(f["components"])
            case "AssistanceDisbursed":
                per_kind = self.disbursed.setdefault(f["currency"], {})
                total = Decimal(per_kind.get(f["kind"], "0")) + Decimal(str(f["amount"]))
                per_kind[f["kind"]] = f"{total:.2f}"
            case "MonitoringVisitRecorded":
                self.monitoring_visits += 1
            case "SustainabilityScored":
                self.sustainability = f["composite"]
            case "ReintegrationCompleted":
                self.completed_on = f["completed_on"]
        if short in _ENDS:
            self.phase = _ENDS[short]
        elif short in _ADVANCES:
            self._advance(_ADVANCES[short])

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
    total = int(
        await conn.scalar(
            select(func.count()).select_from(timeline).where(timeline.c.case_id == case_id)
        )
        or 0
    )
    rows = await conn.execute(_ordered(case_id).limit(limit).offset(offset))
    return list(rows.all()), total


async def state_as_of(conn: AsyncConnection, case_id: str, as_of: datetime) -> CaseState | None:
    """The case as it was at ``as_of`` (None when nothing had happened to it yet)."""
    until = timeline.c.occurred_at <= utc(as_of)
    rows = (await conn.execute(_ordered(case_id).where(until))).all()
    return fold(rows) if rows else None
