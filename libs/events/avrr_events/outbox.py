"""The outbox relay: publishes committed events to the bus, in order, at least once.

It reads outbox rows in batches of hundreds, sends the whole batch without
waiting per record (a relay that awaits each send is ~150x slower), waits for
every acknowledgement, and only then deletes the rows in one statement. A crash
between publish and delete re-publishes that batch: consumers are idempotent
(inbox), so nothing is lost and no effect is doubled. One replica per service
relays at a time (PostgreSQL advisory lock), which keeps per-case order.

A record the bus refuses for its size (Kafka's ``message.max.bytes``) would be
refused on every retry, and the relay, which publishes in order, would stall
behind it for good: every event of the service after it would wait. Such a row
is set aside instead (``failed_at``, ``failure_reason``), counted
(``avrr_outbox_set_aside``), logged and listed by ``avrr outbox set-aside``;
the rows behind it go out. Its event stays in the event store: nothing is lost,
but the topic lacks it until an operator raises the limit and releases it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import delete, select, update

from avrr_events import tables
from avrr_events.adapters import postgres
from avrr_events.bus import Message, RecordTooLarge
from avrr_events.leadership import Relay
from avrr_events.store import encode_record, row_message

log = logging.getLogger(__name__)


def record_size(message: Message) -> int:
    """Bytes of a record's key, value and headers (what the broker's size limit counts)."""
    headers = sum(len(k) + len(v) for k, v in message.headers)
    return len(message.key or b"") + len(message.value) + headers


async def _settle(future: asyncio.Task[Any]) -> None:
    """Wait for an in-flight publish whose outcome no longer matters (its rows stay)."""
    with contextlib.suppress(BaseException):
        await future


@dataclass(eq=False)
class OutboxRelay(Relay):
    """Drains one service's outbox into the bus."""

    label: ClassVar[str] = "outbox relay"

    _: KW_ONLY
    name: str = "outbox-relay"
    batch_size: int = 500
    set_aside: int = field(default=0, init=False)  # records the bus refused for their size

    async def fetch_batch(self, exclude: Sequence[int] = ()) -> list[tuple[int, Message]]:
        """The oldest unpublished rows but ``exclude`` (in flight), as (outbox id, Kafka record)."""
        if self.db.is_postgres:
            async with self.db.engine.connect() as conn:
                records = await postgres.fetch_outbox(conn, self.batch_size, exclude)
            return [(r[0], encode_record(r[1], *r[2:])) for r in records]
        o, e = tables.outbox, tables.events
        stmt = (
            select(o.c.id, o.c.topic, e)
            .join(e, e.c.position == o.c.position)
            .order_by(o.c.id)
            .limit(self.batch_size)
        )
        if exclude:
            stmt = stmt.where(o.c.id.not_in(exclude))
        stmt = stmt.where(o.c.failed_at.is_(None))
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [(r.id, row_message(r, r.topic)) for r in rows]

    async def mark_sent(self, ids: list[int]) -> None:
        if not ids:
            return
        if self.db.is_postgres:
            async with self.db.engine.connect() as conn:
                await postgres.delete_outbox(conn, ids)
            return
        async with self.db.transaction() as conn:
            await conn.execute(delete(tables.outbox).where(tables.outbox.c.id.in_(ids)))

    async def publish(self, batch: list[tuple[int, Message]]) -> list[int]:
        """Publish a batch in order; return the ids of the rows that went out.

        When the bus refuses a record for its size, the batch is sent again one
        record at a time, in order, and the records refused are set aside; any
        other failure propagates and leaves the batch in the outbox. Records of
        the batch that had gone out before the failure go out again: consumers
        skip what their inbox has seen.
        """
        try:
            await self.publisher.publish([m for _, m in batch])
            return [i for i, _ in batch]
        except RecordTooLarge:
            pass
        sent: list[int] = []
        for outbox_id, message in batch:
            try:
                await self.publisher.publish([message])
            except RecordTooLarge as exc:
                await self.set_aside_row(outbox_id, message, exc)
                continue
            sent.append(outbox_id)
        return sent

    async def set_aside_row(self, outbox_id: int, message: Message, exc: Exception) -> None:
        """Keep a row the bus will never take out of the relay's way, with the reason."""
        size = record_size(message)
        reason = f"too_large: record of {size} bytes refused by the bus ({exc})"[:500]
        async with self.db.transaction() as conn:
            await conn.execute(
                update(tables.outbox)
                .where(tables.outbox.c.id == outbox_id)
                .values(failed_at=datetime.now(UTC), failure_reason=reason)
            )
        self.set_aside += 1
        log.error(
            "outbox row %s set aside: %s; event %s of %s on %s is not published",
            outbox_id,
            reason,
            message.header("ce_id"),
            message.header("ce_subject"),
            message.topic,
        )

    async def drain_once(self) -> int:
        """Publish one batch; return how many records went out (0 when the outbox is empty)."""
        batch = await self.fetch_batch()
        if not batch:
            return 0
        sent = await self.publish(batch)
        await self.mark_sent(sent)
        self.published += len(sent)
        return len(sent)

    async def drain(self) -> int:
        """Publish until the outbox is empty; return how many records went out.

        Batches still go out strictly one after the other, each deleted only
        once all of it is acknowledged (as ``drain_once``), but the database
        work overlaps the broker's: the next batch is read while the current
        one awaits its acknowledgements, and the acknowledged batch is deleted
        while the next one is being sent. Waiting for acks and reading rows
        in turn left the relay idle half the time.
        """
        total = 0
        batch = await self.fetch_batch()
        while batch:
            publishing = self._publish_soon(batch)
            ids = [i for i, _ in batch]
            while True:
                try:
                    upcoming = await self.fetch_batch(exclude=ids)
                except BaseException:
                    await _settle(publishing)
                    raise
                sent = await publishing  # a failure leaves this batch and the next in the outbox
                if upcoming:
                    publishing = self._publish_soon(upcoming)
                try:
                    await self.mark_sent(sent)
                except BaseException:
                    if upcoming:
                        await _settle(publishing)
                    raise
                self.published += len(sent)
                total += len(sent)
                if not upcoming:
                    break
                ids = [i for i, _ in upcoming]
            batch = await self.fetch_batch()  # rows committed late, below the ones just sent
        return total

    def _publish_soon(self, batch: list[tuple[int, Message]]) -> asyncio.Task[list[int]]:
        """Start publishing a batch in the background; the task gives the ids that went out."""
        return asyncio.create_task(self.publish(batch))
