"""Travel's read models are disposable: a rebuild from the journal gives the same answers."""

from __future__ import annotations

from travel_fixtures import MEDIC, Travel, ticket

from avrr_events import ProjectionRunner
from avrr_travel.events import registry
from avrr_travel.read_models import projections


async def test_rebuilt_read_models_answer_the_same(travel: Travel) -> None:
    case = "case-rebuild"
    await travel.opened(case)
    await travel.make_ready(case, ["p-mother", "p-daughter"])
    await travel.consent_to_medical_data(case, "p-mother")
    r = await travel.post(
        f"/movements/{case}/fitness",
        {"person_id": "p-mother", "outcome": "fit", "health_details": "no findings"},
        MEDIC,
    )
    assert r.status_code == 200
    r = await travel.post(f"/movements/{case}/ticket", ticket())
    assert r.status_code == 200
    before = await travel.wait_for(case, version=r.json()["version"])
    medical_before = (await travel.http.get(f"/movements/{case}/medical", headers=MEDIC)).json()

    runner = ProjectionRunner(travel.runtime.db, registry, travel.runtime.group)
    for projection in projections():
        replayed = await runner.rebuild(projection)
        # No withdrawal conflict in this story: that list rebuilds empty.
        assert replayed > 0 or projection.name == "travel_withdrawal_conflicts"

    assert await travel.movement(case) == before
    medical_after = (await travel.http.get(f"/movements/{case}/medical", headers=MEDIC)).json()
    assert medical_after == medical_before
