"""A person who joins the household: put on the request and decided again before clearance
(HouseholdMemberJoined), screened as everyone (an unaccompanied child's best-interests
determination before clearance); after clearance the clearance lapses (HouseholdMemberJoined,
clearance_lapsed) for the household to be cleared again as a whole, and stands again when intake
reverses an addition travel refused (the household had departed: HouseholdAdditionRefused), on
real PostgreSQL and Kafka."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from eligibility_fixtures import (
    Eligibility,
    adult,
    checklist_json,
    household_json,
    return_requested,
)
from test_eligibility_household_removal import clear
from test_eligibility_return_amendment import until_recorded

JOINED = "avrr.eligibility.HouseholdMemberJoined"
REFUSED = "avrr.eligibility.HouseholdAdditionRefused"
DECIDED = "avrr.eligibility.EligibilityDecided"


def added(case_id: str, person_id: str, **member: Any) -> dict[str, Any]:
    """intake's HouseholdMemberAdded as published (fields eligibility does not read too)."""
    facts = {"age_years": 30, "sex": "male", "relationship": "spouse", "unaccompanied_minor": False}
    facts.update(member)
    sealed = {"alg": "AES-256-GCM", "subject": person_id, "nonce": "bm9uY2U=", "ct": "Y3Q="}
    return {
        "case_id": case_id,
        "member": {"person_id": person_id, **facts, "personal": sealed, "duplicate_key": sealed},
        "reason": "joined_household",
        "household_size": 2,
        "added_by": "caseworker-1",
        "added_at": datetime.now(UTC).isoformat(),
    }


async def assessed_mother(eligibility: Eligibility) -> str:
    """A mother's return request, assessed (eligible): its case id."""
    case_id = f"join-{uuid.uuid4()}"
    household = household_json(adult(f"{case_id}-mother"))
    await eligibility.from_intake("ReturnRequested", return_requested(case_id, household=household))
    await eligibility.assessment(case_id)
    return case_id


async def spouse_added_after_clearance(eligibility: Eligibility) -> tuple[str, str, list[Any]]:
    """A mother's case cleared, then her spouse added at intake: the case, the spouse and
    the assessment's events once eligibility recorded the addition."""
    case_id = await assessed_mother(eligibility)
    await clear(eligibility, case_id)
    spouse = f"{case_id}-spouse"
    await eligibility.from_intake("HouseholdMemberAdded", added(case_id, spouse))
    return case_id, spouse, await until_recorded(eligibility, case_id, JOINED)


async def test_before_clearance_the_new_member_is_on_the_request_and_screened(
    eligibility: Eligibility,
) -> None:
    case_id = await assessed_mother(eligibility)
    spouse = f"{case_id}-spouse"
    # Not a member yet: no screening of them.
    early = await eligibility.http.post(
        f"/assessments/{case_id}/vulnerability-screenings",
        json={"person_id": spouse, "categories": []},
    )
    assert early.status_code == 422, early.text

    await eligibility.from_intake("HouseholdMemberAdded", added(case_id, spouse))
    events = await until_recorded(eligibility, case_id, JOINED)
    types = [e.type for e in events]
    assert types[types.index(JOINED) + 1] == DECIDED, types
    joined = next(e for e in events if e.type == JOINED)
    assert [m["person_id"] for m in joined.data["household"]] == [f"{case_id}-mother", spouse]
    assert "personal" not in str(joined.data)  # facts only, never their sealed data
    row = await eligibility.assessment(case_id, household_size=2)
    assert row["status"] == "eligible"
    screened = await eligibility.http.post(
        f"/assessments/{case_id}/vulnerability-screenings",
        json={
            "person_id": spouse,
            "categories": [{"category": "victim_of_trafficking", "severity": "high"}],
        },
    )
    assert screened.status_code == 201, screened.text

    # A redelivered addition changes nothing; the clearance names the household with them.
    await eligibility.from_intake("HouseholdMemberAdded", added(case_id, spouse))
    await clear(eligibility, case_id)
    events = await until_recorded(eligibility, case_id, "avrr.eligibility.DueDiligenceCleared")
    assert [e.type for e in events].count(JOINED) == 1
    cleared = next(e for e in events if e.type == "avrr.eligibility.DueDiligenceCleared")
    assert [m["person_id"] for m in cleared.data["household"]] == [f"{case_id}-mother", spouse]


async def test_a_child_alone_needs_a_best_interests_determination_before_clearance(
    eligibility: Eligibility,
) -> None:
    case_id = f"join-{uuid.uuid4()}"
    sister = f"{case_id}-sister"
    household = household_json(
        adult(f"{case_id}-girl", age_years=16, relationship="principal", unaccompanied_minor=True)
    )
    await eligibility.from_intake("ReturnRequested", return_requested(case_id, household=household))
    await eligibility.assessment(case_id)
    await eligibility.http.post(
        f"/assessments/{case_id}/best-interests-determinations",
        json={"person_id": f"{case_id}-girl", "outcome": "return_in_best_interests"},
    )
    child = {"age_years": 12, "sex": "female", "relationship": "sibling"}
    await eligibility.from_intake(
        "HouseholdMemberAdded", added(case_id, sister, **child, unaccompanied_minor=True)
    )
    await until_recorded(eligibility, case_id, JOINED)
    checklist = checklist_json(family_or_receiving_contact_reached=True)
    refused = await eligibility.http.post(f"/assessments/{case_id}/due-diligence", json=checklist)
    assert refused.json()["events"][-1] == "avrr.eligibility.DueDiligenceRejected", refused.text
    [reason] = refused.json()["reasons"]
    assert sister in reason and f"{case_id}-girl" not in reason, reason


async def test_after_clearance_the_clearance_lapses_and_is_given_again(
    eligibility: Eligibility,
) -> None:
    case_id, spouse, events = await spouse_added_after_clearance(eligibility)
    joined = events[-2]
    assert joined.type == JOINED and joined.data["clearance_lapsed"] is True, events
    assert events[-1].type == DECIDED
    # Awaiting due diligence again.
    await eligibility.assessment(case_id, household_size=2, status="eligible")
    await clear(eligibility, case_id)
    events = await until_recorded(eligibility, case_id, "avrr.eligibility.DueDiligenceCleared")
    cleared = [e for e in events if e.type == "avrr.eligibility.DueDiligenceCleared"]
    assert len(cleared) == 2, [e.type for e in events]
    assert [m["person_id"] for m in cleared[-1].data["household"]] == [
        f"{case_id}-mother",
        spouse,
    ]


async def test_an_addition_travel_refused_leaves_the_clearance_standing(
    eligibility: Eligibility,
) -> None:
    case_id, spouse, _ = await spouse_added_after_clearance(eligibility)
    # Travel refused it (departed), and intake reversed the addition.
    reversed_ = {
        "case_id": case_id,
        "person_id": spouse,
        "household_size": 1,
        "reversed_at": datetime.now(UTC).isoformat(),
    }
    await eligibility.from_intake("HouseholdAdditionReversed", reversed_)
    events = await until_recorded(eligibility, case_id, REFUSED)
    assert events[-1].type == REFUSED and events[-1].data["person_id"] == spouse
    await eligibility.assessment(case_id, household_size=1, status="cleared")
    # A redelivered reversal changes nothing.
    await eligibility.from_intake("HouseholdAdditionReversed", reversed_)
    again = await eligibility.http.post(
        f"/assessments/{case_id}/due-diligence", json=checklist_json()
    )
    assert again.status_code == 409, again.text  # cleared already
