"""Periodic jobs: work a service does every so often, by one replica at a time.

A job (intake's retention sweep, say) reads what is due from the database,
does it and records it there, so it is idempotent and survives restarts by
construction: a new leader, or the same one after a restart, simply finds
what is still due. What the scheduler adds is that only one replica of a
service runs a given job at a time (the same PostgreSQL advisory lock as the
outbox relay; if the leader dies its connection closes and a standby takes
over), that a failing run is logged and retried rather than killing the
service, and counts for the metrics. On SQLite (the embedded default: one
process) there is no lock to take.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from avrr_events.adapters.database import Database
from avrr_events.leadership import Leadership

# How often a standby replica tries to take over a job at most (seconds).
STANDBY_POLL = 30.0


class PeriodicJob:
    """Runs ``work`` every ``interval`` seconds on the replica that holds the job's lock.

    ``work`` returns how many items it handled (for the metrics); an
    exception ends that run only: it is logged (``logs.error_text``: never a
    database message that could quote row values) and the job runs again
    after ``retry_backoff``.
    """

    def __init__(
        self,
        db: Database,
        name: str,
        work: Callable[[], Awaitable[int]],
        *,
        interval: float,
        retry_backoff: float = 5.0,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"job {name}: the interval must be positive, not {interval}")
        self.db = db
        self.name = name
        self.work = work
        self.interval = interval
        self.retry_backoff = min(retry_backoff, interval)
        self.runs = 0
        self.failures = 0
        self.items = 0
        self.last_success: float | None = None  # Unix time of the last run that completed
        self.leadership = Leadership(
            db,
            f"job:{name}:{db.url.database}",
            label=f"job {name}",
            interval=interval,
            standby_interval=min(interval, STANDBY_POLL),
            retry_backoff=self.retry_backoff,
        )

    @property
    def leader(self) -> bool:
        """Whether this replica runs the job now (the others stand by)."""
        return self.leadership.leader

    async def run_once(self) -> int:
        """One run, here and now (no lock: ``run`` takes it); counted for the metrics."""
        self.runs += 1
        try:
            handled = await self.work()
        except BaseException:
            self.failures += 1
            raise
        self.items += handled
        self.last_success = time.time()
        return handled

    async def run(self) -> None:
        """Run until ``stop``: lead when the lock is free, else stand by and try again later."""
        await self.leadership.run(self.run_once)

    def stop(self) -> None:
        self.leadership.stop()
