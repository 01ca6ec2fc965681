"""Aggregates and the repository that loads and saves them as event streams.

An aggregate's state changes only by applying events (``when``); a decision
checks the state and ``record``s new events. Saving appends the recorded
events at the version the aggregate was loaded at, so a concurrent decision on
the same aggregate fails with ConcurrencyError instead of overwriting.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import ClassVar, Generic, NamedTuple, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import tables, tracing
from avrr_events.adapters.prepared import PreparedRead
from avrr_events.commands import Cause, CommandContext, check_if_match
from avrr_events.envelope import Envelope, reaction_event_id
from avrr_events.registry import DomainEvent, EventRegistry, dataschema_uri
from avrr_events.store import EventStore, RecordedEvent


class Aggregate:
    """Base of every aggregate: id, version, the events recorded since load."""

    stream_type: ClassVar[str]

    def __init__(self, aggregate_id: str) -> None:
        self.id = aggregate_id
        self.version = 0
        self.pending: list[DomainEvent] = []
        # The trace context of the stream's latest event: a command continues the case's trace.
        self.trace_context: str | None = None

    @property
    def stream_id(self) -> str:
        return f"{self.stream_type}-{self.id}"

    @property
    def subject(self) -> str:
        """The case id the events are keyed by (override when the aggregate id is not it)."""
        return self.id

    @property
    def exists(self) -> bool:
        return self.version > 0 or bool(self.pending)

    def when(self, event: DomainEvent) -> None:
        """Fold one event into the state (no checks: events are facts)."""
        raise NotImplementedError

    def record(self, event: DomainEvent) -> None:
        self.when(event)
        self.pending.append(event)


A = TypeVar("A", bound=Aggregate)

_e = tables.events.c
# What ``Repository.events_after`` asks: a range of the (stream_id, version) unique index,
# only the columns a decode needs (none converted after the driver: a prepared read).
_EVENTS_AFTER = PreparedRead(
    select(_e.type, _e.dataversion, _e.data)
    .where(_e.stream_id == bindparam("stream_id"), _e.version > bindparam("version"))
    .order_by(_e.version)
)


class Executed(NamedTuple, Generic[A]):
    """A command's aggregate after its decision was appended, and the event types written."""

    aggregate: A
    events: list[str]


