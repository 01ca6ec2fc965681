"""A person who joined the household travels with it: the clearance names them, the movement
opens with them, and no ticket is issued until their travel document and fitness to travel are
recorded (on real PostgreSQL and Kafka).

A person who joined after clearance lapsed it (eligibility's HouseholdMemberJoined,
clearance_lapsed): a movement not departed waits for the household's new clearance, its ticket
void (MovementReinstated); one that departed refuses the addition (TravellerAdditionRefused),
and of an addition and a departure at the same moment one wins. A join before clearance, and
eligibility's HouseholdAdditionRefused, change nothing in travel.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from travel_fixtures import Travel, member, ticket

from avrr_events import Envelope

REFUSED = "avrr.travel.TravellerAdditionRefused"
REINSTATED = "avrr.travel.MovementReinstated"


async def test_the_new_member_needs_a_document_and_fitness_before_the_ticket(
    travel: Travel,
) -> None:
    case_id = f"join-{uuid.uuid4()}"
    mother, newborn = f"{case_id}-mother", f"{case_id}-newborn"
    # Eligibility's clearance names the household as it stands after the addition.
    await travel.opened(case_id, [member(mother, 34), member(newborn, 0, "child")])
    view = await travel.movement(case_id)
    assert view is not None
    assert [t["person_id"] for t in view["travellers"]] == [mother, newborn]

    await travel.make_ready(case_id, [mother])
    early = await travel.post(f"/movements/{case_id}/ticket", ticket())
    assert early.status_code == 422, early.text
    missing = early.json()["missing"]
    assert {m["person_id"] for m in missing} == {newborn}, missing
    assert {m["requirement"] for m in missing} == {"travel_document", "fitness_to_travel"}

    await travel.make_ready(case_id, [newborn])
    issued = await travel.post(f"/movements/{case_id}/ticket", ticket())
    assert issued.status_code == 200, issued.text


async def test_eligibility_household_news_changes_nothing_in_travel(travel: Travel) -> None:
    case_id = f"join-{uuid.uuid4()}"
    mother, spouse = f"{case_id}-mother", f"{case_id}-spouse"
    await travel.opened(case_id, [member(mother, 34)])
    version = await travel.stream_version(case_id)
    now = datetime.now(UTC).isoformat()
    refused = {"case_id": case_id, "person_id": spouse, "refused_at": now}
    await travel.publish(
        "eligibility", "avrr.eligibility.HouseholdAdditionRefused", case_id, refused
    )
    joined = {
        "case_id": case_id,
        "person_id": spouse,
        "household": [member(mother, 34).model_dump(), member(spouse, 36, "spouse").model_dump()],
        "joined_at": now,
    }
    await travel.publish("eligibility", "avrr.eligibility.HouseholdMemberJoined", case_id, joined)
    # An event travel reads, after them on the case's partition: once it is taken in, so were
    # they (a removal of someone not on the movement, which changes nothing either).
    left = {
        "case_id": case_id,
        "person_id": spouse,
        "household": [member(mother, 34).model_dump()],
        "cleared": True,
        "left_at": now,
    }
    await travel.handled(
        await travel.publish("eligibility", "avrr.eligibility.HouseholdMemberLeft", case_id, left)
    )
    assert await travel.stream_version(case_id) == version
    view = await travel.movement(case_id)
    assert view is not None and [t["person_id"] for t in view["travellers"]] == [mother]


async def lapsed(travel: Travel, case_id: str, person_id: str, *household: Any) -> Envelope:
    """Eligibility's HouseholdMemberJoined after clearance: the clearance lapsed."""
    joined = {
        "case_id": case_id,
        "person_id": person_id,
        "household": [m.model_dump() for m in household],
        "joined_at": datetime.now(UTC).isoformat(),
        "clearance_lapsed": True,
    }
    return await travel.publish(
        "eligibility", "avrr.eligibility.HouseholdMemberJoined", case_id, joined
    )


