"""A person who joined the household before clearance travels with it: the clearance names
them, the movement opens with them, and no ticket is issued until their travel document and
fitness to travel are recorded (on real PostgreSQL and Kafka).

An addition never reaches a movement otherwise: intake refuses one from clearance (409) and
eligibility refuses one that raced the clearance (HouseholdAdditionRefused), so a movement
never grows after its ticket. Eligibility's HouseholdMemberJoined and HouseholdAdditionRefused,
on its topic, change nothing in travel.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from travel_fixtures import Travel, member, ticket


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
