"""A person who leaves the household: assessed again without them before clearance, passed
on to travel after it (HouseholdMemberLeft, ``cleared``)."""

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
from test_eligibility_return_amendment import until_recorded

LEFT = "avrr.eligibility.HouseholdMemberLeft"
CLEARED = "avrr.eligibility.DueDiligenceCleared"


def removed(case_id: str, person_id: str) -> dict[str, Any]:
    """intake's HouseholdMemberRemoved as published (fields eligibility does not read too)."""
    return {
        "case_id": case_id,
        "person_id": person_id,
        "reason": "stays_in_host_country",
        "household_size": 1,
        "removed_by": "caseworker-1",
        "removed_at": datetime.now(UTC).isoformat(),
    }


def family(case_id: str) -> list[dict[str, Any]]:
    return household_json(
        adult(f"{case_id}-mother"), adult(f"{case_id}-aunt", relationship="sibling")
    )


async def assessed_family(eligibility: Eligibility) -> str:
    """A mother's and her sister's return request, assessed (eligible): its case id."""
    case_id = f"leave-{uuid.uuid4()}"
    await eligibility.from_intake(
        "ReturnRequested", return_requested(case_id, household=family(case_id))
    )
    await eligibility.assessment(case_id)
    return case_id


async def clear(eligibility: Eligibility, case_id: str) -> None:
    """Due diligence clears the case."""
    r = await eligibility.http.post(f"/assessments/{case_id}/due-diligence", json=checklist_json())
    assert r.json()["events"][-1] == CLEARED, r.text


async def aunt_leaves(eligibility: Eligibility, case_id: str) -> list[Any]:
    """Intake removes the aunt: the assessment's events once it recorded her leaving."""
    await eligibility.from_intake("HouseholdMemberRemoved", removed(case_id, f"{case_id}-aunt"))
    return await until_recorded(eligibility, case_id, LEFT)


async def test_before_clearance_the_request_is_assessed_again_without_them(
    eligibility: Eligibility,
) -> None:
    case_id = await assessed_family(eligibility)
    events = await aunt_leaves(eligibility, case_id)
    types = [e.type for e in events]
    assert types[types.index(LEFT) + 1] == "avrr.eligibility.EligibilityDecided", types
    left = next(e for e in events if e.type == LEFT)
    assert left.data["cleared"] is False
    assert [m["person_id"] for m in left.data["household"]] == [f"{case_id}-mother"]
    row = await eligibility.assessment(case_id, household_size=1)
    assert row["status"] == "eligible"

    # Cleared afterwards: the clearance names the household without them.
    await clear(eligibility, case_id)
    cleared = next(
        e
        for e in await until_recorded(eligibility, case_id, "avrr.eligibility.DueDiligenceCleared")
        if e.type == "avrr.eligibility.DueDiligenceCleared"
    )
    assert [m["person_id"] for m in cleared.data["household"]] == [f"{case_id}-mother"]


async def test_after_clearance_the_removal_is_passed_on_to_travel(
    eligibility: Eligibility,
) -> None:
    case_id = await assessed_family(eligibility)
    await clear(eligibility, case_id)

    events = await aunt_leaves(eligibility, case_id)
    assert events[-1].type == LEFT  # no new decision: the case stays cleared
    assert events[-1].data["cleared"] is True
    await eligibility.assessment(case_id, household_size=1, status="cleared")
