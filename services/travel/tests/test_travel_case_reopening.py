"""A reopened case's movement starts over on its own stream (one history): eligibility's
AssessmentReopened (cause case_reopened) takes up the movement the withdrawal cancelled,
and its new clearance opens it again, travellers' documents and fitness to be recorded
again. Late news of the old withdrawal cancels nothing; a household that departed is not
taken back. On real PostgreSQL and Kafka (the ``travel`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from travel_fixtures import OFFICER, Travel, member, ticket

from avrr_events import Envelope

FAMILY = ["p-mother", "p-daughter"]


async def reopened(travel: Travel, case: str) -> Envelope:
    """Eligibility took the reopened case's assessment up again (no clearance any more)."""
    data: dict[str, Any] = {
        "case_id": case,
        "reopened_at": datetime.now(UTC).isoformat(),
        "cleared": False,
        "cause": "case_reopened",
        "awaits_consent": True,
    }
    return await travel.publish("eligibility", "avrr.eligibility.AssessmentReopened", case, data)


async def test_a_reopened_cases_movement_opens_again_with_its_new_clearance(
    travel: Travel,
) -> None:
    case = "case-reopened-ticketed"
    await travel.opened(case)
    await travel.make_ready(case, FAMILY)
    assert (await travel.post(f"/movements/{case}/ticket", ticket())).status_code == 200
    withdrawn_at = datetime.now(UTC)
    await travel.handled(await travel.withdraw_case(case, withdrawn_at))
    await travel.wait_for(case, status="cancelled")

    await travel.handled(await reopened(travel, case))
    waiting = await travel.wait_for(case, status="not_opened")
    assert waiting["travellers"] == [] and waiting["booking"] is None, waiting
    # Nothing is open to prepare until the clearance: as before any movement opened.
    refused = await travel.post(f"/movements/{case}/ticket", ticket())
    assert refused.status_code == 404, refused.text
    assert refused.headers["content-type"] == "application/problem+json"

    # The new clearance (another region, the daughter alone with her mother's sister now).
    household = [member("p-aunt", 41), member("p-daughter", 9, "child")]
    await travel.handled(await travel.clear(case, household, destination_region="Olancho"))
    again = await travel.wait_for(case, status="preparing")
    assert again["destination_region"] == "Olancho"
    assert sorted(t["person_id"] for t in again["travellers"]) == ["p-aunt", "p-daughter"]
    not_ready = await travel.post(f"/movements/{case}/ticket", ticket())
    assert not_ready.status_code == 422, not_ready.text
    missing = {(m["person_id"], m["requirement"]) for m in not_ready.json()["missing"]}
    assert ("p-daughter", "travel_document") in missing, "documents are recorded again"
    assert ("p-daughter", "fitness_to_travel") in missing, "fitness is confirmed again"

    # Late news of the old withdrawal (intake's topic lagging) cancels nothing now.
    late = await travel.withdraw_case(case, withdrawn_at - timedelta(seconds=1))
    await travel.make_ready(case, ["p-aunt", "p-daughter"])
    issued = await travel.post(f"/movements/{case}/ticket", ticket())
    assert issued.status_code == 200, issued.text
    await travel.handled(late)
    assert (await travel.wait_for(case, status="ticketed"))["cancellation"] is None
    assert await travel.withdrawal_conflicts("GT-GUA") == []

    types = [
        e.type.removeprefix("avrr.travel.")
        for e in await travel.events(subject=case, wanted="avrr.travel.TicketIssued", count=2)
    ]
    assert types.count("MovementOpened") == 2 and types.count("MovementCancelled") == 1, types
    restart = types.index("MovementReinstated")
    assert types[restart - 1] == "MovementCancelled" and types[restart + 1] == "MovementOpened"
    assert await travel.stream_version(case) == len(types), "one stream, one history"


async def test_a_movement_kept_from_opening_by_the_withdrawal_opens_after_the_reopening(
    travel: Travel,
) -> None:
    case = "case-reopened-before-opening"
    await travel.handled(await travel.withdraw_case(case, datetime.now(UTC)))
    await travel.handled(await travel.clear(case))  # the old clearance, late: opens nothing
    assert await travel.movement(case) is None
    await travel.handled(await reopened(travel, case))
    await travel.handled(await travel.clear(case))
    opened = await travel.wait_for(case, status="preparing")
    assert opened["version"] == await travel.stream_version(case) == 3


async def test_a_household_that_departed_is_not_taken_back(travel: Travel) -> None:
    case = "case-reopened-departed"
    await travel.opened(case)
    await travel.make_ready(case, FAMILY)
    assert (await travel.post(f"/movements/{case}/ticket", ticket())).status_code == 200
    departed = await travel.post(f"/movements/{case}/departure", {}, OFFICER)
    assert departed.status_code == 200, departed.text
    await travel.handled(await travel.withdraw_case(case, datetime.now(UTC)))
    await travel.handled(await reopened(travel, case))
    version = await travel.stream_version(case)
    await travel.handled(await travel.clear(case))
    assert (await travel.wait_for(case, status="departed"))["version"] == version


async def test_a_destination_suspended_since_holds_the_movement_opened_again(
    travel: Travel,
) -> None:
    case = "case-reopened-suspended"
    await travel.opened(case)
    await travel.handled(await travel.withdraw_case(case, datetime.now(UTC)))
    await travel.handled(await travel.suspend_destination("HN", reason="floods: bridges down"))
    await travel.handled(await reopened(travel, case))
    await travel.handled(await travel.clear(case))
    held = await travel.wait_for(case, status="preparing", held=True)
    assert "floods" in held["hold_reason"], held
    refused = await travel.post(f"/movements/{case}/ticket", ticket())
    assert refused.status_code == 422, refused.text
