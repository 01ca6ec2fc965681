"""A date of birth rectified in intake after clearance: the movement's travellers take the
corrected ages until departure (eligibility's HouseholdCorrected, ``cleared``).

The mother was 16, not 34: from TravellersCorrected on, her son and she are
unaccompanied children, and the household departs only with an escort; the
manifest shows the corrected ages. After departure, or before clearance (the
clearance names the corrected household), nothing is recorded. Real PostgreSQL
and Kafka.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from travel_fixtures import Travel, member, ticket

from avrr_events.envelope import Envelope
from avrr_travel.observed import HouseholdMember

CORRECTED = "avrr.travel.TravellersCorrected"


async def corrected(
    travel: Travel, case_id: str, household: list[HouseholdMember], *, cleared: bool = True
) -> Envelope:
    """Eligibility's HouseholdCorrected as published."""
    return await travel.publish(
        "eligibility",
        "avrr.eligibility.HouseholdCorrected",
        case_id,
        {
            "case_id": case_id,
            "household": [m.model_dump() for m in household],
            "cleared": cleared,
            "corrected_at": datetime.now(UTC).isoformat(),
        },
    )


def minors(case_id: str) -> list[HouseholdMember]:
    return [
        member(f"{case_id}-mother", 16, unaccompanied_minor=True),
        member(f"{case_id}-son", 8, "child", unaccompanied_minor=True),
    ]


async def ticketed(travel: Travel, case_id: str) -> None:
    mother, son = f"{case_id}-mother", f"{case_id}-son"
    await travel.opened(case_id, [member(mother, 34), member(son, 8, "child")])
    await travel.make_ready(case_id, [mother, son])
    r = await travel.post(f"/movements/{case_id}/ticket", ticket())
    assert r.status_code == 200, r.text


async def test_corrected_ages_take_the_movement_and_its_escort_rules(travel: Travel) -> None:
    case_id = f"ages-{uuid.uuid4()}"
    await ticketed(travel, case_id)

    await travel.handled(await corrected(travel, case_id, minors(case_id)))
    found = await travel.events(subject=case_id, wanted=CORRECTED)
    [event] = [e for e in found if e.type == CORRECTED]
    assert {m["person_id"]: m["age_years"] for m in event.data["travellers"]} == {
        f"{case_id}-mother": 16,
        f"{case_id}-son": 8,
    }
    view = await travel.wait_for(case_id, version=await travel.stream_version(case_id))
    assert all(t["unaccompanied_minor"] for t in view["travellers"]), view
    assert [t["age_years"] for t in view["travellers"]] == [16, 8]

    # The ticket booked no escort: unaccompanied children do not depart without one.
    refused = await travel.post(f"/movements/{case_id}/departure", {})
    assert refused.status_code == 422, refused.text
    assert "escort" in refused.text

    # The same facts again (a redelivery, a second correction of a name): nothing new.
    version = await travel.stream_version(case_id)
    await travel.handled(await corrected(travel, case_id, minors(case_id)))
    assert await travel.stream_version(case_id) == version


async def test_nothing_changes_after_departure_or_before_clearance(travel: Travel) -> None:
    case_id = f"gone-{uuid.uuid4()}"
    await ticketed(travel, case_id)
    assert (await travel.post(f"/movements/{case_id}/departure", {})).status_code == 200
    version = await travel.stream_version(case_id)
    await travel.handled(await corrected(travel, case_id, minors(case_id)))
    await travel.handled(await corrected(travel, case_id, minors(case_id), cleared=False))
    assert await travel.stream_version(case_id) == version
