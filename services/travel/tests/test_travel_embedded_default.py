"""Travel in the embedded default (SQLite + in-process bus): same code, same journey."""

from __future__ import annotations

from pathlib import Path

from travel_fixtures import PARTNER, RECEIVING_OFFICE, Travel, member, ticket

from avrr_events import Envelope
from avrr_events.harness import embedded
from avrr_travel.main import service


async def test_journey_runs_on_sqlite_and_the_in_process_bus(tmp_path: Path) -> None:
    database = tmp_path / "travel.db"
    async with embedded(service, database, base_url="http://travel") as (runtime, http, bus):
        travel = Travel.on_bus(runtime, http, bus)
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
        topic = runtime.settings.topic("travel")
        published = [Envelope.from_message(m).type for m in bus.topics[topic]]
        assert published[-1] == "avrr.travel.ArrivalConfirmed"
