"""A person who left the household after clearance is taken off the movement until departure.

Eligibility passes the removal on (HouseholdMemberLeft, ``cleared``) on its
topic, after the clearance. Before departure travel records TravellerRemoved
(the manifest loses the person; a ticket stands for the others); after it,
TravellerRemovalRefused (they travelled), which intake turns into
HouseholdMemberRestored. A removal raced with the departure is settled on the
movement's stream: never a departure with the person taken off afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from travel_fixtures import Travel, member, ticket

from avrr_events.envelope import Envelope

REMOVED = "avrr.travel.TravellerRemoved"
REFUSED = "avrr.travel.TravellerRemovalRefused"


async def left(travel: Travel, case_id: str, person_id: str, *, cleared: bool = True) -> Envelope:
    """Eligibility's HouseholdMemberLeft as published (with fields travel does not read)."""
    return await travel.publish(
        "eligibility",
        "avrr.eligibility.HouseholdMemberLeft",
        case_id,
        {
            "case_id": case_id,
            "person_id": person_id,
            "household": [member(f"{case_id}-mother", 34).model_dump()],
            "cleared": cleared,
            "left_at": datetime.now(UTC).isoformat(),
        },
    )


async def ready_family(travel: Travel, case_id: str) -> tuple[str, str]:
    mother, aunt = f"{case_id}-mother", f"{case_id}-aunt"
    await travel.opened(case_id, [member(mother, 34), member(aunt, 41, "sibling")])
    await travel.make_ready(case_id, [mother, aunt])
    return mother, aunt


async def test_a_person_who_left_is_taken_off_the_ticketed_movement(travel: Travel) -> None:
    case_id = f"leave-{uuid.uuid4()}"
    mother, aunt = await ready_family(travel, case_id)
    r = await travel.post(f"/movements/{case_id}/ticket", ticket())
    assert r.status_code == 200, r.text

    await travel.handled(await left(travel, case_id, aunt))
    found = await travel.events(subject=case_id, wanted=REMOVED)
    [removed] = [e for e in found if e.type == REMOVED]
    assert removed.data["person_id"] == aunt
    view = await travel.wait_for(case_id, version=await travel.stream_version(case_id))
    assert [t["person_id"] for t in view["travellers"]] == [mother]
    assert view["status"] == "ticketed"
    # Before clearance travel has nothing to change: eligibility's clearance names the rest.
    before = f"leave-{uuid.uuid4()}"
    await travel.handled(await left(travel, before, f"{before}-aunt", cleared=False))
    assert await travel.movement(before) is None


async def test_after_departure_the_removal_is_refused(travel: Travel) -> None:
    case_id = f"leave-{uuid.uuid4()}"
    _, aunt = await ready_family(travel, case_id)
    assert (await travel.post(f"/movements/{case_id}/ticket", ticket())).status_code == 200
    assert (await travel.post(f"/movements/{case_id}/departure", {})).status_code == 200

    await travel.handled(await left(travel, case_id, aunt))
    found = await travel.events(subject=case_id, wanted=REFUSED)
    [refused] = [e for e in found if e.type == REFUSED]
    assert refused.data["person_id"] == aunt and refused.data["departed_at"]
    view = await travel.wait_for(case_id, version=await travel.stream_version(case_id))
    assert len(view["travellers"]) == 2


async def test_a_removal_raced_with_the_departure_is_one_or_the_other(travel: Travel) -> None:
    """Departure and removal at the same moment, on several movements: the person is taken off
    before the departure, or the removal is refused after it; a departure that lost the race
    on the stream answers 409 and wrote nothing (the officer confirms it again)."""
    cases = [f"race-{uuid.uuid4()}" for _ in range(5)]
    aunts = {}
    for case_id in cases:
        _, aunts[case_id] = await ready_family(travel, case_id)
        assert (await travel.post(f"/movements/{case_id}/ticket", ticket())).status_code == 200

    async def depart(case_id: str) -> int:
        r = await travel.post(f"/movements/{case_id}/departure", {})
        assert r.status_code in (200, 409), r.text
        return r.status_code

    results: list[Any] = await asyncio.gather(
        *(depart(c) for c in cases), *(left(travel, c, aunts[c]) for c in cases)
    )
    await travel.handled(*results[len(cases) :])
    for case_id, code in zip(cases, results[: len(cases)], strict=True):
        stream = await travel.runtime.store.load(f"movement-{case_id}")
        types = [r.envelope.type for r in stream]
        departed = "avrr.travel.DepartureConfirmed" in types
        assert departed == (code == 200), (code, types)
        assert (REMOVED in types) != (REFUSED in types), types
        if REFUSED in types:
            assert types.index("avrr.travel.DepartureConfirmed") < types.index(REFUSED), types
        elif departed:
            assert types.index(REMOVED) < types.index("avrr.travel.DepartureConfirmed"), types
