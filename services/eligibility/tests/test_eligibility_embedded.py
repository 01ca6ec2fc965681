"""The same service on the embedded default (SQLite + in-process bus), as ``make run`` runs it."""

from __future__ import annotations

from pathlib import Path

from eligibility_fixtures import SUPERVISOR, Eligibility, checklist_json, return_requested

from avrr_eligibility.main import service
from avrr_events import Envelope
from avrr_events.harness import embedded


async def test_assessment_clearance_and_suspension_flags_work_embedded(tmp_path: Path) -> None:
    database = tmp_path / "eligibility.db"
    async with embedded(service, database, base_url="http://eligibility") as (runtime, http, bus):
        eligibility = Eligibility.on_bus(runtime, http, bus)
        data = return_requested("emb-1", nationality="BR", host="PT", office="PT-LIS")
        await eligibility.from_intake("ReturnRequested", data)
        await eligibility.assessment("emb-1", status="eligible")
        cleared = await http.post("/assessments/emb-1/due-diligence", json=checklist_json())
        assert cleared.json()["events"][-1] == "avrr.eligibility.DueDiligenceCleared"
        await eligibility.assessment("emb-1", status="cleared")
        suspension = {"destination_country": "BR", "reason": "airport closed by floods"}
        response = await http.post("/destinations/suspensions", json=suspension, headers=SUPERVISOR)
        assert response.status_code == 201
        await eligibility.assessment("emb-1", destination_suspended=True)
        own = [Envelope.from_message(m).type for m in bus.topics[runtime.topic]]
        assert own[-2:] == [
            "avrr.eligibility.DueDiligenceCleared",
            "avrr.eligibility.DestinationSuspended",
        ]
