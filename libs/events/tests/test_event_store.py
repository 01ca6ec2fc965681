"""The event store: round trip, optimistic concurrency, global order (PostgreSQL and SQLite)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sample_domain import CaseOpened, NoteAdded, SampleCase, registry
from sample_service import opened, repository

from avrr_events import Cause, ConcurrencyError, Database, EventStore, Repository

CAUSE = Cause("corr-1")


async def test_append_then_load_returns_the_same_events_in_version_order(any_db: Database) -> None:
    repo = repository(EventStore(any_db, "t.sample"))
    case = SampleCase("c1")
    case.open("office-gt")
    case.add_note("first counselling session")
    case.add_note("second session")
    written = await repo.save(case, CAUSE)

    loaded = await repo.load("c1")
    assert loaded.version == 3
    assert loaded.office == "office-gt"
    assert loaded.notes == ["first counselling session", "second session"]
    recorded = await repo.store.load("case-c1")
    assert [r.envelope.id for r in recorded] == [e.id for e in written]
    assert [r.version for r in recorded] == [1, 2, 3]
    assert isinstance(registry.decode(recorded[0].envelope), CaseOpened)
    assert recorded[1].envelope.correlationid == "corr-1"


async def test_two_concurrent_appends_at_the_same_version_exactly_one_wins(
    any_db: Database,
) -> None:
    repo = repository(EventStore(any_db, "t.sample"))
    await opened(repo, "c2", "office-mx")

    a, b = await asyncio.gather(repo.load("c2"), repo.load("c2"))
    a.add_note("from writer A")
    b.add_note("from writer B")
    outcomes = await asyncio.gather(_save(repo, a), _save(repo, b))

    assert sorted(outcomes) == ["conflict", "ok"]
    after = await repo.load("c2")
    assert after.version == 2
    assert len(after.notes) == 1


async def _save(repo: Repository[SampleCase], case: SampleCase) -> str:
    try:
        await repo.save(case, CAUSE)
    except ConcurrencyError:
        return "conflict"
    return "ok"


async def test_append_at_a_stale_or_future_version_is_a_concurrency_error(
    any_db: Database,
) -> None:
    store = EventStore(any_db, "t.sample")
    repo = repository(store)
    case = await opened(repo, "c3", "office-pt")
    envelope = repo.envelope(case, NoteAdded(text="x", author="a"), CAUSE)
    with pytest.raises(ConcurrencyError):
        await store.append("case-c3", 0, [envelope])
    with pytest.raises(ConcurrencyError):
        await store.append("case-c3", 5, [envelope])
    assert await store.stream_version("case-c3") == 1


async def test_read_all_returns_every_stream_in_append_order(any_db: Database) -> None:
    repo = repository(EventStore(any_db, "t.sample"))
    for cid in ("a", "b", "c"):
        case = SampleCase(cid)
        case.open("office")
        case.add_note(f"note of {cid}")
        await repo.save(case, CAUSE)
    everything = await repo.store.read_all()
    assert [(r.stream_id, r.version) for r in everything] == [
        ("case-a", 1),
        ("case-a", 2),
        ("case-b", 1),
        ("case-b", 2),
        ("case-c", 1),
        ("case-c", 2),
    ]
    assert [r.position for r in everything] == sorted(r.position for r in everything)
    assert len(await repo.store.read_all(after=everything[2].position, limit=2)) == 2


async def test_many_concurrent_writers_on_one_case_never_lose_an_update(
    pg: Database,
) -> None:
    repo = repository(EventStore(pg, "t.sample"))
    await opened(repo, "hot", "office")

    async def add_with_retry(i: int) -> int:
        conflicts = 0
        while True:
            mine = await repo.load("hot")
            mine.add_note(f"n{i}")
            try:
                await repo.save(mine, CAUSE)
                return conflicts
            except ConcurrencyError:
                conflicts += 1

    await asyncio.gather(*(add_with_retry(i) for i in range(20)))
    final = await repo.load("hot")
    assert final.version == 21
    assert sorted(final.notes) == sorted(f"n{i}" for i in range(20))


async def test_a_reaction_run_again_on_the_same_stream_version_writes_the_same_event_ids(
    tmp_path: Path,
) -> None:
    """What a database restored from a backup does when it reads the causing events again:
    whichever of two causes with the same effect it reads first."""
    written: list[list[str]] = []
    commanded: list[str] = []
    for copy in ("first", "restored"):  # the first database, and one from its backup
        reaction = Cause("corr-2", f"the event read first by the {copy} database")
        db = Database(f"sqlite+aiosqlite:///{tmp_path}/{copy}.db")
        await db.create_schema()
        repo = repository(EventStore(db, "t"))
        try:
            case = SampleCase("c1")
            case.open("office-gt")
            case.add_note("opened in reaction")
            written.append([e.id for e in await repo.save(case, reaction)])
            command = SampleCase("c2")
            command.open("office-gt")
            commanded.extend(e.id for e in await repo.save(command, CAUSE))
        finally:
            await db.dispose()
    assert written[0] == written[1] and len(set(written[0])) == 2
    assert len(set(commanded)) == 2, "a command's events keep random ids"


async def test_events_after_a_version_are_what_a_read_model_at_it_has_not_applied(
    any_db: Database,
) -> None:
    repo = repository(EventStore(any_db, "t.sample"))
    case = SampleCase("c-after")
    case.open("office-gt")
    case.add_note("first")
    case.add_note("second")
    await repo.save(case, CAUSE)

    unseen = await repo.events_after("c-after", 1)
    assert [type(e) for e in unseen] == [NoteAdded, NoteAdded]
    assert [e.text for e in unseen if isinstance(e, NoteAdded)] == ["first", "second"]
    assert await repo.events_after("c-after", 3) == []  # caught up: nothing to add
    assert await repo.events_after("no-such-case", 0) == []
