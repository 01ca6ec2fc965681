"""Periodic jobs on real PostgreSQL: one replica runs a job at a time, failures are retried."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from avrr_events import Database
from avrr_events.periodic import PeriodicJob
from avrr_events.testing import eventually


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two engines on one database, as two replicas of a service have."""
    first, second = Database(database_url), Database(database_url)
    yield first, second
    await first.dispose()
    await second.dispose()


async def test_only_one_replica_runs_a_job_and_a_standby_takes_over(
    replicas: tuple[Database, Database],
) -> None:
    ran: list[str] = []

    def job(db: Database, replica: str) -> PeriodicJob:
        async def work() -> int:
            ran.append(replica)
            return 1

        return PeriodicJob(db, "sweep", work, interval=0.05)

    first, second = job(replicas[0], "first"), job(replicas[1], "second")
    first_task = asyncio.create_task(first.run())

    async def first_leads() -> bool:
        return first.leader and ran.count("first") >= 1

    await eventually(first_leads)
    second_task = asyncio.create_task(second.run())
    runs_before = first.runs

    async def first_ran_ten_more_times() -> bool:
        return first.runs >= runs_before + 10

    await eventually(first_ran_ten_more_times)
    assert "second" not in ran and not second.leader

    first.stop()
    await first_task

    async def second_took_over() -> bool:
        return "second" in ran

    await eventually(second_took_over)
    assert second.leader
    second.stop()
    await second_task
    assert ran == sorted(ran, key=lambda replica: replica == "second"), "never both at once"


async def test_a_failed_run_is_counted_and_the_job_runs_again(pg: Database) -> None:
    attempts: list[int] = []

    async def work() -> int:
        attempts.append(len(attempts))
        if len(attempts) == 1:
            raise ConnectionError("database away")
        return 3

    job = PeriodicJob(pg, "flaky", work, interval=0.05, retry_backoff=0.05)
    task = asyncio.create_task(job.run())

    async def recovered() -> bool:
        return job.items >= 3

    await eventually(recovered)
    job.stop()
    await task
    assert job.failures == 1 and job.runs >= 2 and job.last_success is not None


def test_a_job_needs_a_positive_interval(sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="interval"):
        PeriodicJob(Database(sqlite_url), "never", lambda: asyncio.sleep(0, 0), interval=0)
