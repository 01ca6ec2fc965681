"""The embedded default (SQLite + in-process bus) behaves like the real stack."""

from __future__ import annotations

from sample_domain import SampleCase
from sample_service import SampleService

from avrr_events import Cause
from avrr_events.testing import eventually


async def test_events_flow_store_to_outbox_to_bus_to_projection_once(
    embedded_service: SampleService,
) -> None:
    service = embedded_service
    service.start()
    case = SampleCase("e-1")
    case.open("office")
    case.add_note("a")
    await service.repo.save(case, Cause("c"))

    async def projected() -> bool:
        return await service.notes() == 1

    await eventually(projected, timeout=10)
    bus_source = service.consumer.source
    # redeliver everything the group has seen: the inbox keeps the effect single
    await service.consumer.process(service.relay.publisher.bus.topics["sample"])  # type: ignore[attr-defined]
    assert await service.notes() == 1
    assert service.consumer.stats.duplicates == 2
    assert await service.outbox_size() == 0
    assert bus_source is not None
