"""Counselling sessions; deciding not to apply closes the case, and a closed case stays closed."""

from __future__ import annotations

from intake_fixtures import Intake

SESSION = {
    "held_on": "2026-01-05",
    "office": "GT-GUA",
    "language": "es",
    "topics": ["return process", "reintegration support"],
    "outcome": "continue_counselling",
    "notes": "Wants to talk to her sister first.",
}


async def test_counselling_sessions_appear_in_the_case_file(intake: Intake) -> None:
    created = await intake.open_case()
    response = await intake.http.post(
        f"/cases/{created['case_id']}/counselling-sessions", json=SESSION
    )
    assert response.status_code == 201, response.text
    assert response.json()["events"] == ["avrr.intake.CounsellingRecorded"]
    case = await intake.wait_for(created["case_id"], version=2)
    [session] = case["counselling"]
    assert session["outcome"] == "continue_counselling"
    assert session["counsellor"] == "caseworker-1"
    assert session["notes"] == "Wants to talk to her sister first."
    assert case["status"] == "open"


async def test_deciding_not_to_apply_closes_the_case_with_that_reason(intake: Intake) -> None:
    created = await intake.open_case()
    case_id = created["case_id"]
    response = await intake.http.post(
        f"/cases/{case_id}/counselling-sessions",
        json={**SESSION, "outcome": "decided_not_to_apply"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["events"] == [
        "avrr.intake.CounsellingRecorded",
        "avrr.intake.CaseClosed",
    ]
    case = await intake.wait_for(case_id, version=3)
    assert case["status"] == "closed"
    assert case["closure"]["reason"] == "decided_not_to_apply"

    refused = await intake.http.post(f"/cases/{case_id}/counselling-sessions", json=SESSION)
    assert refused.status_code == 422
    assert "closed" in refused.json()["detail"]
    assert len(await intake.event_types(case_id)) == 3
