"""Issue 18: a rectified date of birth after the return was requested reaches the services that
decide on ages, through the REST APIs: as four separate processes over real Kafka and
PostgreSQL, and on the embedded default (one app, SQLite, in-process bus).

The mother was 16, not 36: intake records the rectification and the household's
facts as corrected (HouseholdFactsCorrected: ages and unaccompanied children, no
date), eligibility's assessment takes them (HouseholdCorrected): both are
unaccompanied children now, and due diligence does not clear the return without
their best-interests determinations. After clearance eligibility passes the
correction on (cleared), travel's movement takes it (TravellersCorrected), and
the children travel only with an escort: the ticket without one is refused.
"""

from __future__ import annotations

from datetime import date

from journey_steps import (
    CASEWORKER,
    DUE_DILIGENCE_CLEARED,
    TRAVEL_OFFICER,
    Platform,
    at_least,
    booking,
    clear,
    open_case,
    ready_to_travel,
    request_return,
)


async def test_a_corrected_age_reaches_eligibility(platform_on_each_stack: Platform) -> None:
    await corrected_age(platform_on_each_stack)


SIXTEEN = date(date.today().year - 16, 1, 1).isoformat()


async def corrected_age(p: Platform) -> None:
    await before_clearance(p)
    await after_clearance(p)


async def before_clearance(p: Platform) -> None:
    case = await open_case(p, n=19)
    c = case.case_id
    await request_return(p, case)

    sixteen = SIXTEEN
    correction = {"person_id": case.mother, "date_of_birth": sixteen, "reason": "new_document"}
    fixed, t = await p.post(
        "intake", f"/cases/{c}/rectifications", correction, CASEWORKER, expect=201
    )
    assert fixed["events"] == [
        "avrr.intake.PersonalDataRectified",
        "avrr.intake.HouseholdFactsCorrected",
    ], fixed
    doc = await p.case_shows("intake", c, at_least(fixed["version"]), hop="rectify", since=t)
    assert all(m["unaccompanied_minor"] for m in doc["household"]), doc["household"]

    assessment = await p.case_shows(
        "eligibility",
        c,
        lambda a: a.get("unaccompanied_children") == 2,
        hop="intake -> eligibility: household corrected",
        since=t,
        cross_service=True,
    )
    ages = {m["person_id"]: m["age_years"] for m in assessment["household"]}
    assert ages[case.mother] == 16, assessment
    assert sixteen not in str(assessment)

    checked = await p.clients["eligibility"].post(
        f"/assessments/{c}/due-diligence", json=DUE_DILIGENCE_CLEARED, headers=CASEWORKER
    )
    assert "avrr.eligibility.DueDiligenceCleared" not in checked.text, checked.text
    assert "best-interests determination" in checked.text, checked.text


async def after_clearance(p: Platform) -> None:
    case = await open_case(p, n=20)
    c = case.case_id
    await request_return(p, case)
    await clear(p, case)

    correction = {"person_id": case.mother, "date_of_birth": SIXTEEN, "reason": "new_document"}
    fixed, t = await p.post(
        "intake", f"/cases/{c}/rectifications", correction, CASEWORKER, expect=201
    )
    assert fixed["events"][-1] == "avrr.intake.HouseholdFactsCorrected", fixed
    movement = await p.case_shows(
        "travel",
        c,
        lambda m: all(t["unaccompanied_minor"] for t in m["travellers"]),
        hop="intake -> eligibility -> travel: travellers corrected",
        since=t,
        cross_service=True,
    )
    ages = {t["person_id"]: t["age_years"] for t in movement["travellers"]}
    assert ages[case.mother] == 16, movement

    await ready_to_travel(p, c, {case.mother: "passport", case.child: "passport"})
    refused = await p.refused("travel", f"/movements/{c}/ticket", booking("TS-R19"), TRAVEL_OFFICER)
    assert "escort" in refused.text, refused.text