@dataclasses.dataclass(eq=False)
class Repository(Generic[A]):
    """Loads aggregates of one type from the event store and appends their new events."""

    store: EventStore
    registry: EventRegistry
    factory: Callable[[str], A]
    _: dataclasses.KW_ONLY
    source: str

    async def load(self, aggregate_id: str, *, conn: AsyncConnection | None = None) -> A:
        """The aggregate at its latest version (version 0 when it has no events yet)."""
        aggregate = self.factory(aggregate_id)
        return self._folded(aggregate, await self.store.load(aggregate.stream_id, conn=conn))

    async def load_many(self, aggregate_ids: Iterable[str]) -> dict[str, A]:
        """Several aggregates at their latest versions, their streams read in one query: for
        a read that checks a page of them against the write side (not for deciding)."""
        aggregates = {i: self.factory(i) for i in dict.fromkeys(aggregate_ids)}
        streams = await self.store.load_many(a.stream_id for a in aggregates.values())
        return {i: self._folded(a, streams[a.stream_id]) for i, a in aggregates.items()}

    async def events_after(self, aggregate_id: str, version: int) -> list[DomainEvent]:
        """The aggregate's events after ``version``, decoded, in order: what a read model
        at that version (its row's version counts the stream's events) has not applied yet.

        For a read that must answer as the stream stands when a command's answer
        promised it (a withdrawn consent hides what it covered at once), where the
        read model lags behind: instead of loading the whole stream per read, one
        prepared read that, on a read model that has caught up, finds no row.
        """
        stream_id = self.factory(aggregate_id).stream_id
        rows = await _EVENTS_AFTER.rows(self.store.db, stream_id=stream_id, version=version)
        return [self.registry.decode_data(r.type, r.dataversion, r.data) for r in rows]

    def _folded(self, aggregate: A, recorded_events: Iterable[RecordedEvent]) -> A:
        for recorded in recorded_events:
            aggregate.when(self.registry.decode(recorded.envelope))
            aggregate.version = recorded.version
            aggregate.trace_context = recorded.envelope.traceparent or aggregate.trace_context
        return aggregate

    async def execute(
        self,
        aggregate_id: str,
        context: CommandContext,
        decide: Callable[[A], Awaitable[object] | object],
        *,
        guard: Callable[[A], object] | None = None,
        conn: AsyncConnection | None = None,
    ) -> Executed[A]:
        """One command: load, check If-Match, let the aggregate decide, append at that version.

        ``guard`` checks what comes before the caller's version: that the
        aggregate exists (404) and that the caller may act on it (403), so a
        stale If-Match on a case that is not there is still a 404. ``decide``
        records the new events on the aggregate (or refuses with a
        ``problems.Problem``); it may be a coroutine function when the decision
        needs something looked up. The append fails with ConcurrencyError if
        another writer moved the stream on since the load: nothing is lost,
        the caller answers 409 (412 when it sent If-Match).
        """
        aggregate = await self.load(aggregate_id, conn=conn)
        if guard is not None:
            guard(aggregate)
        check_if_match(context.if_match, aggregate.version)
        decided = decide(aggregate)
        if inspect.isawaitable(decided):
            await decided
        envelopes = await self.save(aggregate, context.cause(aggregate.subject), conn=conn)
        return Executed(aggregate, [e.type for e in envelopes])

    def envelope(
        self, aggregate: Aggregate, event: DomainEvent, cause: Cause, version: int | None = None
    ) -> Envelope:
        """The envelope of ``event``; written in reaction to an event at a known ``version``
        of its stream, its id is derived from the stream, version and type
        (``reaction_event_id``)."""
        envelope = Envelope(
            source=self.source,
            type=event.event_type,
            subject=aggregate.subject,
            dataschema=dataschema_uri(event.event_type, event.event_version),
            dataversion=event.event_version,
            correlationid=cause.correlation_id,
            causationid=cause.causation_id,
            traceparent=cause.traceparent,
            data=event.model_dump(mode="json"),
        )
        if cause.causation_id is None or version is None:
            return envelope
        return envelope.model_copy(
            update={"id": reaction_event_id(aggregate.stream_id, version, event.event_type)}
        )

    async def save(
        self, aggregate: A, cause: Cause, *, conn: AsyncConnection | None = None
    ) -> list[Envelope]:
        """Append the recorded events; raise ConcurrencyError if the stream moved on.

        A command from outside (no causing event) on an existing stream runs in the
        case's trace (``tracing.command``); a reaction is already in its event's.
        """
        if not aggregate.pending:
            return []
        if cause.causation_id is not None:
            return await self._append(aggregate, cause, conn)
        with tracing.command(
            aggregate.trace_context,
            f"{aggregate.stream_type} command",
            {
                "cloudevents.event_source": self.source,
                "cloudevents.event_subject": aggregate.subject,
                "avrr.event_types": [e.event_type for e in aggregate.pending],
            },
        ) as traceparent:
            if traceparent is not None:
                cause = dataclasses.replace(cause, traceparent=traceparent)
            return await self._append(aggregate, cause, conn)

    async def _append(
        self, aggregate: A, cause: Cause, conn: AsyncConnection | None
    ) -> list[Envelope]:
        envelopes = [
            self.envelope(aggregate, e, cause, aggregate.version + n)
            for n, e in enumerate(aggregate.pending, start=1)
        ]
        aggregate.version = await self.store.append(
            aggregate.stream_id, aggregate.version, envelopes, conn=conn
        )
        aggregate.pending = []
        return envelopes