async def test_after_clearance_the_ticket_is_void_until_the_household_is_cleared_again(
    travel: Travel,
) -> None:
    case_id = f"join-{uuid.uuid4()}"
    mother, newborn = f"{case_id}-mother", f"{case_id}-newborn"
    await travel.opened(case_id, [member(mother, 34)])
    await travel.make_ready(case_id, [mother])
    assert (await travel.post(f"/movements/{case_id}/ticket", ticket())).status_code == 200

    await travel.handled(
        await lapsed(travel, case_id, newborn, member(mother, 34), member(newborn, 0, "child"))
    )
    found = await travel.events(subject=case_id, wanted=REINSTATED)
    assert found[-1].type == REINSTATED and "clearance lapsed" in found[-1].data["reason"]
    version = await travel.stream_version(case_id)
    view = await travel.wait_for(case_id, version=version)
    assert view["status"] == "not_opened" and view.get("ticket") is None, view
    refused = await travel.post(f"/movements/{case_id}/departure", {})
    # Never without the new clearance: no movement is open (as for a reopened case).
    assert refused.status_code == 404, refused.text

    # The household's new clearance opens it again with both; the ticket needs the newborn.
    await travel.clear(case_id, [member(mother, 34), member(newborn, 0, "child")])
    view = await travel.wait_for(case_id, status="preparing")
    assert [t["person_id"] for t in view["travellers"]] == [mother, newborn]
    await travel.make_ready(case_id, [mother])
    early = await travel.post(f"/movements/{case_id}/ticket", ticket())
    assert early.status_code == 422, early.text
    assert {m["person_id"] for m in early.json()["missing"]} == {newborn}
    await travel.make_ready(case_id, [newborn])
    assert (await travel.post(f"/movements/{case_id}/ticket", ticket())).status_code == 200
    assert (await travel.post(f"/movements/{case_id}/departure", {})).status_code == 200


async def test_after_departure_the_addition_is_refused(travel: Travel) -> None:
    case_id = f"join-{uuid.uuid4()}"
    mother, spouse = f"{case_id}-mother", f"{case_id}-spouse"
    await travel.opened(case_id, [member(mother, 34)])
    await travel.make_ready(case_id, [mother])
    assert (await travel.post(f"/movements/{case_id}/ticket", ticket())).status_code == 200
    assert (await travel.post(f"/movements/{case_id}/departure", {})).status_code == 200

    await travel.handled(await lapsed(travel, case_id, spouse, member(mother, 34)))
    found = await travel.events(subject=case_id, wanted=REFUSED)
    [refused] = [e for e in found if e.type == REFUSED]
    assert refused.data["person_id"] == spouse and refused.data["departed_at"]
    view = await travel.wait_for(case_id, version=await travel.stream_version(case_id))
    assert view["status"] == "departed" and len(view["travellers"]) == 1


async def test_an_addition_raced_with_the_departure_is_one_or_the_other(travel: Travel) -> None:
    """Departure and a lapsed clearance at the same moment: the departure came first and the
    addition is refused, or the movement waits for a new clearance and the departure was
    refused (a departure that lost the race on the stream answers 409 and wrote nothing)."""
    cases = [f"race-{uuid.uuid4()}" for _ in range(4)]
    for case_id in cases:
        await travel.opened(case_id, [member(f"{case_id}-mother", 34)])
        await travel.make_ready(case_id, [f"{case_id}-mother"])
        assert (await travel.post(f"/movements/{case_id}/ticket", ticket())).status_code == 200

    async def depart(case_id: str) -> int:
        r = await travel.post(f"/movements/{case_id}/departure", {})
        return r.status_code

    def household(c: str) -> list[Any]:
        return [member(f"{c}-mother", 34)]

    results: list[Any] = await asyncio.gather(
        *(depart(c) for c in cases),
        *(lapsed(travel, c, f"{c}-spouse", *household(c)) for c in cases),
    )
    await travel.handled(*results[len(cases) :])
    for case_id, departed in zip(cases, results[: len(cases)], strict=True):
        wanted = REFUSED if departed == 200 else REINSTATED
        types = [e.type for e in await travel.events(subject=case_id, wanted=wanted)]
        if departed == 200:
            assert REFUSED in types and REINSTATED not in types, types
        else:
            assert REINSTATED in types and REFUSED not in types, (departed, types)
            assert "avrr.travel.DepartureConfirmed" not in types


async def test_a_household_paused_for_its_consent_waits_for_the_new_clearance(
    travel: Travel,
) -> None:
    """A person joined while a withdrawn consent paused the movement: the consent given again
    does not take it up as it was cleared (eligibility's AssessmentReopened, cleared false)."""
    case_id = f"join-{uuid.uuid4()}"
    mother, spouse = f"{case_id}-mother", f"{case_id}-spouse"
    await travel.opened(case_id, [member(mother, 34)])
    now = datetime.now(UTC)
    await travel.handled(
        await travel.withdraw_consent(case_id, "return_assistance_processing", now)
    )
    await travel.wait_for(case_id, status="cancelled")
    await travel.handled(await lapsed(travel, case_id, spouse, member(mother, 34)))
    reopened = {
        "case_id": case_id,
        "reopened_at": datetime.now(UTC).isoformat(),
        "cleared": False,
    }
    await travel.handled(
        await travel.publish(
            "eligibility", "avrr.eligibility.AssessmentReopened", case_id, reopened
        )
    )
    found = await travel.events(subject=case_id, wanted=REINSTATED)
    assert "clearance lapsed" in found[-1].data["reason"], found[-1].data
    await travel.wait_for(case_id, status="not_opened")
