"""Due diligence over REST: best interests of children, destination safety, bad input, races."""

from __future__ import annotations

import asyncio

from eligibility_fixtures import (
    SUPERVISOR,
    Eligibility,
    adult,
    checklist_json,
    household_json,
    return_requested,
    unaccompanied_child,
)


async def test_unaccompanied_child_without_best_interests_determination_cannot_be_cleared(
    eligibility: Eligibility,
) -> None:
    http = eligibility.http
    await eligibility.from_intake(
        "ReturnRequested",
        return_requested("uasc-1", household=household_json(unaccompanied_child("c1", age=15))),
    )
    doc = await eligibility.assessment("uasc-1", status="eligible")
    assert doc["unaccompanied_children"] == 1
    assert doc["vulnerability_priority"] == 3  # unaccompanied children go to the top

    checklist = checklist_json(family_or_receiving_contact_reached=True)
    refused = await http.post("/assessments/uasc-1/due-diligence", json=checklist)
    assert refused.status_code == 200, refused.text
    assert refused.json()["events"] == [
        "avrr.eligibility.DueDiligenceChecked",
        "avrr.eligibility.DueDiligenceRejected",
    ]
    assert refused.json()["reasons"] == [
        "No best-interests determination is recorded for unaccompanied or separated child c1: "
        "it is required before a child's return is cleared."
    ]
    await eligibility.assessment("uasc-1", status="due_diligence_rejected")

    bid = await http.post(
        "/assessments/uasc-1/best-interests-determinations",
        json={"person_id": "c1", "outcome": "return_in_best_interests"},
    )
    assert bid.status_code == 201, bid.text
    cleared = await http.post("/assessments/uasc-1/due-diligence", json=checklist)
    assert cleared.json()["events"] == [
        "avrr.eligibility.DueDiligenceChecked",
        "avrr.eligibility.DueDiligenceCleared",
    ]
    await eligibility.assessment("uasc-1", status="cleared")

    events = await eligibility.published(7)
    clearance = next(e for e in events if e.type == "avrr.eligibility.DueDiligenceCleared")
    assert clearance.subject == "uasc-1"
    assert clearance.data["programme_id"] == "mesoamerica-avr"
    assert clearance.data["transport_mode"] == "air"
    assert clearance.data["office"] == "MX-TAP"
    assert clearance.data["destination_country"] == "HN"
    assert clearance.data["household"][0]["unaccompanied_minor"] is True
    rejection = next(e for e in events if e.type == "avrr.eligibility.DueDiligenceRejected")
    assert "best-interests determination" in rejection.data["reasons"][0]

    again = await http.post("/assessments/uasc-1/due-diligence", json=checklist)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


async def test_suspended_destination_cannot_be_cleared_and_cleared_cases_are_flagged(
    eligibility: Eligibility,
) -> None:
    http = eligibility.http
    await eligibility.from_intake("ReturnRequested", return_requested("hn-cleared"))
    await eligibility.from_intake(
        "ReturnRequested", return_requested("hn-waiting", region="Gracias a Dios")
    )
    await eligibility.from_intake(
        "ReturnRequested", return_requested("sv-cleared", nationality="SV")
    )
    for case_id in ("hn-cleared", "sv-cleared"):
        await eligibility.assessment(case_id)
        response = await http.post(f"/assessments/{case_id}/due-diligence", json=checklist_json())
        assert response.json()["events"][-1] == "avrr.eligibility.DueDiligenceCleared"
    await eligibility.assessment("hn-waiting")

    # Only supervisors decide on destination safety.
    suspension = {"destination_country": "HN", "reason": "armed violence on the return route"}
    assert (await http.post("/destinations/suspensions", json=suspension)).status_code == 403
    suspended = await http.post("/destinations/suspensions", json=suspension, headers=SUPERVISOR)
    assert suspended.status_code == 201, suspended.text
    assert suspended.json()["events"] == ["avrr.eligibility.DestinationSuspended"]
    twice = await http.post("/destinations/suspensions", json=suspension, headers=SUPERVISOR)
    assert twice.status_code == 409

    # The case cleared before is flagged for travel to hold; the Salvadoran one is not.
    await eligibility.assessment("hn-cleared", destination_suspended=True)
    assert (await eligibility.assessment("sv-cleared"))["destination_suspended"] is False
    held = await http.get(
        "/assessments",
        params={"office": "MX-TAP", "status": "cleared", "destination_suspended": "true"},
    )
    assert [i["case_id"] for i in held.json()["items"]] == ["hn-cleared"]
    listed = (await http.get("/destinations/suspensions")).json()["items"]
    assert [(s["destination_country"], s["cleared_cases_held"]) for s in listed] == [("HN", 1)]

    refused = await http.post("/assessments/hn-waiting/due-diligence", json=checklist_json())
    assert refused.json()["events"][-1] == "avrr.eligibility.DueDiligenceRejected"
    [reason] = refused.json()["reasons"]
    assert reason.startswith("Returns to Honduras are suspended since ")
    assert reason.endswith("for safety reasons: armed violence on the return route")

    reopen = {"destination_country": "HN", "reason": "the route is safe again"}
    reopened = await http.post("/destinations/reopenings", json=reopen, headers=SUPERVISOR)
    assert reopened.status_code == 200, reopened.text
    await eligibility.assessment("hn-cleared", destination_suspended=False)
    cleared = await http.post("/assessments/hn-waiting/due-diligence", json=checklist_json())
    assert cleared.json()["events"][-1] == "avrr.eligibility.DueDiligenceCleared"

    events = await eligibility.published(12)
    place = next(e for e in events if e.type == "avrr.eligibility.DestinationSuspended")
    assert place.subject == "destination:HN"
    assert place.data["suspended_by"] == "supervisor-1"


