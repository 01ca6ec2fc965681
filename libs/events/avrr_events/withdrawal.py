"""Withdrawal conflicts: a command that landed inside the window before a service learnt of it.

A withdrawal (intake's ``CaseWithdrawn``, or ``ConsentWithdrawn`` of a purpose
the return depends on) reaches travel and reintegration through their
consumers. From then on they refuse every command it forbids; before then (the
*window*, measured by ``make bench``) a departure, a ticket or a disbursement
can still be accepted. Such a command is never silent (ARCHITECTURE.md 9):
when the service learns of the withdrawal it looks in the case's own stream
for those commands recorded after the withdrawal's own time (``withdrawn_at``,
set by intake when it recorded the withdrawal) and records one
``WithdrawalConflictDetected`` per command in that stream. The conflict stays
on the supervisors' list (``GET /<service>/withdrawal-conflicts``) and in the
case timeline until a supervisor records a ``WithdrawalConflictResolved``
with a coded resolution and a reason.

"Recorded" is the time of the command's event in the store (the CloudEvents
``time`` the service stamped when it appended it), not a time the client
supplied (``departed_at`` may be back-dated). Both clocks are servers' clocks;
a skew between intake's and the service's host shifts the border by as much.

What is the same in every service lives here: the event fields (each service
declares its own ``avrr.<service>.WithdrawalConflict*`` types on these
bases), the resolution codes, the scan of a stream, the aggregate-side book
of conflicts, and the supervisors' list (a table per service, one projection).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field
from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events.adapters import postgres
from avrr_events.aggregate import Aggregate
from avrr_events.envelope import Envelope
from avrr_events.notices.catalogs import N_
from avrr_events.personal import ERASED, ERASED_MARKER, Encrypted, PersonalDataCipher
from avrr_events.problems import DomainRuleViolation
from avrr_events.projections import Projection, insert_from_event
from avrr_events.refusals import worded
from avrr_events.registry import DomainEvent
from avrr_events.store import EventStore, RecordedEvent
from avrr_events.tables import Json
from avrr_events.transfers import CaseTransferred, follow, office_now

if TYPE_CHECKING:
    from avrr_events.adapters.database import Database
    from avrr_events.notices.wording import Wording

ConflictCommand = Literal["departure", "ticket", "disbursement"]
WithdrawalKind = Literal["case_withdrawn", "consent_withdrawn"]
Resolution = Literal[
    "person_was_withdrawn_returned_by_other_means",
    "departure_undone",
    "ticket_cancelled",
    "disbursement_recovered",
    "person_consented_again",
]

# Which resolutions fit which command: a supervisor cannot "undo a departure" of a ticket.
RESOLUTIONS: Mapping[str, frozenset[str]] = {
    "departure": frozenset(
        {
            "person_was_withdrawn_returned_by_other_means",
            "departure_undone",
            "person_consented_again",
        }
    ),
    "ticket": frozenset({"ticket_cancelled", "person_consented_again"}),
    "disbursement": frozenset({"disbursement_recovered", "person_consented_again"}),
}

ConflictId = str
"""A conflict is named by the id of the event that conflicts (unique, stable across replays)."""


class WithdrawalConflictDetectedBase(DomainEvent):
    """A command the withdrawal forbids was recorded after the withdrawal's time.

    Subclassed by each service with its own ``event_type``.
    """

    case_id: str
    command: ConflictCommand
    conflicting_event_id: str = Field(max_length=100)
    conflicting_event_type: str = Field(max_length=200)
    recorded_at: datetime
    withdrawal: WithdrawalKind
    withdrawal_event_id: str = Field(max_length=100)
    withdrawn_at: datetime
    office: str | None = Field(default=None, max_length=100)
    detected_at: datetime


class WithdrawalConflictResolvedBase(DomainEvent):
    """A supervisor resolved a conflict; ``reason`` may describe the person: encrypted."""

    case_id: str
    conflicting_event_id: str = Field(max_length=100)
    resolution: Resolution
    reason: Encrypted
    resolved_by: str = Field(max_length=200)
    resolved_at: datetime


@dataclass(frozen=True)
class Withdrawal:
    """What a service learnt: which withdrawal, its event, and when intake recorded it."""

    kind: WithdrawalKind
    event_id: str
    withdrawn_at: datetime


@dataclass(frozen=True)
class Candidate:
    """A command's event recorded after a withdrawal's time."""

    command: ConflictCommand
    event_id: str
    event_type: str
    recorded_at: datetime


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one (SQLite hands timestamps back without zone) is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def recorded_after(
    recorded: Sequence[RecordedEvent],
    commands: Mapping[str, ConflictCommand],
    withdrawal: Withdrawal,
) -> list[Candidate]:
    """The events of ``commands`` (event type -> command) in ``recorded`` stamped after it."""
    since = utc(withdrawal.withdrawn_at)
    found = []
    for r in recorded:
        command = commands.get(r.envelope.type)
        if command is not None and utc(r.envelope.time) > since:
            found.append(Candidate(command, r.envelope.id, r.envelope.type, utc(r.envelope.time)))
    return found


async def commands_after(
    store: EventStore,
    stream_id: str,
    commands: Mapping[str, ConflictCommand],
    withdrawal: Withdrawal,
    conn: AsyncConnection,
) -> list[Candidate]:
    """Scan one stream (in the caller's transaction) for commands recorded after ``withdrawal``.

    Read from the store, not a read model: the reaction and a racing command
    append to the same stream, so whichever commits second sees the other.
    """
    return recorded_after(await store.load(stream_id, conn=conn), commands, withdrawal)


async def serialise_case(conn: AsyncConnection, service: str, case_id: str) -> None:
    """Hold the case's withdrawal lock until the transaction ends (PostgreSQL).

    For a withdrawal a service learns without appending to the case's stream
    (a read-model row the commands check): the reaction and every command
    that checks the row take this lock first, so a command either sees the
    withdrawal or commits before the reaction looks for conflicts. Where the
    reaction appends to the stream, optimistic concurrency does this already;
    on SQLite every write transaction holds the database's one write lock.
    """
    await postgres.lock_until_commit(conn, f"avrr.withdrawal:{service}:{case_id}")


class ResolutionRefused(ValueError):
    """A resolution the conflict book refuses (no such conflict, already resolved, a code
    that does not fit the command), with its sentence for the reader (``wording``)."""

    def __init__(self, wording: Wording) -> None:
        super().__init__(wording.english)
        self.wording = wording


@dataclass
class ConflictBook:
    """An aggregate's conflicts, folded from its events (detected, and which are resolved)."""

    detected: dict[ConflictId, WithdrawalConflictDetectedBase] = field(default_factory=dict)
    resolved: set[ConflictId] = field(default_factory=set)

    def when(self, event: DomainEvent) -> None:
        if isinstance(event, WithdrawalConflictDetectedBase):
            self.detected[event.conflicting_event_id] = event
        elif isinstance(event, WithdrawalConflictResolvedBase):
            self.resolved.add(event.conflicting_event_id)

    def new(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        """The candidates not flagged yet (a second withdrawal event flags nothing twice)."""
        return [c for c in candidates if c.event_id not in self.detected]

    @property
    def open(self) -> list[ConflictId]:
        return [c for c in self.detected if c not in self.resolved]

    def check_resolution(self, conflict_id: ConflictId, resolution: str) -> None:
        """Raise ResolutionRefused: no such conflict, already resolved, or a wrong code."""
        detected = self.detected.get(conflict_id)
        if detected is None:
            raise ResolutionRefused(
                worded(N_("no withdrawal conflict %(conflict)s on this case"), conflict=conflict_id)
            )
        if conflict_id in self.resolved:
            raise ResolutionRefused(
                worded(
                    N_("the withdrawal conflict %(conflict)s is already resolved"),
                    conflict=conflict_id,
                )
            )
        fitting = RESOLUTIONS[detected.command]
        if resolution not in fitting:
            raise ResolutionRefused(
                worded(
                    N_(
                        "%(resolution)s does not resolve a conflicting %(command)s "
                        "(one of: %(codes)s)"
                    ),
                    resolution=repr(resolution),
                    command=detected.command,
                    codes=", ".join(sorted(fitting)),
                )
            )


class AggregateWithConflicts(Aggregate):
    """An aggregate whose stream records withdrawal conflicts (travel's movement,
    reintegration's case): flagging and resolving them is the same in every service.

    A subclass names its own event types (``conflict_detected``, ``conflict_resolved``),
    folds them into ``self.conflicts`` in its ``when``, and says which office lists them.
    """

    conflict_detected: ClassVar[type[WithdrawalConflictDetectedBase]]
    conflict_resolved: ClassVar[type[WithdrawalConflictResolvedBase]]

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.conflicts = ConflictBook()

    @property
    def conflict_office(self) -> str | None:
        """The office whose supervisors list this aggregate's conflicts."""
        raise NotImplementedError

    def conflict_refusal(self, detail: str) -> DomainRuleViolation:
        """The 422 refusing a resolution (a service answers with its own rule violation)."""
        return DomainRuleViolation(detail)

    def flag_withdrawal_conflicts(
        self, found: Sequence[Candidate], withdrawal: Withdrawal, at: datetime
    ) -> int:
        """Record a conflict for each command in ``found`` (recorded after ``withdrawal``).

        Returns how many were new; one already flagged (a second withdrawal
        event, a redelivery) is not flagged again.
        """
        new = self.conflicts.new(found)
        for c in new:
            self.record(
                self.conflict_detected(
                    case_id=self.id,
                    command=c.command,
                    conflicting_event_id=c.event_id,
                    conflicting_event_type=c.event_type,
                    recorded_at=c.recorded_at,
                    withdrawal=withdrawal.kind,
                    withdrawal_event_id=withdrawal.event_id,
                    withdrawn_at=withdrawal.withdrawn_at,
                    office=self.conflict_office,
                    detected_at=at,
                )
            )
        return len(new)

    def resolve_conflict(
        self,
        conflict_id: ConflictId,
        resolution: Resolution,
        reason: Encrypted,
        resolved_by: str,
        at: datetime,
    ) -> None:
        """A supervisor's resolution of an open conflict; the code must fit the command."""
        try:
            self.conflicts.check_resolution(conflict_id, resolution)
        except ResolutionRefused as exc:
            refusal = self.conflict_refusal(str(exc))
            refusal.wording = exc.wording  # the problem handler words it for the reader
            raise refusal from None
        self.record(
            self.conflict_resolved(
                case_id=self.id,
                conflicting_event_id=conflict_id,
                resolution=resolution,
                reason=reason,
                resolved_by=resolved_by,
                resolved_at=at,
            )
        )


# ------------------------------------------------------ the supervisors' list --


def conflicts_table(metadata: MetaData, name: str) -> Table:
    """The list of one service's withdrawal conflicts (no personal data: the reason stays
    ciphertext)."""
    table = Table(
        name,
        metadata,
        Column("conflict_id", String(100), primary_key=True),
        Column("case_id", String(100), nullable=False),
        Column("office", String(100), nullable=True),
        Column("command", String(20), nullable=False),
        Column("conflicting_event_type", String(200), nullable=False),
        Column("recorded_at", DateTime(timezone=True), nullable=False),
        Column("withdrawal", String(30), nullable=False),
        Column("withdrawal_event_id", String(100), nullable=False),
        Column("withdrawn_at", DateTime(timezone=True), nullable=False),
        Column("detected_at", DateTime(timezone=True), nullable=False),
        Column("resolution", String(60), nullable=True),
        Column("reason", Json, nullable=True),
        Column("resolved_by", String(200), nullable=True),
        Column("resolved_at", DateTime(timezone=True), nullable=True),
    )
    Index(f"{name}_office_idx", table.c.office, table.c.resolved_at, table.c.detected_at)
    Index(f"{name}_case_idx", table.c.case_id)
    return table


class ConflictList(Projection):
    """Feeds a service's conflicts table; subclasses name it and the event types.

    A list is its office's: once intake's transfer of the case was accepted
    (avrr_events.transfers), the case's conflicts are the receiving office's, those
    listed already (the subclass names ``avrr.intake.TransferAccepted`` among its
    event types) and those detected afterwards, whose event still names the office
    the aggregate was opened with (``transferred``: the service's
    ``case_transfers_table``, which the projection owning it writes).
    """

    table: ClassVar[Table]
    transferred: ClassVar[Table | None] = None

    async def apply(self, conn: AsyncConnection, event: DomainEvent, envelope: Envelope) -> None:
        t = self.table
        if isinstance(event, CaseTransferred):
            await follow(conn, event, t)
        elif isinstance(event, WithdrawalConflictDetectedBase):
            exists = await conn.scalar(
                select(t.c.conflict_id).where(t.c.conflict_id == event.conflicting_event_id)
            )
            if exists is None:
                office = event.office
                if self.transferred is not None:
                    office = await office_now(conn, self.transferred, event.case_id, office)
                await insert_from_event(
                    conn, t, event, conflict_id=event.conflicting_event_id, office=office
                )
        elif isinstance(event, WithdrawalConflictResolvedBase):
            await conn.execute(
                update(t)
                .where(t.c.conflict_id == event.conflicting_event_id)
                .values(
                    resolution=event.resolution,
                    reason=event.reason.model_dump(mode="json"),
                    resolved_by=event.resolved_by,
                    resolved_at=event.resolved_at,
                )
            )


ListStatus = Literal["open", "resolved", "all"]


async def listed(
    conn: AsyncConnection, table: Table, office: str, status: ListStatus
) -> list[dict[str, Any]]:
    """The conflicts of one office, oldest first; ``reason`` still encrypted."""
    t = table
    query = select(t).where(t.c.office == office)
    if status == "open":
        query = query.where(t.c.resolved_at.is_(None))
    elif status == "resolved":
        query = query.where(t.c.resolved_at.is_not(None))
    rows = await conn.execute(query.order_by(t.c.detected_at, t.c.conflict_id))
    out = []
    for row in rows.mappings():
        item = dict(row)
        for name in ("recorded_at", "withdrawn_at", "detected_at", "resolved_at"):
            if item[name] is not None:
                item[name] = utc(item[name])
        out.append(item)
    return out


async def presented(
    rows: Sequence[dict[str, Any]], cipher: PersonalDataCipher
) -> list[dict[str, Any]]:
    """The rows as the supervisors' list serves them: the reason decrypted (``erased`` once
    the person's key is gone)."""
    out = []
    for row in rows:
        item = dict(row)
        stored = item.pop("reason", None)
        reason: Any = None
        if stored is not None:
            value = await cipher.decrypt(Encrypted.model_validate(stored))
            reason = ERASED_MARKER if value is ERASED else value
        item["reason"] = reason
        out.append(item)
    return out


async def supervisors_list(
    db: Database, cipher: PersonalDataCipher, table: Table, office: str, status: ListStatus
) -> dict[str, Any]:
    """The supervisors' list of one office as a service's API serves it (``GET
    /withdrawal-conflicts``): the office, the status asked for, and the conflicts, oldest
    first, with their reasons decrypted."""
    async with db.autocommit() as conn:
        rows = await listed(conn, table, office, status)
    return {"office": office, "status": status, "conflicts": await presented(rows, cipher)}
