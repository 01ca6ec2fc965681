"""A household member leaves before departure, with the reason; never the principal, nor the
last adult of children; back in the household if travel says they had departed already."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from functools import partial
from typing import Any

from intake_fixtures import Intake, answered, referral
from test_intake_return_amendment import from_service, requested, timeline_line_and_state

from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.testing import eventually

REMOVED = "avrr.intake.HouseholdMemberRemoved"
RESTORED = "avrr.intake.HouseholdMemberRestored"


def removal(person_id: str, **more: Any) -> dict[str, Any]:
    return {"person_id": person_id, "reason": "stays_in_host_country", **more}


async def test_a_member_leaves_the_household_with_the_reason(intake: Intake) -> None:
    created = await intake.open_case()
    case_id, child = created["case_id"], intake.person(created, "child")
    body = removal(child, note="Stays with his father in Guatemala City")
    answer = answered(
        await intake.http.post(f"/cases/{case_id}/household/removals", json=body), 201
    )
    assert answer["events"] == [REMOVED]
    [record] = [
        r for r in await intake.runtime.store.load(f"case-{case_id}") if r.envelope.type == REMOVED
    ]
    assert record.envelope.data["household_size"] == 1
    assert "father" not in str(record.envelope.data)  # the note is under the child's key

    case = await intake.wait_for(case_id, version=answer["version"])
    assert [p["relationship"] for p in case["household"]] == ["principal"]
    [gone] = case["removed_members"]
    assert gone["person_id"] == child and gone["personal"]["given_names"] == "Luis"
    assert "duplicate_key" not in gone
    assert gone["removal"]["note"] == "Stays with his father in Guatemala City"
    assert gone["removal"]["removed_by"] == "caseworker-1"
    summary, state = await timeline_line_and_state(intake, case_id, REMOVED)
    assert summary == f"Person {child} left the household: stays in host country (1 remain)"
    assert state["household_size"] == 1
    # No longer a member: no consent, no second removal.
    again = await intake.http.post(f"/cases/{case_id}/household/removals", json=removal(child))
    assert again.status_code == 422, again.text


async def test_the_principal_and_the_last_adult_of_children_stay(intake: Intake) -> None:
    created = await intake.open_case()
    mother = intake.person(created, "principal")
    refused = await intake.http.post(
        f"/cases/{created['case_id']}/household/removals", json=removal(mother)
    )
    assert refused.status_code == 422, refused.text
    assert "person_id" in refused.text and "principal" in refused.json()["detail"]

    # A 16-year-old with her adult brother: he is the last adult.
    body = referral()
    body["household"] = [
        {**body["household"][1], "date_of_birth": "2010-03-01", "relationship": "principal"},
        {**body["household"][0], "sex": "male", "relationship": "sibling"},
    ]
    siblings = await intake.open_case(body)
    brother = intake.person(siblings, "sibling")
    refused = await intake.http.post(
        f"/cases/{siblings['case_id']}/household/removals", json=removal(brother)
    )
    assert refused.status_code == 422, refused.text
    assert "unaccompanied" in refused.json()["detail"]
    for bad, field in (
        (removal(brother, reason="whim"), "reason"),
        ({"reason": "other"}, "person_id"),
    ):
        response = await intake.http.post(
            f"/cases/{siblings['case_id']}/household/removals", json=bad
        )
        assert response.status_code == 422 and field in response.text, response.text


async def test_removing_the_one_who_withdrew_consent_resumes_the_return(intake: Intake) -> None:
    case_id, _ = await requested(intake)
    case = (await intake.case(case_id)).json()
    child = next(p["person_id"] for p in case["household"] if p["relationship"] == "child")
    withdrawn = await intake.http.post(
        f"/cases/{case_id}/consents/return_assistance_processing/withdrawal",
        json={"person_id": child, "reason": "other"},
    )
    assert withdrawn.json()["events"][-1] == "avrr.intake.ReturnSuspended", withdrawn.text
    answer = answered(
        await intake.http.post(f"/cases/{case_id}/household/removals", json=removal(child)), 201
    )
    assert answer["events"] == [REMOVED, "avrr.intake.ReturnResumed"]
    assert (await intake.wait_for(case_id, version=answer["version"]))["status"] == (
        "return_requested"
    )


async def test_two_removals_at_the_same_version_one_wins_the_other_412(intake: Intake) -> None:
    body = referral()
    body["household"].append({**body["household"][0], "relationship": "spouse", "sex": "male"})
    created = await intake.open_case(body)
    case_id = created["case_id"]
    child, spouse = intake.person(created, "child"), intake.person(created, "spouse")
    etag = (await intake.case(case_id)).headers["etag"]

    async def remove(person_id: str) -> int:
        response = await intake.http.post(
            f"/cases/{case_id}/household/removals",
            json=removal(person_id),
            headers={"If-Match": etag},
        )
        return response.status_code

    assert sorted(await asyncio.gather(remove(child), remove(spouse))) == [201, 412]
    assert (await intake.event_types(case_id)).count(REMOVED) == 1


async def test_after_departure_no_removal_and_a_raced_one_is_undone(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    case_id, _ = await requested(intake)
    case = (await intake.case(case_id)).json()
    child = next(p["person_id"] for p in case["household"] if p["relationship"] == "child")
    answer = answered(
        await intake.http.post(f"/cases/{case_id}/household/removals", json=removal(child)), 201
    )
    # The removal raced with the departure, which travel took first.
    await departed_first(
        intake, kafka_settings, case_id, ("TravellerRemovalRefused", child), RESTORED
    )
    case = await intake.wait_for(case_id, version=answer["version"] + 1)
    assert sorted(p["relationship"] for p in case["household"]) == ["child", "principal"]
    assert case["removed_members"] == []
    await seen_departed(intake, case_id)
    late = await intake.http.post(f"/cases/{case_id}/household/removals", json=removal(child))
    assert late.status_code == 409, late.text
    assert late.json()["case_phase"] == "departed"


from_travel = partial(from_service, "travel")


async def departed_first(
    intake: Intake,
    kafka_settings: KafkaSettings,
    case_id: str,
    refused: tuple[str, str],
    undone: str,
) -> dict[str, str]:
    """A change of the household that raced with the departure, which travel took first:
    its DepartureConfirmed, then ``refused`` (the refusal's event and the person changed),
    until intake recorded ``undone``. The refusal's data (to deliver it again)."""
    name, person_id = refused
    now = datetime.now(UTC).isoformat()
    await from_travel(intake, kafka_settings, "DepartureConfirmed", case_id, {"departed_at": now})
    refusal = {"person_id": person_id, "departed_at": now, "refused_at": now}
    await from_travel(intake, kafka_settings, name, case_id, refusal)

    async def recorded() -> bool:
        return undone in await intake.event_types(case_id)

    await eventually(recorded, timeout=30)
    return refusal


async def seen_departed(intake: Intake, case_id: str) -> None:
    """Until intake's state of the case is in the departed phase."""

    async def departed() -> bool:
        state = (await intake.http.get(f"/cases/{case_id}/state")).json()
        return bool(state.get("phase") == "departed")

    await eventually(departed, timeout=30)
