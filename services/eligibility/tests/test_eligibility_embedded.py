"""The same service on the embedded default (SQLite + in-process bus), as ``make run`` runs it."""

from __future__ import annotations

import httpx
from eligibility_fixtures import CASEWORKER, SUPERVISOR, checklist_json, return_requested

from avrr_eligibility.main import service
from avrr_events import Envelope, dataschema_uri
from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.settings import ServiceSettings
from avrr_events.testing import eventually
from avrr_events.web.service import ServiceRuntime


async def test_assessment_clearance_and_suspension_flags_work_embedded(sqlite_url: str) -> None:
    bus = InProcessBus()
    settings = ServiceSettings(
        database_url=sqlite_url,
        kafka_bootstrap_servers=None,
        dev=True,
        relay_poll_interval=0.1,
        migrate_on_start=True,  # as the embedded default does
    )
    runtime = ServiceRuntime(service, settings, bus=bus)
    app = runtime.app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://eligibility", headers=CASEWORKER
        ) as http:
            data = return_requested("emb-1", nationality="BR", host="PT", office="PT-LIS")
            envelope = Envelope(
                source="/avrr/intake",
                type="avrr.intake.ReturnRequested",
                subject="emb-1",
                dataschema=dataschema_uri("avrr.intake.ReturnRequested", 1),
                dataversion=1,
                correlationid="emb-1",
                data=data,
            )
            await bus.append([envelope.to_message(settings.topic("intake"))])

            async def status_is(expected: str) -> bool:
                response = await http.get("/assessments/emb-1")
                return response.status_code == 200 and response.json()["status"] == expected

            async def eligible() -> bool:
                return await status_is("eligible")

            await eventually(eligible, timeout=10)
            cleared = await http.post("/assessments/emb-1/due-diligence", json=checklist_json())
            assert cleared.json()["events"][-1] == "avrr.eligibility.DueDiligenceCleared"

            async def is_cleared() -> bool:
                return await status_is("cleared")

            await eventually(is_cleared, timeout=10)
            suspension = {"destination_country": "BR", "reason": "airport closed by floods"}
            response = await http.post(
                "/destinations/suspensions", json=suspension, headers=SUPERVISOR
            )
            assert response.status_code == 201

            async def flagged() -> bool:
                doc = (await http.get("/assessments/emb-1")).json()
                return bool(doc["destination_suspended"])

            await eventually(flagged, timeout=10)
            own = [Envelope.from_message(m).type for m in bus.topics[runtime.topic]]
            assert own[-2:] == [
                "avrr.eligibility.DueDiligenceCleared",
                "avrr.eligibility.DestinationSuspended",
            ]
