"""Health details: recorded and read by the medical role only, encrypted everywhere else."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from travel_fixtures import CASEWORKER, MEDIC, OFFICER, Travel

from avrr_events import tables
from avrr_travel import read_models

DETAILS = {"condition": "insulin-dependent diabetes", "needs": "cold chain for insulin"}


async def test_medical_details_hidden_from_non_medical_roles(travel: Travel) -> None:
    case = "case-medical"
    await travel.opened(case)
    await travel.consent_to_medical_data(case, "p-mother", "p-daughter")

    # Only the medical role records fitness to travel.
    check = {"person_id": "p-mother", "outcome": "fit_with_escort", "health_details": DETAILS}
    r = await travel.post(f"/movements/{case}/fitness", check, OFFICER)
    assert r.status_code == 403
    r = await travel.post(f"/movements/{case}/fitness", check, MEDIC)
    assert r.status_code == 200, r.text
    r = await travel.post(
        f"/movements/{case}/fitness",
        {
            "person_id": "p-daughter",
            "outcome": "unfit",
            "unfit_until": str(date.today() + timedelta(days=5)),
            "health_details": "chickenpox, contagious",
        },
        MEDIC,
    )
    assert r.status_code == 200, r.text
    version = r.json()["version"]

    # Everyone else sees the outcome, never the details.
    for who in (CASEWORKER, OFFICER):
        detail = await travel.wait_for(case, version=version)
        text = json.dumps(detail)
        assert "insulin" not in text and "chickenpox" not in text
        assert detail["travellers"][0]["fitness_to_travel"]["outcome"] == "fit_with_escort"
        assert detail["travellers"][1]["fitness_to_travel"]["outcome"] == "unfit"
        r = await travel.http.get(f"/movements/{case}/medical", headers=who)
        assert r.status_code == 403
        assert "insulin" not in r.text

    # The medical role reads them decrypted.
    r = await travel.http.get(f"/movements/{case}/medical", headers=MEDIC)
    assert r.status_code == 200
    records = {rec["person_id"]: rec for rec in r.json()["records"]}
    assert records["p-mother"]["health_details"] == DETAILS
    assert records["p-daughter"]["health_details"] == "chickenpox, contagious"

    # Not in plaintext on the topic, in the event store, or in any read-model table.
    events = await travel.events(subject=case, wanted="avrr.travel.FitForTravelConfirmed")
    on_wire = json.dumps([e.data for e in events])
    assert "insulin" not in on_wire and "chickenpox" not in on_wire
    fit = [e for e in events if e.type == "avrr.travel.FitForTravelConfirmed"]
    assert fit[0].data["health_details"]["subject"] == "p-mother"
    async with travel.runtime.db.engine.connect() as conn:
        stored = [r.data for r in await conn.execute(select(tables.events.c.data))]
        views = [
            tuple(r) for t in read_models.views.sorted_tables for r in await conn.execute(select(t))
        ]
        medical = [tuple(r) for r in await conn.execute(select(read_models.medical_records))]
    for dump in (json.dumps(stored), repr(views), repr(medical)):
        assert "insulin" not in dump and "chickenpox" not in dump
    # The health details live only in the medical table, apart from the movement views.
    assert len(medical) == 2
    assert not any("ct" in repr(row) and "p-mother" in repr(row) for row in views)

    # Every look at the health details is in the runtime's audit trail, refused ones included.
    auditor = {"X-AVRR-User": "auditor-1", "X-AVRR-Roles": "auditor"}
    trail = await travel.http.get("/audit", params={"case_id": case}, headers=auditor)
    assert trail.status_code == 200
    medical_reads = [
        (e["actor"], e["outcome"])
        for e in trail.json()
        if e["route"] == "GET /movements/{case_id}/medical"
    ]
    assert ("doctor-1", 200) in medical_reads
    assert ("officer-1", 403) in medical_reads

    # Intake erases the mother (crypto-shredding): the medical view shows a marker, not an error.
    erased = await travel.publish(
        "intake",
        "avrr.intake.PersonalDataErased",
        case,
        {
            "case_id": case,
            "person_ids": ["p-mother"],
            "erased_at": datetime.now(UTC).isoformat(),
            "erased_by": "dpo-1",
        },
    )
    await travel.handled(erased)
    r = await travel.http.get(f"/movements/{case}/medical", headers=MEDIC)
    records = {rec["person_id"]: rec for rec in r.json()["records"]}
    assert records["p-mother"]["health_details"] == "erased"
    assert records["p-daughter"]["health_details"] == "chickenpox, contagious"
