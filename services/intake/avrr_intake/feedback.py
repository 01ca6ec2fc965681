"""Feedback and complaints: what a migrant says about the assistance, and who may read it.

IOM's AVRR framework asks for feedback "in an open and confidential manner" (principle 7).
One stream per feedback item (``feedback-<id>``), never the case's: a complaint is not a
step of the case, it must not reach the case's timeline, its trace or its readers.

- Recorded (``FeedbackRecorded``) by staff who met the person (channel ``caseworker``,
  linked to a case and a person of it), by staff without a case or a name (``anonymous``),
  or by a partner organisation (``partner``, never linked to a case: a partner sees none).
  The words are ciphertext: under the person's key when linked (shredded with the person
  at erasure), else under a key of the item itself. The category is coded (``Category``).
- Routed by category: ``SENSITIVE`` complaints (sexual exploitation and abuse, staff
  misconduct) go to the designated focal point (role ``focal_point``) and only to it; a
  focal point never handles a complaint about one of its own offices (the office
  concerned, or an office the linked case belongs to): that office's people, whatever
  their roles, get 404 for it. Headquarters focal points (``*``) handle every one. Other
  feedback goes to the casework staff of the office concerned (``may_handle``).
- Acknowledged (``FeedbackAcknowledged``) and resolved with a coded outcome
  (``FeedbackResolved``) before their deadlines (``FeedbackDeadlines``, fixed in the
  recorded event when it is recorded, so a later setting does not move a promise made);
  an item past one is overdue. Races are the stream's: an acknowledgement and a
  resolution at the same moment append at the version they read, one gets 409 (412 with
  If-Match).

The events are on intake's domain topic, which only the platform's services read (never a
government subscriber: public.py); no other service takes them in, and they carry ids,
codes, dates and ciphertext only. ``FeedbackItems`` keeps one row per item (no text) for
the lists, the overdue list and the reports.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field
from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, update
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import DomainEvent, Encrypted, Envelope, Projection
from avrr_events.aggregate import Aggregate
from avrr_events.commands import Principal
from avrr_events.env_settings import EnvironmentSettings, from_env
from avrr_events.problems import Conflict, NotFound
from avrr_events.projections import insert_from_event
from avrr_events.web.authorization import Role, may_see, sees_every_office
from avrr_intake.notices import N_, worded
from avrr_intake.referral import CaseId, OfficeId

# What the feedback is about (coded: counted and routed without reading anyone's words).
Category = Literal[
    "appreciation",
    "information_request",
    "service_quality",
    "delay",
    "travel_arrangements",
    "reintegration_assistance",
    "discrimination",
    "sexual_exploitation_abuse",
    "staff_misconduct",
    "other",
]
# Complaints only the designated focal point receives, never the office concerned.
SENSITIVE: frozenset[str] = frozenset({"sexual_exploitation_abuse", "staff_misconduct"})
Channel = Literal["caseworker", "partner", "anonymous"]
RoutedTo = Literal["office", "focal_point"]
Outcome = Literal[
    "addressed",
    "referred_to_service",
    "not_substantiated",
    "withdrawn_by_complainant",
    "no_action_possible",
]
Status = Literal["recorded", "acknowledged", "resolved"]
# Who handles feedback routed to an office: its casework staff.
OFFICE_HANDLERS = (Role.CASEWORKER, Role.SUPERVISOR)
FEEDBACK_ID_PATTERN = r"^[0-9a-f-]{36}$"


class FeedbackDeadlines(EnvironmentSettings):
    """Days to acknowledge and to resolve: faster for the complaints of ``SENSITIVE``
    categories (the IASC's PSEA guidance acknowledges at once and protects first)."""

    acknowledge_days: int = from_env(
        "acknowledge_days", "AVRR_FEEDBACK_ACKNOWLEDGE_DAYS", 7, "days to acknowledge", ge=1
    )
    resolve_days: int = from_env(
        "resolve_days", "AVRR_FEEDBACK_RESOLVE_DAYS", 30, "days to resolve", ge=1
    )
    sensitive_acknowledge_days: int = from_env(
        "sensitive_acknowledge_days",
        "AVRR_FEEDBACK_SENSITIVE_ACKNOWLEDGE_DAYS",
        1,
        "days to acknowledge a complaint of sexual exploitation and abuse or misconduct",
        ge=1,
    )
    sensitive_resolve_days: int = from_env(
        "sensitive_resolve_days",
        "AVRR_FEEDBACK_SENSITIVE_RESOLVE_DAYS",
        30,
        "days to resolve a complaint of sexual exploitation and abuse or misconduct",
        ge=1,
    )

    def due(self, category: str, recorded_at: datetime) -> tuple[datetime, datetime]:
        """(acknowledge by, resolve by) of an item of ``category`` recorded at ``recorded_at``."""
        if category in SENSITIVE:
            days = (self.sensitive_acknowledge_days, self.sensitive_resolve_days)
        else:
            days = (self.acknowledge_days, self.resolve_days)
        return recorded_at + timedelta(days=days[0]), recorded_at + timedelta(days=days[1])


def routed_to(category: str) -> RoutedTo:
    return "focal_point" if category in SENSITIVE else "office"


# ------------------------------------------------------------------ events --


class FeedbackRecorded(DomainEvent):
    """A migrant's feedback or complaint about the assistance, as staff or a partner took it."""

    event_type = "avrr.intake.FeedbackRecorded"

    feedback_id: str = Field(max_length=100)
    category: Category
    channel: Channel
    office: OfficeId = Field(description="the office whose assistance it is about")
    routed_to: RoutedTo
    linked_case: CaseId | None = Field(
        default=None, description="the person's case (channel caseworker only)"
    )
    person_id: str | None = Field(default=None, max_length=100)
    text: Encrypted = Field(
        description="the person's words: under their key when linked, else the item's"
    )
    recorded_by: str = Field(max_length=200)
    recorded_at: datetime
    acknowledge_by: datetime
    resolve_by: datetime


class FeedbackAcknowledged(DomainEvent):
    """The handler told the person their feedback was received and is being looked at."""

    event_type = "avrr.intake.FeedbackAcknowledged"

    feedback_id: str = Field(max_length=100)
    acknowledged_by: str = Field(max_length=200)
    acknowledged_at: datetime


class FeedbackResolved(DomainEvent):
    """The handler closed the item with its outcome (and, encrypted, what was done)."""

    event_type = "avrr.intake.FeedbackResolved"

    feedback_id: str = Field(max_length=100)
    outcome: Outcome
    note: Encrypted | None = None
    resolved_by: str = Field(max_length=200)
    resolved_at: datetime


FEEDBACK_EVENTS: tuple[type[DomainEvent], ...] = (
    FeedbackRecorded,
    FeedbackAcknowledged,
    FeedbackResolved,
)
FEEDBACK_TYPES: frozenset[str] = frozenset(e.event_type for e in FEEDBACK_EVENTS)


# --------------------------------------------------------------- aggregate --


def no_feedback(feedback_id: str) -> NotFound:
    """404 for an item that does not exist, or that the caller may not handle (the same)."""
    return NotFound(
        wording=worded(N_("feedback %(feedback)s does not exist"), feedback=feedback_id)
    )


class Feedback(Aggregate):
    """One feedback item; its id is the events' subject (not a case's: see the docstring)."""

    stream_type = "feedback"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.recorded: FeedbackRecorded | None = None
        self.acknowledged: FeedbackAcknowledged | None = None
        self.resolved: FeedbackResolved | None = None

    def when(self, event: DomainEvent) -> None:
        match event:
            case FeedbackRecorded():
                self.recorded = event
            case FeedbackAcknowledged():
                self.acknowledged = event
            case FeedbackResolved():
                self.resolved = event

    @property
    def status(self) -> Status:
        if self.resolved is not None:
            return "resolved"
        return "acknowledged" if self.acknowledged is not None else "recorded"

    def must_exist(self) -> None:
        if self.recorded is None:
            raise no_feedback(self.id)

    def record(self, event: DomainEvent) -> None:
        if isinstance(event, FeedbackRecorded) and self.exists:
            raise Conflict(
                wording=worded(N_("feedback %(feedback)s exists already"), feedback=self.id)
            )
        super().record(event)

    def acknowledge(self, by: str, at: datetime) -> None:
        """409 once acknowledged or resolved (a resolution answers the person too)."""
        self.must_exist()
        if self.status != "recorded":
            raise Conflict(
                wording=worded(
                    N_("feedback %(feedback)s is %(status)s already"),
                    feedback=self.id,
                    status=self.status,
                ),
                feedback_status=self.status,
            )
        self.record(
            FeedbackAcknowledged(feedback_id=self.id, acknowledged_by=by, acknowledged_at=at)
        )

    def resolve(self, outcome: Outcome, note: Encrypted | None, by: str, at: datetime) -> None:
        """409 once resolved; resolving an item not yet acknowledged acknowledges it too."""
        self.must_exist()
        if self.resolved is not None:
            raise Conflict(
                wording=worded(N_("feedback %(feedback)s is resolved already"), feedback=self.id),
                feedback_status="resolved",
            )
        self.record(
            FeedbackResolved(
                feedback_id=self.id, outcome=outcome, note=note, resolved_by=by, resolved_at=at
            )
        )


# ------------------------------------------------------------------ access --


def may_handle(
    principal: Principal, routed: str, office: str, case_offices: frozenset[str]
) -> bool:
    """Whether ``principal`` may see and handle an item routed to ``routed`` about ``office``
    (of a case that belongs to ``case_offices``; empty when not linked)."""
    if routed == "focal_point":
        if Role.FOCAL_POINT not in principal.roles:
            return False
        return sees_every_office(principal) or principal.offices.isdisjoint({office, *case_offices})
    return principal.has_any_role(OFFICE_HANDLERS) and may_see(principal, (office,))


# --------------------------------------------------------------- read model --

metadata = MetaData()

feedback_items = Table(
    "intake_feedback",
    metadata,
    Column("feedback_id", String(100), primary_key=True),
    Column("category", String(50), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("office", String(100), nullable=False),
    Column("routed_to", String(20), nullable=False),
    Column("linked_case", String(100), nullable=True),
    Column("status", String(20), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("acknowledge_by", DateTime(timezone=True), nullable=False),
    Column("resolve_by", DateTime(timezone=True), nullable=False),
    Column("acknowledged_at", DateTime(timezone=True), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("outcome", String(50), nullable=True),
)
Index("intake_feedback_office_idx", feedback_items.c.office, feedback_items.c.status)
Index("intake_feedback_routed_idx", feedback_items.c.routed_to, feedback_items.c.status)


class FeedbackItems(Projection):
    """One row per feedback item: codes, offices and dates, never the person's words."""

    name = "intake_feedback"
    metadata = metadata

    async def _recorded(
        self, conn: AsyncConnection, event: FeedbackRecorded, envelope: Envelope
    ) -> None:
        f = feedback_items.c
        await conn.execute(feedback_items.delete().where(f.feedback_id == event.feedback_id))
        await insert_from_event(conn, feedback_items, event, status="recorded")

    async def _acknowledged(
        self, conn: AsyncConnection, event: FeedbackAcknowledged, envelope: Envelope
    ) -> None:
        f = feedback_items.c
        await conn.execute(
            update(feedback_items)
            .where(f.feedback_id == event.feedback_id, f.status == "recorded")
            .values(status="acknowledged", acknowledged_at=event.acknowledged_at)
        )

    async def _resolved(
        self, conn: AsyncConnection, event: FeedbackResolved, envelope: Envelope
    ) -> None:
        f = feedback_items.c
        await conn.execute(
            update(feedback_items)
            .where(f.feedback_id == event.feedback_id)
            .values(status="resolved", resolved_at=event.resolved_at, outcome=event.outcome)
        )

    handlers = {
        FeedbackRecorded: _recorded,
        FeedbackAcknowledged: _acknowledged,
        FeedbackResolved: _resolved,
    }


def overdue(status: str, acknowledge_by: datetime, resolve_by: datetime, now: datetime) -> bool:
    """Past a deadline it has not met: not acknowledged in time, or not resolved in time."""
    if status == "resolved":
        return False
    return (status == "recorded" and now >= acknowledge_by) or now >= resolve_by
