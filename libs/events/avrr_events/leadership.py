"""Work that one replica at a time does, again and again: relays and periodic jobs.

The outbox relay, the public relay and every periodic job run the same loop:
take a PostgreSQL advisory lock (``LeaderLock``), do the work, sleep until the
next round is due or something wakes them; when the work fails (broker or
database away), log it without row values, back off and try again; when
another replica holds the lock, stand by and try for it now and then, keeping
no connection open in between. On SQLite there is one process, always the
leader. Written once here so a fix to leadership reaches all of them (one did:
a standby that took itself for the leader, 382392a).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import ClassVar

from avrr_events import logs
from avrr_events.adapters.database import Database
from avrr_events.adapters.postgres import LeaderLock
from avrr_events.bus import Publisher

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Leadership:
    """Run ``work`` in rounds on the replica that holds the lock ``lock_name``."""

    db: Database
    lock_name: str
    _: KW_ONLY
    label: str
    interval: float
    standby_interval: float
    retry_backoff: float
    listen: bool = False  # while leading, every outbox NOTIFY wakes the loop (the relays)
    leader: bool = field(default=False, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    def wake(self) -> None:
        """Start the next round now instead of when it is due."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self, work: Callable[[], Awaitable[object]]) -> None:
        """Rounds of ``work`` until ``stop``; the lock is released on the way out."""
        lock = LeaderLock(self.db.engine, self.lock_name)
        self.leader = not self.db.is_postgres  # one process on SQLite: nobody to share with
        try:
            while not self._stopping.is_set():
                if self.db.is_postgres and not await self._hold(lock):
                    await self._sleep(self.standby_interval)
                    continue
                self._wake.clear()
                try:
                    await work()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # broker or database away: keep the work, retry
                    log.warning("%s failed, will retry: %s", self.label, logs.error_text(exc))
                    await self._sleep(self.retry_backoff)
                    continue
                await self._sleep(self.interval)
        finally:
            self.leader = False
            await lock.release()

    async def _hold(self, lock: LeaderLock) -> bool:
        """True while this replica holds the lock (taking it if it is free)."""
        if self.leader and lock.is_alive():
            return True
        was_leader, self.leader = self.leader, False
        await lock.release()
        try:
            self.leader = await lock.try_acquire(self.wake if self.listen else None)
        except Exception as exc:  # database away: stand by
            log.warning("%s: cannot take its lock: %s", self.label, logs.error_text(exc))
        if self.leader and not was_leader:
            log.info("%s: this replica leads", self.label)
        if not self.leader:  # a standby keeps no connection open between its tries
            await lock.release()
        return self.leader

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)


@dataclass(eq=False)
class Relay:
    """What the two relays (the outbox's, the public topics') share: their collaborators,
    their batch and timing, and their leadership. One replica relays at a time, under the
    lock ``<name>:<database>``, woken by NOTIFY on appends, else every ``poll_interval``;
    standbys try for the lock five times less often. A subclass names its ``label``
    (for the logs), its defaults, and ``drain`` (one pass: how many records it moved)."""

    label: ClassVar[str]

    db: Database
    publisher: Publisher
    _: KW_ONLY
    name: str
    batch_size: int
    poll_interval: float = 1.0
    retry_backoff: float = 0.5
    published: int = field(default=0, init=False)
    leadership: Leadership = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.leadership = Leadership(
            self.db,
            f"{self.name}:{self.db.url.database}",
            label=self.label,
            interval=self.poll_interval,
            standby_interval=self.poll_interval * 5,
            retry_backoff=self.retry_backoff,
            listen=True,
        )
        self.db.on_append(self.wake)

    def wake(self) -> None:
        """Look at the queue now rather than at the next poll."""
        self.leadership.wake()

    async def drain(self) -> int:
        raise NotImplementedError

    async def run(self) -> None:
        """Relay until ``stop``; stand by while another replica holds the lock."""
        await self.leadership.run(self.drain)

    def stop(self) -> None:
        self.leadership.stop()
