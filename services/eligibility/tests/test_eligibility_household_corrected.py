"""Ages and sexes corrected in intake (a rectified date of birth or sex, HouseholdFactsCorrected)
reach the assessment: HouseholdCorrected before clearance (an unaccompanied child it reveals
needs a best-interests determination before the return is cleared; the decision is taken
again only if it changes), passed on to travel after it (``cleared``). Who left stays left;
the same facts again record nothing. Aggregate rules, then real PostgreSQL and Kafka.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from eligibility_fixtures import (
    CATALOGUE,
    NOW,
    Eligibility,
    adult,
    household_json,
    opened_assessment,
    return_requested,
)
from test_eligibility_household_removal import clear
from test_eligibility_return_amendment import until_recorded

from avrr_eligibility.assessment import EligibilityDecided, HouseholdCorrected
from avrr_eligibility.observed import HouseholdMember
from avrr_eligibility.programmes import decide

CORRECTED = "avrr.eligibility.HouseholdCorrected"


def minors(mother: str, son: str) -> list[HouseholdMember]:
    return [
        adult(mother, age_years=16, unaccompanied_minor=True),
        adult(son, age_years=8, sex="male", relationship="child", unaccompanied_minor=True),
    ]


def test_a_child_it_reveals_needs_a_best_interests_determination() -> None:
    household = [adult("m"), adult("s", age_years=8, sex="male", relationship="child")]
    assessment = opened_assessment(household=household)
    assert assessment.children_needing_best_interests() == []
    assessment.pending.clear()
    redecide = lambda request: decide(CATALOGUE, request)  # noqa: E731
    assert assessment.correct_household(minors("m", "s"), NOW, redecide, CATALOGUE.version)
    [event] = assessment.pending
    assert isinstance(event, HouseholdCorrected) and not event.cleared
    # The programme rules decide on the household's size, not its ages: no new decision.
    assert not any(isinstance(e, EligibilityDecided) for e in assessment.pending)
    assert assessment.children_needing_best_interests() == ["m", "s"]
    # The same facts again, or someone not on the request: nothing to record.
    assessment.pending.clear()
    outsider = adult("x", age_years=3)
    assert not assessment.correct_household(
        [*minors("m", "s"), outsider], NOW, redecide, CATALOGUE.version
    )
    assert [m.person_id for m in assessment.household] == ["m", "s"]


def corrected(case_id: str, household: list[HouseholdMember]) -> dict[str, Any]:
    """intake's HouseholdFactsCorrected as published (fields eligibility does not read too)."""
    return {
        "case_id": case_id,
        "person_id": f"{case_id}-mother",
        "household": household_json(*household),
        "corrected_at": datetime.now(UTC).isoformat(),
    }


async def test_the_queue_counts_the_children_and_travel_follows_after_clearance(
    eligibility: Eligibility,
) -> None:
    case_id = f"ages-{uuid.uuid4()}"
    mother, son = f"{case_id}-mother", f"{case_id}-son"
    family = household_json(adult(mother), adult(son, age_years=8, relationship="child"))
    await eligibility.from_intake("ReturnRequested", return_requested(case_id, household=family))
    await eligibility.assessment(case_id)
    await clear(eligibility, case_id)

    await eligibility.from_intake(
        "HouseholdFactsCorrected", corrected(case_id, minors(mother, son))
    )
    events = await until_recorded(eligibility, case_id, CORRECTED)
    assert events[-1].type == CORRECTED and events[-1].data["cleared"] is True
    # The queue is a projection: it shows the correction a moment after it was recorded.
    row = await eligibility.assessment(case_id, status="cleared", unaccompanied_children=2)
    assert row["unaccompanied_children"] == 2
