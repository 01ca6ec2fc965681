"""Rebuilding a projection from history yields exactly the rows the live projection has."""

from __future__ import annotations

from sample_domain import CaseSummary, SampleCase, case_ids, registry, summary_rows
from sample_service import SampleService

from avrr_events import Cause, ProjectionRunner
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
