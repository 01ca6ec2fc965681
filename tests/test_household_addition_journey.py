"""Issue 18: a person joins the household before clearance, through the REST APIs of the
four services: as four separate processes over real Kafka and PostgreSQL, and on the
embedded default (one app, SQLite, in-process bus).

Intake records the addition with the new member's consent (the return was requested);
eligibility puts them on the request and decides again, and they are screened like
everyone; the clearance names them, and travel's movement carries them: no ticket until
their travel document and fitness are recorded. A spouse who joins after the ticket lapses
the clearance: eligibility awaits due diligence again with them on the request, travel's
movement waits (the ticket void) for the household's new clearance, which opens it with
everyone; re-ticketed, the household departs with them. Once intake has seen the departure a
further addition is refused (409) naming the phase.
"""

from __future__ import annotations

from typing import Any

from journey_steps import (
    CASEWORKER,
    DUE_DILIGENCE_CLEARED,
    TRAVEL_OFFICER,
    Platform,
    at_least,
    booking,
    case_through,
    intake_in_phase,
    ready_to_travel,
    refused_too_late,
    request_return,
    status,
)

NEWBORN = {
    "given_names": "Rosa Amelia",
    "family_name": "Lópes",
    "date_of_birth": "2025-11-02",
    "sex": "female",
    "relationship": "child",
}

SPOUSE = {
    "given_names": "Mateo",
    "family_name": "Quispe",
    "date_of_birth": "1990-04-18",
    "sex": "male",
    "relationship": "spouse",
}


async def test_an_added_member_is_screened_cleared_and_travels(
    platform_on_each_stack: Platform,
) -> None:
    await joining(platform_on_each_stack)


async def eligible_with(
    p: Platform, case_id: str, person_id: str, size: int, hop: str, *, since: float
) -> None:
    """Until eligibility's assessment is of a household of ``size`` with ``person_id`` in it,
    eligible: it took the addition in and decided again."""
    assessment = await p.case_shows(
        "eligibility",
        case_id,
        lambda a: a["household_size"] == size and a["status"] == "eligible",
        hop=hop,
        since=since,
        cross_service=True,
    )
    assert person_id in [m["person_id"] for m in assessment["household"]]


async def joining(p: Platform) -> None:
    """Add a newborn with her guardian's consent, screen, clear, ticket once she is ready."""
    case = await case_through(p, request_return, n=18)
    c = case.case_id

    consent: dict[str, Any] = {
        "purposes": ["return_assistance_processing"],
        "given_on": "2026-01-10",
        "given_by": "guardian",
        "representative_person_id": case.mother,
        "language": "es",
    }
    body = {"person": NEWBORN, "reason": "born", "consent": consent}
    added, t = await p.post(
        "intake", f"/cases/{c}/household/additions", body, CASEWORKER, expect=201
    )
    assert added["events"] == ["avrr.intake.HouseholdMemberAdded", "avrr.intake.ConsentGiven"]
    newborn = added["person_id"]
    doc = await p.case_shows("intake", c, at_least(added["version"]), hop="add", since=t)
    assert len(doc["household"]) == 3, doc
    await eligible_with(p, c, newborn, 3, "intake -> eligibility: member added", since=t)

    movement = await screened_and_cleared(p, c, newborn, "eligibility -> travel: cleared")
    travellers = sorted(m["person_id"] for m in movement["travellers"])
    assert travellers == sorted([case.mother, case.child, newborn]), movement

    # Everyone else ready: the ticket waits for the newborn's document and fitness.
    await ready_to_travel(p, c, {case.mother: "passport", case.child: "passport"})
    early = await p.refused("travel", f"/movements/{c}/ticket", booking("TS-1"), TRAVEL_OFFICER)
    assert {m.get("person_id") for m in early.json()["missing"]} == {newborn}, early.text
    await ready_to_travel(p, c, {newborn: "emergency_travel_document"})
    issued, _ = await p.post(
        "travel", f"/movements/{c}/ticket", booking("TS-1"), TRAVEL_OFFICER, expect=200
    )
    assert issued["status"] == "ticketed", issued

    await intake_in_phase(p, c, "ticketed")
    # A spouse joins after the ticket: the clearance lapses for the household as a whole.
    spouse_body = {
        "person": SPOUSE,
        "reason": "joined_household",
        "consent": {
            "purposes": ["return_assistance_processing"],
            "given_on": "2026-01-12",
            "language": "es",
        },
    }
    joined, t = await p.post(
        "intake", f"/cases/{c}/household/additions", spouse_body, CASEWORKER, expect=201
    )
    spouse = joined["person_id"]
    after_clearance = "intake -> eligibility: member added after clearance"
    await eligible_with(p, c, spouse, 4, after_clearance, since=t)
    await p.case_shows(
        "travel",
        c,
        status("not_opened"),
        hop="eligibility -> travel: clearance lapsed",
        since=t,
        cross_service=True,
    )
    # No departure without the new clearance: no movement is open (as for a reopened case).
    refused = await p.get("travel", f"/movements/{c}", TRAVEL_OFFICER)
    assert refused.json()["status"] == "not_opened", refused.text

    movement = await screened_and_cleared(p, c, spouse, "eligibility -> travel: cleared again")
    travellers = sorted(m["person_id"] for m in movement["travellers"])
    assert travellers == sorted([case.mother, case.child, newborn, spouse]), movement
    # Re-ticketed once everyone is ready again, the household departs with the spouse.
    await ready_to_travel(
        p,
        c,
        {
            case.mother: "passport",
            case.child: "passport",
            newborn: "emergency_travel_document",
            spouse: "passport",
        },
    )
    issued, _ = await p.post(
        "travel", f"/movements/{c}/ticket", booking("TS-2"), TRAVEL_OFFICER, expect=200
    )
    assert issued["status"] == "ticketed", issued
    _, t = await p.post("travel", f"/movements/{c}/departure", {}, TRAVEL_OFFICER, expect=200)
    departed = await p.case_shows("travel", c, status("departed"), hop="departure", since=t)
    assert len(departed["travellers"]) == 4, departed

    again = {**body, "reason": "joined_household"}
    path = f"/cases/{c}/household/additions"
    await refused_too_late(p, c, path, again, "departed", "arrived", "completed")


async def screened_and_cleared(p: Platform, c: str, person: str, hop: str) -> dict[str, Any]:
    """The new member screened, due diligence clears the household: travel's movement, once
    it opened (preparing) with everyone."""
    screening = {"person_id": person, "categories": []}
    await p.post(
        "eligibility",
        f"/assessments/{c}/vulnerability-screenings",
        screening,
        CASEWORKER,
        expect=201,
    )
    checked, t = await p.post(
        "eligibility",
        f"/assessments/{c}/due-diligence",
        DUE_DILIGENCE_CLEARED,
        CASEWORKER,
        expect=200,
    )
    assert checked["events"][-1] == "avrr.eligibility.DueDiligenceCleared", checked
    return await p.case_shows(
        "travel", c, status("preparing"), hop=hop, since=t, cross_service=True
    )
