"""Issue 18: a person's data rectified and their destination changed before clearance,
through the REST APIs of the four services: as four separate processes over real Kafka
and PostgreSQL, and on the embedded default (one app, SQLite, in-process bus).

Intake records both; eligibility re-assesses the amended request, its clearance
names the new region, travel's movement follows it, and once intake has seen
the clearance a further change is refused (409) naming the phase. A member who
then leaves the household is taken off the movement by travel (through
eligibility, which passes the removal on after clearance).
"""

from __future__ import annotations

from journey_steps import (
    CASEWORKER,
    Platform,
    at_least,
    case_through,
    clear,
    refused_too_late,
    request_return,
)


async def test_rectification_amendment_and_removal_are_followed(
    platform_on_each_stack: Platform,
) -> None:
    await corrections(platform_on_each_stack)


async def corrections(p: Platform) -> None:
    """Rectify, amend, clear, a late amendment refused, a member removed from the movement."""
    case = await case_through(p, request_return, n=18)
    c = case.case_id

    correction = {
        "person_id": case.mother,
        "family_name": "Lópes Rectificada",
        "reason": "data_subject_request",
    }
    fixed, t = await p.post(
        "intake", f"/cases/{c}/rectifications", correction, CASEWORKER, expect=201
    )
    assert fixed["events"] == ["avrr.intake.PersonalDataRectified"], fixed
    doc = await p.case_shows("intake", c, at_least(fixed["version"]), hop="rectify", since=t)
    mother = next(m for m in doc["household"] if m["person_id"] == case.mother)
    assert mother["family_name"] == "Lópes Rectificada"

    change = {
        "destination_country": "HN",
        "destination_region": "Atlántida",
        "reason": "family_situation",
    }
    amended, t = await p.post(
        "intake", f"/cases/{c}/return-request/amendments", change, CASEWORKER, expect=201
    )
    assert amended["events"] == ["avrr.intake.ReturnRequestAmended"], amended
    assessment = await p.case_shows(
        "eligibility",
        c,
        lambda a: a.get("destination_region") == "Atlántida" and a["status"] == "eligible",
        hop="intake -> eligibility: return amended",
        since=t,
        cross_service=True,
    )
    assert assessment["destination_country"] == "HN"

    movement = await clear(p, case)
    assert movement["destination_region"] == "Atlántida", movement

    again = {**change, "destination_region": "Cortés"}
    late = await refused_too_late(p, c, f"/cases/{c}/return-request/amendments", again, "cleared")
    assert late["case_phase"] == "cleared"

    leaving = {"person_id": case.child, "reason": "stays_in_host_country"}
    removed, t = await p.post(
        "intake", f"/cases/{c}/household/removals", leaving, CASEWORKER, expect=201
    )
    assert removed["events"] == ["avrr.intake.HouseholdMemberRemoved"], removed
    movement = await p.case_shows(
        "travel",
        c,
        lambda m: [t["person_id"] for t in m["travellers"]] == [case.mother],
        hop="intake -> eligibility -> travel: member removed",
        since=t,
        cross_service=True,
    )
    assert movement["status"] == "preparing"
