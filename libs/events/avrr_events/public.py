"""Public integration topics: what government systems may read, rendered when it is published.

The domain topics carry personal data only as ciphertext, for the platform's
own services. Government subscribers (the authorities of a country of origin,
a ministry's statistics office) get their own topics, ``<prefix>.public.*``,
with their own registered event types, JSON Schemas and CloudEvents envelope,
and no key to the domain topics: what is on them is decided with care, and a
person's consented fields are sealed under a key the publishing service
releases to the authority while the consent stands and shreds on withdrawal
and erasure (intake's ``authorities``).

Why a queue of its own instead of the event store's outbox: what a public
record may carry depends on the consent at the moment it is published, not
when it was decided. So a service queues a *notice* here (non-personal
internal facts: which case, which movement, which country and day), in the
transaction that decided it, and the public relay
*renders* the record only when it publishes it: it asks the service's
renderer, inside the relay's own transaction, what may be published now. The
renderer reads the current consent (or the current count), so a consent
withdrawn after the notice was queued stops the record, and the relay's
transaction stays open until the broker acknowledged the batch: a service
that serialises its withdrawals against the renderer (an advisory lock, see
intake's ``authorities``) therefore knows that nothing it withdrew is
published after the withdrawal commits.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import logs
from avrr_events.adapters.postgres import OUTBOX_CHANNEL
from avrr_events.adapters.prepared import PreparedRead
from avrr_events.envelope import Envelope
from avrr_events.leadership import Relay
from avrr_events.registry import DomainEvent, dataschema_uri
from avrr_events.tables import Json, Position

log = logging.getLogger(__name__)

metadata = MetaData()

# Notices of public records to render and publish; a row is deleted in the
# transaction that publishes (or drops) it. ``notice`` holds internal ids and
# non-personal facts only: it is never published as it is.
public_outbox = Table(
    "public_outbox",
    metadata,
    Column("id", Position, primary_key=True, autoincrement=True),
    Column("channel", String(200), nullable=False),  # "returns", "cases.HN": after <prefix>.public.
    Column("event_id", String(100), nullable=False),  # the public record's ce_id, stable on retry
    Column("type", String(200), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("notice", Json, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


# The oldest queued notice (None: the queue is empty), through the primary key's index:
# the relay's look before it opens a transaction.
_OLDEST = PreparedRead(select(func.min(public_outbox.c.id).label("id")))


class PublicEvent(DomainEvent):
    """Base of a public record's payload (``avrr.public.<Name>``): a published contract.

    Its fields are exactly what a subscriber receives, with no key to the
    platform's data: nothing personal goes into one without the person's
    consent, and then only sealed under a key the service can shred.
    """


@dataclass(frozen=True)
class Notice:
    """One queued public record, before rendering."""

    id: int
    channel: str
    event_id: str
    type: str
    subject: str
    notice: dict[str, Any]
    created_at: datetime


# What may be published for a notice now: the public envelope, or None (nothing, ever:
# consent withdrawn, data erased, a count too small to publish).
Renderer = Callable[[AsyncConnection, Notice], Awaitable[Envelope | None]]


@dataclass(frozen=True)
class PublicChannel:
    """One public topic as the AsyncAPI document describes it.

    ``address`` follows ``<prefix>.public.``; ``{name}`` parts are AsyncAPI
    channel parameters (one topic per value, e.g. per country).
    """

    id: str
    address: str
    description: str
    key: str
    events: Sequence[type[PublicEvent]]
    parameters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PublicTopics:
    """What a service publishes for government subscribers.

    ``renderer`` is a factory because rendering needs the running service
    (its cipher, its settings); ``static`` are the channels created at
    start-up (parameterised ones are created on first use).
    """

    channels: Sequence[PublicChannel]
    renderer: Callable[[Any], Renderer]  # ServiceRuntime -> Renderer

    @property
    def events(self) -> list[type[PublicEvent]]:
        return [e for c in self.channels for e in c.events]

    @property
    def static(self) -> list[str]:
        return [c.address for c in self.channels if "{" not in c.address]


def public_envelope(
    event: PublicEvent, *, event_id: str, source: str, subject: str, time: datetime
) -> Envelope:
    """The CloudEvent of a public record.

    The correlation id is the record's own subject (a country, a case
    reference), never the internal case id the domain events correlate on;
    no trace context either: internal ids stay internal. Optional fields that
    are None are left out: on a public record, absent means "not shared".
    """
    return Envelope(
        id=event_id,
        source=source,
        type=event.event_type,
        subject=subject,
        time=time,
        dataschema=dataschema_uri(event.event_type, event.event_version),
        dataversion=event.event_version,
        correlationid=subject,
        data=event.model_dump(mode="json", exclude_none=True),
    )


async def queue(
    conn: AsyncConnection,
    channel: str,
    event_type: str,
    subject: str,
    notice: Mapping[str, Any],
) -> None:
    """Queue a public record in the caller's transaction (it is rendered when published)."""
    await conn.execute(
        public_outbox.insert().values(
            channel=channel,
            event_id=str(uuid.uuid4()),
            type=event_type,
            subject=subject,
            notice=dict(notice),
            created_at=datetime.now(UTC),
        )
    )
    if conn.dialect.name == "postgresql":  # wake the relays when this transaction commits
        await conn.execute(text(f"SELECT pg_notify('{OUTBOX_CHANNEL}', '')"))