async def test_region_suspension_only_blocks_that_region(eligibility: Eligibility) -> None:
    http = eligibility.http
    await eligibility.from_intake(
        "ReturnRequested", return_requested("region-1", region="Gracias a Dios")
    )
    await eligibility.from_intake(
        "ReturnRequested", return_requested("capital-1", region="Francisco Morazán")
    )
    suspension = {
        "destination_country": "HN",
        # Typed differently from intake's "Gracias a Dios": still the same region.
        "destination_region": "gracias a  DIOS",
        "reason": "flooding closed the roads",
    }
    assert (
        await http.post("/destinations/suspensions", json=suspension, headers=SUPERVISOR)
    ).status_code == 201
    await eligibility.assessment("region-1")
    await eligibility.assessment("capital-1")
    refused = await http.post("/assessments/region-1/due-diligence", json=checklist_json())
    assert refused.json()["reasons"][0].startswith(
        "Returns to gracias a  DIOS (Honduras) are suspended"
    )
    cleared = await http.post("/assessments/capital-1/due-diligence", json=checklist_json())
    assert cleared.json()["events"][-1] == "avrr.eligibility.DueDiligenceCleared"


async def test_bad_input_is_a_422_problem_and_writes_nothing(eligibility: Eligibility) -> None:
    http = eligibility.http
    await eligibility.from_intake(
        "ReturnRequested",
        return_requested("bad-1", household=household_json(adult("p1"), adult("p2"))),
    )
    before = await eligibility.assessment("bad-1")
    incomplete = {k: v for k, v in checklist_json().items() if k != "identity_verified"}
    cases = [
        ("/assessments/bad-1/due-diligence", incomplete),
        ("/assessments/bad-1/due-diligence", {**checklist_json(), "notes": "free text"}),
        (
            "/assessments/bad-1/vulnerability-screenings",
            {"categories": [{"category": "rich", "severity": "high"}]},
        ),
        (
            "/assessments/bad-1/vulnerability-screenings",
            {"person_id": "stranger", "categories": []},
        ),
        (
            "/assessments/bad-1/best-interests-determinations",
            {"person_id": "p1", "outcome": "return_in_best_interests"},
        ),
    ]
    for path, body in cases:
        response = await http.post(path, json=body)
        assert response.status_code == 422, (path, body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    bad_place = {"destination_country": "XX", "reason": "unknown place"}
    response = await http.post("/destinations/suspensions", json=bad_place, headers=SUPERVISOR)
    assert response.status_code == 422
    assert (await http.get("/assessments/nope")).status_code == 404
    missing = await http.post("/assessments/nope/due-diligence", json=checklist_json())
    assert missing.status_code == 404

    # Nothing was written: the stream is where it was.
    version = await eligibility.runtime.store.stream_version("assessment-bad-1")
    assert version == before["version"] == 2


async def test_concurrent_writers_one_wins_the_other_gets_409_or_412(
    eligibility: Eligibility,
) -> None:
    http = eligibility.http
    await eligibility.from_intake("ReturnRequested", return_requested("race-1"))
    doc = await eligibility.assessment("race-1")
    body = {"person_id": "p1", "categories": [{"category": "health_needs", "severity": "low"}]}
    responses = await asyncio.gather(
        *(
            http.post(
                "/assessments/race-1/vulnerability-screenings",
                json=body,
                headers={"If-Match": f'"{doc["version"]}"'},
            )
            for _ in range(2)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes[0] == 201 and codes[1] in (409, 412), codes
    assert await eligibility.runtime.store.stream_version("assessment-race-1") == 3
    stale = await http.post(
        "/assessments/race-1/vulnerability-screenings", json=body, headers={"If-Match": '"2"'}
    )
    assert stale.status_code == 412


async def test_idempotency_key_replays_instead_of_writing_twice(eligibility: Eligibility) -> None:
    http = eligibility.http
    await eligibility.from_intake("ReturnRequested", return_requested("idem-1"))
    await eligibility.assessment("idem-1")
    headers = {"Idempotency-Key": "screening-42"}
    body = {"categories": [{"category": "lgbtiq", "severity": "medium"}]}
    first = await http.post(
        "/assessments/idem-1/vulnerability-screenings", json=body, headers=headers
    )
    second = await http.post(
        "/assessments/idem-1/vulnerability-screenings", json=body, headers=headers
    )
    assert first.status_code == second.status_code == 201
    assert second.headers.get("Idempotency-Replayed") == "true"
    assert await eligibility.runtime.store.stream_version("assessment-idem-1") == 3
