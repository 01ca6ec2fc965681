"""The read models are disposable: a rebuild from the journal gives the same queue and flags."""

from __future__ import annotations

from eligibility_fixtures import SUPERVISOR, Eligibility, checklist_json, return_requested

from avrr_eligibility.events import registry
from avrr_eligibility.read_models import AssessmentQueue
from avrr_events import ProjectionRunner


async def test_rebuilt_read_models_match_the_live_ones(eligibility: Eligibility) -> None:
    http = eligibility.http
    await eligibility.from_intake("ReturnRequested", return_requested("rb-1"))
    await eligibility.from_intake("ReturnRequested", return_requested("rb-2", nationality="SV"))
    await eligibility.assessment("rb-1")
    await eligibility.assessment("rb-2")
    screening = {"categories": [{"category": "victim_of_trafficking", "severity": "high"}]}
    await http.post("/assessments/rb-2/vulnerability-screenings", json=screening)
    await http.post("/assessments/rb-1/due-diligence", json=checklist_json())
    suspension = {"destination_country": "HN", "reason": "hurricane season closures"}
    await http.post("/destinations/suspensions", json=suspension, headers=SUPERVISOR)
    await eligibility.assessment("rb-1", destination_suspended=True, version=4)
    await eligibility.assessment("rb-2", vulnerability_priority=3)

    async def snapshot() -> tuple[object, object, object]:
        queue = await http.get(
            "/assessments", params={"office": "MX-TAP", "status": ["eligible", "cleared"]}
        )
        suspensions = await http.get("/destinations/suspensions")
        one = await http.get("/assessments/rb-1")
        return queue.json(), suspensions.json(), one.json()

    before = await snapshot()
    runner = ProjectionRunner(eligibility.runtime.db, registry, eligibility.runtime.group)
    replayed = await runner.rebuild(AssessmentQueue())
    assert replayed == 8  # 2 x (opened, decided) + screening + checked + cleared + suspended
    assert await snapshot() == before
