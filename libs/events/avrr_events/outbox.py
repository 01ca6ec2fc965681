"""The outbox relay: publishes committed events to the bus, in order, at least once.

It reads outbox rows in batches of hundreds, sends the whole batch without
waiting per record (a relay that awaits each send is ~150x slower), waits for
every acknowledgement, and only then deletes the rows in one statement. A crash
between publish and delete re-publishes that batch: consumers are idempotent
(inbox), so nothing is lost and no effect is doubled. One replica per service
relays at a time (PostgreSQL advisory lock), which keeps per-case order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import delete, select

from avrr_events import tables
from avrr_events.bus import Message, Publisher
from avrr_events.database import Database
from avrr_events.postgres import LeaderLock
from avrr_events.store import row_envelope

log = logging.getLogger(__name__)


class OutboxRelay:
    """Drains one service's outbox into the bus."""

    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        *,
        name: str = "outbox-relay",
        batch_size: int = 500,
        poll_interval: float = 1.0,
        retry_backoff: float = 0.5,
    ) -> None:
        self.db = db
        self.publisher = publisher
        self.name = name
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retry_backoff = retry_backoff
        self.published = 0
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        db.on_append(self.wake)

    def wake(self) -> None:
        """Ask the relay to look at the outbox now rather than at its next poll."""
        self._wake.set()

    async def fetch_batch(self) -> list[tuple[int, Message]]:
        """The oldest unpublished rows, as (outbox id, Kafka record)."""
        o, e = tables.outbox, tables.events
        stmt = (
            select(o.c.id, o.c.topic, e)
            .join(e, e.c.position == o.c.position)
            .order_by(o.c.id)
            .limit(self.batch_size)
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [(r.id, row_envelope(r).to_message(r.topic)) for r in rows]

    async def mark_sent(self, ids: list[int]) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(delete(tables.outbox).where(tables.outbox.c.id.in_(ids)))

    async def drain_once(self) -> int:
        """Publish one batch; return how many records went out (0 when the outbox is empty)."""
        batch = await self.fetch_batch()
        if not batch:
            return 0
        await self.publisher.publish([m for _, m in batch])
        await self.mark_sent([i for i, _ in batch])
        self.published += len(batch)
        return len(batch)

    async def drain(self) -> int:
        """Publish until the outbox is empty."""
        total = 0
        while n := await self.drain_once():
            total += n
        return total

    async def run(self) -> None:
        """Relay until ``stop``; wait as a standby while another replica holds the lock."""
        lock = LeaderLock(self.db.engine, f"{self.name}:{self.db.url.database}")
        try:
            while not self._stopping.is_set():
                if self.db.is_postgres and not await self._hold(lock):
                    await self._sleep(self.poll_interval * 5)
                    continue
                self._wake.clear()
                try:
                    await self.drain()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # broker or database away: keep the rows, retry
                    log.warning("outbox relay: publish failed, will retry: %s", exc)
                    await self._sleep(self.retry_backoff)
                    continue
                await self._sleep(self.poll_interval)
        finally:
            await lock.release()

    async def _hold(self, lock: LeaderLock) -> bool:
        if lock.is_alive():
            return True
        await lock.release()
        try:
            return await lock.try_acquire(self.wake)
        except Exception as exc:  # database away: stand by
            log.warning("outbox relay: cannot take the leader lock: %s", exc)
            await lock.release()
            return False

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