@dataclass(eq=False)
class PublicRelay(Relay):
    """Renders queued notices and publishes them, one transaction per batch.

    The rows are deleted first (on SQLite that takes the write lock, on
    PostgreSQL the row locks), then each notice is rendered in the same
    transaction, the batch is published and acknowledged, and only then does
    the transaction commit. A failure rolls back: the notices stay queued and
    are rendered afresh on the next attempt (from the state of that moment).
    One replica relays at a time (advisory lock), which keeps the order.
    """

    label: ClassVar[str] = "public relay"

    render: Renderer
    _: KW_ONLY
    topic_of: Callable[[str], str]
    ensure_topics: Callable[[Iterable[str]], Awaitable[None]] | None = None
    name: str = "public-relay"
    batch_size: int = 100
    withheld: int = field(default=0, init=False)
    unrenderable: int = field(default=0, init=False)
    _known_topics: set[str] = field(default_factory=set, init=False, repr=False)

    async def drain_once(self) -> int:
        """Render and publish one batch; return how many notices it took off the queue.

        The relay is woken by every append of its service (a command's, a consumer
        batch's), nearly all of which queue no notice: an empty queue is told by one
        statement on a parked driver connection, not a transaction taking row locks
        (~0.9 ms of CPU per wake before; docs/benchmarks.md, session 10).
        """
        oldest = await _OLDEST.first(self.db)
        if oldest is None or oldest.id is None:
            return 0
        t = public_outbox
        async with self.db.transaction() as conn:
            stmt = select(t).order_by(t.c.id).limit(self.batch_size)
            if self.db.is_postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = (await conn.execute(stmt)).all()
            if not rows:
                return 0
            await conn.execute(delete(t).where(t.c.id.in_([r.id for r in rows])))
            messages = []
            for row in rows:
                notice = Notice(
                    id=row.id,
                    channel=row.channel,
                    event_id=row.event_id,
                    type=row.type,
                    subject=row.subject,
                    notice=dict(row.notice),
                    created_at=(
                        row.created_at
                        if row.created_at.tzinfo is not None
                        else row.created_at.replace(tzinfo=UTC)  # SQLite keeps no zone
                    ),
                )
                try:
                    envelope = await self.render(conn, notice)
                except ValueError as exc:
                    # Data that will never render (a validation error): withhold this
                    # notice rather than block the queue behind it. Database errors are
                    # not caught: they fail the batch, which is retried as a whole.
                    self.unrenderable += 1
                    log.error(
                        "public relay: %s notice %s cannot be rendered, withheld: %s",
                        row.type,
                        row.event_id,
                        logs.error_text(exc),
                    )
                    continue
                if envelope is None:
                    self.withheld += 1
                    continue
                messages.append(envelope.to_message(self.topic_of(row.channel)))
            if messages:
                await self._ensure({m.topic for m in messages})
                await self.publisher.publish(messages)
            self.published += len(messages)
        return len(rows)

    async def drain(self) -> int:
        total = 0
        while n := await self.drain_once():
            total += n
        return total

    async def _ensure(self, topics: set[str]) -> None:
        missing = topics - self._known_topics
        if missing and self.ensure_topics is not None:
            await self.ensure_topics(sorted(missing))
        self._known_topics |= missing
