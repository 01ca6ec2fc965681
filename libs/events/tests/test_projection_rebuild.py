"""Rebuilding a projection from history yields exactly the rows the live projection has."""

from __future__ import annotations

import asyncio

from sample_domain import CaseSummary, SampleCase, case_ids, registry, summary_rows
from sample_service import SampleService
from sqlalchemy import Column, Integer, MetaData, Table, func, select

from avrr_events import Cause, Database, Projection, ProjectionRunner
from avrr_events.testing import eventually

CAUSE = Cause("corr-rebuild")


async def fill(service: SampleService) -> int:
    for n, cid in enumerate(case_ids(12)):
        case = SampleCase(cid)
        case.open(f"office-{n % 3}")
        for i in range(n % 4):
            case.add_note(f"note {i}")
        await service.repo.save(case, CAUSE)
    return sum(1 + n % 4 for n in range(12))


async def rebuild_equals_live(service: SampleService) -> None:
    total = await fill(service)
    service.start()

    async def live_is_complete() -> bool:
        return service.consumer.stats.applied == total

    await eventually(live_is_complete)
    await service.stop()
    async with service.db.engine.connect() as conn:
        live = await summary_rows(conn)
    assert len(live) == 12

    runner = ProjectionRunner(service.db, registry, service.consumer.group, batch_size=7)
    replayed = await runner.rebuild(CaseSummary())

    async with service.db.engine.connect() as conn:
        rebuilt = await summary_rows(conn)
    assert replayed == total
    assert rebuilt == live
    assert await runner.catch_up(CaseSummary()) == 0, "the checkpoint is at the head"


async def test_rebuild_on_postgresql_and_kafka_equals_the_live_projection(
    kafka_service: SampleService,
) -> None:
    await rebuild_equals_live(kafka_service)


async def test_rebuild_on_the_embedded_default_equals_the_live_projection(
    embedded_service: SampleService,
) -> None:
    await rebuild_equals_live(embedded_service)


pair = MetaData()
people = Table("rebuild_people", pair, Column("id", Integer, primary_key=True))
tokens = Table("rebuild_tokens", pair, Column("id", Integer, primary_key=True))


class TwoTables(Projection):
    """A read model of two tables the live consumer writes in one transaction."""

    name = "two_tables"
    metadata = pair
    event_types = frozenset({"sample.case.opened"})


async def test_a_rebuild_racing_the_live_consumer_over_two_tables_finishes(pg: Database) -> None:
    """The drop, table by table, and a consumer's transaction writing both tables in the
    other order deadlock; PostgreSQL undoes the drop, which runs again and succeeds."""
    await pg.create_tables(pair)
    first, second = reversed(pair.sorted_tables)  # the order drop_all takes them in
    runner = ProjectionRunner(pg, registry, "no-consumer")
    async with pg.engine.connect() as live:
        transaction = await live.begin()
        await live.execute(second.insert().values(id=1))  # the consumer holds the second
        rebuilding = asyncio.create_task(runner.rebuild(TwoTables()))
        await asyncio.sleep(0.5)  # the drop holds the first and waits for the second
        await live.execute(first.insert().values(id=1))  # a cycle: one of the two is undone
        await transaction.commit()
    assert await asyncio.wait_for(rebuilding, timeout=30) == 0
    async with pg.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(first)) == 0
