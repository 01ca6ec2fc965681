"""Travel in the embedded default (SQLite + in-process bus): same code, same journey."""

from __future__ import annotations

from pathlib import Path

import httpx
from travel_fixtures import PARTNER, RECEIVING_OFFICE, Travel, member, ticket

from avrr_events import Envelope
from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.settings import ServiceSettings
from avrr_events.web.service import ServiceRuntime
from avrr_travel.main import service


async def test_journey_runs_on_sqlite_and_the_in_process_bus(tmp_path: Path) -> None:
    bus = InProcessBus()
    settings = ServiceSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/travel.db",
        kafka_bootstrap_servers=None,
        dev=True,
        relay_poll_interval=0.1,
        migrate_on_start=True,  # as the embedded default does
    )
    runtime = ServiceRuntime(service, settings, bus=bus)
    app = runtime.app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://travel") as http:
            # No Kafka here: the harness's Kafka settings are never used by this test.
            travel = Travel(runtime, http, KafkaSettings("unused:9092"), bus.publisher())
            case = "case-embedded"
            await travel.opened(case, [member("p-1", 30), member("p-2", 4, "child")])
            await travel.make_ready(case, ["p-1", "p-2"])
            assert (await travel.post(f"/movements/{case}/ticket", ticket())).status_code == 200
            assert (await travel.post(f"/movements/{case}/departure", {})).status_code == 200
            arrival = {"confirmed_by": "partner", "confirmer_id": "casa-del-migrante"}
            # A receiving office cannot confirm in a partner's name.
            r = await travel.post(f"/movements/{case}/arrival", arrival, RECEIVING_OFFICE)
            assert r.status_code == 403
            r = await travel.post(f"/movements/{case}/arrival", arrival, PARTNER)
            assert r.status_code == 200, r.text
            arrived = await travel.wait_for(case, status="arrived")
            assert arrived["arrival"]["confirmed_by"] == "partner"
            published = [
                Envelope.from_message(m).type for m in bus.topics[settings.topic("travel")]
            ]
            assert published[-1] == "avrr.travel.ArrivalConfirmed"
