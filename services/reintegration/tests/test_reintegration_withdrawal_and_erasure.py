"""CaseWithdrawn and PersonalDataErased stop a case for good; invalid inbound events are
dead-lettered (real Kafka and PostgreSQL)."""

from __future__ import annotations

from reintegration_fixtures import ARRIVED, OFFICER, RunningReintegration, plan
from sqlalchemy import select

from avrr_events import ERASED, Encrypted
from avrr_events.testing import eventually, read_topic
from avrr_reintegration import read_models

STOPPED = "avrr.reintegration.ReintegrationStopped"
ARRIVAL = "avrr.travel.ArrivalConfirmed"


async def test_a_withdrawn_case_records_nothing_more(reintegration: RunningReintegration) -> None:
    r = reintegration
    await r.arrive("w1")
    await r.agree_plan("w1", plan())
    await r.withdraw_case("w1", ARRIVED)
    await r.wait_for("w1", status="withdrawn")
    version = await r.stream_version("w1")
    refused = await r.disburse("w1", "10.00")
    assert refused.status_code == 422 and "withdrawn" in refused.json()["detail"]
    visit = await r.post(
        "/cases/w1/monitoring-visits", {"due_month": 1, "visited_on": "2026-04-15"}
    )
    assert visit.status_code == 422
    assert await r.stream_version("w1") == version
    overdue = await r.http.get(
        "/monitoring/overdue?office=BR-BSB&as_of=2026-12-01", headers=OFFICER
    )
    assert overdue.json()["items"] == []  # no visits are owed to a withdrawn case


async def test_a_withdrawal_seen_before_the_arrival_means_no_decision(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    await r.withdraw_case("w2", ARRIVED)
    await r.events(subject="w2", wanted=STOPPED)
    await r.arrive("w2", wait=False)
    await r.taken_in("w2", ARRIVAL, 1)
    assert await r.case("w2") is None
    assert [e.envelope.type for e in await r.runtime.store.load("reintegration-w2")] == [STOPPED]


async def test_erasure_stops_the_case_shreds_its_notes_and_keeps_only_totals(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    await r.assess("e1", "e1-1", ("victim_of_trafficking", "high"))
    await r.arrive("e1")
    await r.agree_plan("e1", plan())
    assert (await r.disburse("e1", "200.00")).status_code == 201
    visit = {"due_month": 1, "visited_on": "2026-04-15", "notes": "threatened by the recruiter"}
    assert (await r.post("/cases/e1/monitoring-visits", visit)).status_code == 201
    await r.wait_for("e1", disbursed_total="200.00")
    agreed = (await r.http.get("/cases/e1/plan", headers=OFFICER)).json()
    assert agreed["components"][0]["activity"] == "micro-business: sewing workshop"

    await r.publish(
        "intake",
        "avrr.intake.PersonalDataErased",
        "e1",
        {"case_id": "e1", "person_ids": ["e1-1"], "erased_at": ARRIVED.isoformat()},
    )

    async def forgotten() -> bool:
        return await r.case("e1") is None

    await eventually(forgotten)
    for path in ("/cases/e1/ledger", "/cases/e1/monitoring", "/cases/e1/sustainability"):
        assert (await r.http.get(path, headers=OFFICER)).status_code == 404
    async with r.runtime.db.engine.connect() as conn:
        for table in (*read_models.PER_CASE_TABLES, read_models.vulnerability_priorities):
            assert (await conn.execute(select(table).where(table.c.case_id == "e1"))).all() == []
    totals = (await r.http.get("/programmes/test-avr/totals", headers=OFFICER)).json()
    assert (totals["disbursed_total"], totals["disbursements"], totals["granted"]) == (
        "200.00",
        1,
        1,
    )

    # The notes are still in the event store and on the topic, as ciphertext nobody can read.
    history = await r.runtime.store.load("reintegration-e1")
    recorded = next(e for e in history if e.envelope.type.endswith("MonitoringVisitRecorded"))
    notes = Encrypted.model_validate(recorded.envelope.data["notes"])
    assert "recruiter" not in str(recorded.envelope.data)
    assert await r.runtime.cipher.decrypt(notes) is ERASED
    # So are the plan's activities (issue 15: they were plaintext, out of erasure's reach).
    agreed_event = next(e for e in history if e.envelope.type.endswith("PlanAgreed"))
    assert "sewing" not in str(agreed_event.envelope.data)
    activity = Encrypted.model_validate(agreed_event.envelope.data["components"][0]["activity"])
    assert await r.runtime.cipher.decrypt(activity) is ERASED

    # Stopped for good: no command, no later inbound event writes anything for the case.
    version = await r.stream_version("e1")
    assert history[-1].envelope.type == STOPPED
    refused = await r.disburse("e1", "10.00")
    assert refused.status_code == 422 and "erased" in refused.json()["detail"]
    await r.arrive("e1", wait=False)
    await r.taken_in("e1", ARRIVAL, 2)
    assert await r.stream_version("e1") == version


async def test_an_invalid_arrival_is_dead_lettered_and_the_consumer_goes_on(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    await r.publish(
        "travel",
        "avrr.travel.ArrivalConfirmed",
        "bad",
        {"case_id": "bad", "office": "BR-BSB", "arrived_at": ARRIVED.isoformat()},
    )
    await r.arrive("good")
    dead = await read_topic(r.kafka, r.dead_letter_topic, 1)
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert headers["dlq_reason"] == b"invalid_payload"
    assert await r.case("bad") is None
