"""The same code on the embedded default (SQLite + in-process bus), and disposable read models."""

from __future__ import annotations

from pathlib import Path

from reintegration_fixtures import HEADQUARTERS, OFFICER, RunningReintegration, catalogue, plan

from avrr_events import ERASED, Encrypted, Envelope, ProjectionRunner
from avrr_events.harness import embedded
from avrr_events.testing import eventually
from avrr_reintegration.main import build_service


async def test_reintegration_runs_on_sqlite_and_the_in_process_bus(tmp_path: Path) -> None:
    service = build_service(catalogue(places=1))
    database = tmp_path / "reintegration.db"
    async with embedded(service, database, base_url="http://reint") as (runtime, http, bus):
        r = RunningReintegration.on_bus(runtime, http, bus)
        await r.assess("q2", "q2-1", ("health_needs", "high"))
        assert (await r.arrive("q1"))["decision"] == "granted"
        assert (await r.arrive("q2"))["decision"] == "waitlisted"
        await r.agree_plan("q1", plan())
        assert (await r.disburse("q1", "550.00")).status_code == 201
        assert (await r.disburse("q1", "0.01")).status_code == 422
        await r.complete("q1")
        await r.wait_for("q2", decision="granted")
        await r.wait_for("q1", status="completed", disbursed_total="550.00")
        topic = runtime.settings.topic("reintegration")
        published = [Envelope.from_message(m).type for m in bus.topics[topic]]
        assert "avrr.reintegration.AssistanceDisbursed" in published

        # Erasure with the keys in the service's own SQLite file (the standalone default).
        visit = {"due_month": 1, "visited_on": "2026-04-15", "notes": "found work"}
        assert (await r.post("/cases/q2/monitoring-visits", visit)).status_code == 201
        await r.publish(
            "intake",
            "avrr.intake.PersonalDataErased",
            "q2",
            {"case_id": "q2", "person_ids": ["q2-1"], "erased_at": "2026-10-01T00:00:00Z"},
        )

        async def forgotten() -> bool:
            return await r.case("q2") is None

        await eventually(forgotten)
        history = await runtime.store.load("reintegration-q2")
        notes = next(e for e in history if "notes" in e.envelope.data).envelope.data["notes"]
        assert await runtime.cipher.decrypt(Encrypted.model_validate(notes)) is ERASED


async def test_rebuilt_read_models_answer_the_same(reintegration: RunningReintegration) -> None:
    r = reintegration
    await r.arrive("r1")
    await r.arrive("r2", office="BR-GRU")
    await r.arrive("r3")  # waitlisted
    await r.agree_plan("r1", plan())
    assert (await r.disburse("r1", "120.00")).status_code == 201
    visit = {"due_month": 1, "visited_on": "2026-04-15", "notes": "doing well"}
    assert (await r.post("/cases/r1/monitoring-visits", visit)).status_code == 201
    await r.complete("r2")
    await r.wait_for("r3", decision="granted")
    await r.wait_for("r1", disbursed_total="120.00")

    paths = [
        "/cases/r1",
        "/cases/r1/ledger",
        "/cases/r1/monitoring?as_of=2026-08-01",
        "/cases/r2/sustainability",
        "/cases/r3",
        "/programmes/test-avr/totals",
        "/monitoring/overdue?office=BR-BSB&as_of=2026-08-01",
    ]

    async def snapshot() -> list[object]:
        return [(await r.http.get(p, headers=HEADQUARTERS)).json() for p in paths]

    async def visit_projected() -> bool:
        visits = (await r.http.get("/cases/r1/monitoring", headers=OFFICER)).json()
        return bool(visits[0]["visited_on"])

    await eventually(visit_projected)
    before = await snapshot()
    runner = ProjectionRunner(r.runtime.db, r.runtime.service.registry, r.runtime.group)
    for projection in r.runtime.projections:
        replayed = await runner.rebuild(projection)
        # No withdrawal conflict in this story: that list rebuilds empty.
        assert replayed > 0 or projection.name == "reintegration_withdrawal_conflicts"
    assert await snapshot() == before
