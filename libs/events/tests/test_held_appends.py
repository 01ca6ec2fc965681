"""Many commands, one write (batch.HeldAppends, EventStore.append_many), on PostgreSQL and SQLite:
the same events as one command at a time, all written or none, a stale stream refused."""

from __future__ import annotations

import uuid

import pytest
from sample_domain import SampleCase
from sample_service import repository
from sqlalchemy import select

from avrr_events import Cause, ConcurrencyError, Database, EventStore, Repository, tables
from avrr_events.batch import HeldAppends

CAUSE = Cause("corr-held")


def ids(n: int) -> list[str]:
    return [f"held-{uuid.uuid4()}" for _ in range(n)]


async def opened(repo: Repository[SampleCase], case_id: str, office: str = "office-gt") -> None:
    """The command that opens a case at ``office`` (version 1 of its stream)."""
    case = SampleCase(case_id)
    case.open(office)
    await repo.save(case, CAUSE)


async def noted(repo: Repository[SampleCase], case_id: str, text: str) -> None:
    """The command that adds a note to the case as it is now."""
    case = await repo.load(case_id)
    case.add_note(text)
    await repo.save(case, CAUSE)


async def outbox_positions(db: Database, stream_ids: list[str]) -> list[int]:
    """The outbox rows of these streams' events, in outbox order (their events' positions)."""
    e, o = tables.events, tables.outbox
    async with db.autocommit() as conn:
        rows = await conn.execute(
            select(o.c.position)
            .join(e, e.c.position == o.c.position)
            .where(e.c.stream_id.in_(stream_ids))
            .order_by(o.c.id)
        )
        return [r.position for r in rows]


async def test_commands_on_held_appends_write_their_events_together_in_order(
    any_db: Database,
) -> None:
    store = EventStore(any_db, "t.sample")
    held = HeldAppends(store)
    repo = repository(held)
    first, second = ids(2)
    await held.read(f"case-{i}" for i in (first, second))
    for case_id in (first, second):
        await opened(repo, case_id)
    # The next command on a held stream sees the held events, as it would stored ones.
    await noted(repo, first, "a note")

    assert held.held == 3
    assert await store.load(f"case-{first}") == []  # nothing written yet

    assert await held.write() == 3
    loaded = await repository(store).load(first)
    assert (loaded.version, loaded.notes) == (2, ["a note"])
    stored = await store.load_many([f"case-{first}", f"case-{second}"])
    assert [r.version for r in stored[f"case-{first}"]] == [1, 2]
    positions = [r.position for s in stored.values() for r in s]
    assert await outbox_positions(any_db, list(stored)) == sorted(positions)  # one row each


async def test_a_stream_changed_meanwhile_fails_the_write_and_nothing_is_written(
    any_db: Database,
) -> None:
    store = EventStore(any_db, "t.sample")
    direct = repository(store)
    untouched, changed = ids(2)
    await opened(direct, changed, "office-mx")

    held = HeldAppends(store)
    repo = repository(held)
    await opened(repo, untouched)
    await noted(repo, changed, "decided on version 1")
    # Another writer moves the stream on between the read and the write.
    await noted(direct, changed, "written first")

    with pytest.raises(ConcurrencyError) as refused:
        await held.write()

    assert refused.value.stream_id == f"case-{changed}"
    assert await store.load(f"case-{untouched}") == []  # the batch's other stream too
    assert (await direct.load(changed)).notes == ["written first"]


async def test_a_command_refused_half_way_leaves_nothing_held(any_db: Database) -> None:
    store = EventStore(any_db, "t.sample")
    held = HeldAppends(store)
    repo = repository(held)
    kept, dropped = ids(2)
    await opened(repo, kept)

    with pytest.raises(RuntimeError), held.undone_on_error():
        await opened(repo, dropped)
        await noted(repo, kept, "never written")
        raise RuntimeError("the case refused the next command")

    assert held.held == 1
    assert (await repo.load(kept)).notes == []
    await held.write()
    assert [r.version for r in await store.load(f"case-{kept}")] == [1]
    assert await store.load(f"case-{dropped}") == []


async def test_an_append_on_a_stale_version_is_refused_at_once(any_db: Database) -> None:
    held = HeldAppends(EventStore(any_db, "t.sample"))
    repo = repository(held)
    (case_id,) = ids(1)
    await opened(repo, case_id)
    stale = SampleCase(case_id)  # decided as if the stream were new
    stale.open("office-mx")

    with pytest.raises(ConcurrencyError):
        await repo.save(stale, CAUSE)
    assert held.held == 1
