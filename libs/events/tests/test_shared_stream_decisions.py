"""Decisions on a stream many cases share, taken again when another case's decision appended
first (avrr_events.shared_streams): PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Container

import pytest
from sample_domain import SampleCase
from sample_service import repository

from avrr_events import Cause, ConcurrencyError, Database, EventStore, Repository
from avrr_events.shared_streams import decided_again_when_raced

CAUSE = Cause("corr-shared")


async def shared(db: Database) -> Repository[SampleCase]:
    """A repository with the shared stream opened (version 1)."""
    repo = repository(EventStore(db, "t.sample"))
    programme = SampleCase("programme")
    programme.open("hq")
    await repo.save(programme, CAUSE)
    return repo


class Decision:
    """A case's decision on the shared stream, beaten on the attempts named by another
    case's decision appended between its load and its append."""

    def __init__(self, repo: Repository[SampleCase], *, beaten_on: Container[int]) -> None:
        self.repo = repo
        self.beaten_on = beaten_on
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        mine = await self.repo.load("programme")
        if self.calls in self.beaten_on:
            rival = await self.repo.load("programme")
            rival.add_note(f"rival {self.calls}")
            await self.repo.save(rival, CAUSE)
        mine.add_note(f"mine, seen at version {mine.version}")
        await self.repo.save(mine, CAUSE)
        return mine.version


async def test_a_decision_that_lost_the_race_is_taken_again_on_the_new_version(
    any_db: Database,
) -> None:
    repo = await shared(any_db)
    decision = Decision(repo, beaten_on={1})

    assert await decided_again_when_raced(decision, attempts=3) == 3
    assert decision.calls == 2
    after = await repo.load("programme")
    assert after.notes == ["rival 1", "mine, seen at version 2"]


async def test_the_last_attempts_conflict_reaches_the_caller(any_db: Database) -> None:
    repo = await shared(any_db)
    decision = Decision(repo, beaten_on={1, 2, 3})

    with pytest.raises(ConcurrencyError):
        await decided_again_when_raced(decision, attempts=3)
    assert decision.calls == 3
    assert (await repo.load("programme")).notes == ["rival 1", "rival 2", "rival 3"]


async def test_a_conflict_the_caller_does_not_retry_is_raised_at_once(any_db: Database) -> None:
    repo = await shared(any_db)
    calls, asked = 0, []

    async def own_case_moved() -> None:
        nonlocal calls
        calls += 1
        raise ConcurrencyError("case-c1", 4)

    async def programme_only(exc: ConcurrencyError) -> bool:
        asked.append(exc.stream_id)
        return exc.stream_id == "case-programme"

    with pytest.raises(ConcurrencyError):
        await decided_again_when_raced(own_case_moved, attempts=5, retry=programme_only)
    assert (calls, asked) == (1, ["case-c1"])
    assert (await repo.load("programme")).version == 1


async def test_other_failures_are_not_retried(any_db: Database) -> None:
    calls = 0

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("over the cap")

    with pytest.raises(ValueError, match="over the cap"):
        await decided_again_when_raced(refused, attempts=5)
    assert calls == 1


async def test_concurrent_decisions_in_savepoints_all_append(pg: Database) -> None:
    """Real PostgreSQL, each writer's attempt a savepoint in its own transaction (what a
    charge inside a ticket's transaction does): every decision lands, none is lost."""
    repo = await shared(pg)
    writers = 8

    async def charge(i: int) -> None:
        async with pg.transaction() as conn:

            async def attempt() -> None:
                async with conn.begin_nested():
                    programme = await repo.load("programme", conn=conn)
                    programme.add_note(f"charge {i}")
                    await repo.save(programme, CAUSE, conn=conn)

            await decided_again_when_raced(attempt, attempts=writers)

    await asyncio.gather(*(charge(i) for i in range(writers)))
    after = await repo.load("programme")
    assert after.version == writers + 1
    assert sorted(after.notes) == sorted(f"charge {i}" for i in range(writers))
