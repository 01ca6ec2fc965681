"""A person joins the household before departure, with the reason and their personal data as at
the referral (under their own key); with the rules a referral has; with their consent once the
return was requested; after clearance too (eligibility clears the household again); reversed if
the household had departed before the addition reached travel, and refused (409) once intake
has seen the departure (on real PostgreSQL and Kafka)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from intake_fixtures import DPO, Intake, answered, consent, referral
from test_intake_household_removal import departed_first, from_travel, seen_departed
from test_intake_return_amendment import (
    cleared_by_eligibility,
    from_eligibility,
    requested,
    timeline_line_and_state,
)

from avrr_events import ERASED, Encrypted
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.testing import eventually

ADDED = "avrr.intake.HouseholdMemberAdded"
REVERSED = "avrr.intake.HouseholdAdditionReversed"
CONSENTED = "avrr.intake.ConsentGiven"
NEWBORN = {
    "given_names": "Rosa Amelia",
    "family_name": "Quispe",
    "date_of_birth": "2025-11-02",
    "sex": "female",
    "relationship": "child",
}
FATHER = {
    "given_names": "Jorge Eduardo",
    "family_name": "Condori Vargas",
    "date_of_birth": "1986-02-20",
    "sex": "male",
    "relationship": "spouse",
    "document_type": "passport",
    "document_number": "BO7654321",
}


def addition(person: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    return {"person": person or NEWBORN, "reason": "born", **more}


async def add(intake: Intake, case_id: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await intake.http.post(
        f"/cases/{case_id}/household/additions", json=body, headers=headers
    )


async def test_a_person_joins_the_household_under_their_own_key(intake: Intake) -> None:
    created = await intake.open_case()
    case_id = created["case_id"]
    body = addition(FATHER, reason="joined_household", note="Arrived from Tapachula last week")
    answer = answered(await add(intake, case_id, body), 201)
    assert answer["events"] == [ADDED]
    person_id = answer["person_id"]
    [record] = [
        r for r in await intake.runtime.store.load(f"case-{case_id}") if r.envelope.type == ADDED
    ]
    data = record.envelope.data
    assert data["household_size"] == 3 and data["added_by"] == "caseworker-1"
    member = data["member"]
    assert member["person_id"] == person_id and member["age_years"] >= 39
    assert member["relationship"] == "spouse" and member["unaccompanied_minor"] is False
    for planted in ("Jorge", "Condori", "1986-02-20", "BO7654321", "Tapachula"):
        assert planted not in str(data), planted  # sealed under the new person's key
    assert member["personal"]["subject"] == person_id

    case = await intake.wait_for(case_id, version=answer["version"])
    [joined] = [p for p in case["household"] if p["person_id"] == person_id]
    assert joined["given_names"] == "Jorge Eduardo"
    assert joined["document"] == {"type": "passport", "number": "BO7654321"}
    assert joined["addition"]["note"] == "Arrived from Tapachula last week"
    summary, state = await timeline_line_and_state(intake, case_id, ADDED)
    assert summary == (
        f"Person {person_id} (spouse) joined the household: joined household (3 people)"
    )
    assert state["household_size"] == 3
    # A member like the others: they consent, and the same person is not added twice.
    answered(await intake.http.post(f"/cases/{case_id}/consents", json=consent(person_id)), 201)
    twice = await add(intake, case_id, addition(FATHER, reason="recording_error"))
    assert twice.status_code == 422 and "already a member" in twice.json()["detail"], twice.text


async def test_the_rules_of_a_referral_hold(intake: Intake) -> None:
    created = await intake.open_case()
    case_id = created["case_id"]
    for bad, field in (
        (addition({**FATHER, "relationship": "principal"}), "person.relationship"),
        (addition(reason="whim"), "reason"),
        (addition({**NEWBORN, "date_of_birth": "2999-01-01"}), "date_of_birth"),
        ({"reason": "born"}, "person"),
        (addition({**NEWBORN, "given_names": "  "}), "given_names"),
    ):
        response = await add(intake, case_id, bad)
        assert response.status_code == 422 and field in response.text, (bad, response.text)
    # An adult never joins an unaccompanied child's case; another child does, unaccompanied.
    body = referral()
    body["household"] = [
        {**body["household"][1], "date_of_birth": "2010-03-01", "relationship": "principal"}
    ]
    alone = (await intake.open_case(body))["case_id"]
    refused = await add(intake, alone, addition(FATHER, reason="joined_household"))
    assert refused.status_code == 422 and "unaccompanied" in refused.json()["detail"]
    sibling = {**NEWBORN, "date_of_birth": "2012-05-05", "relationship": "sibling"}
    answer = answered(await add(intake, alone, addition(sibling, reason="joined_household")), 201)
    [record] = [
        r for r in await intake.runtime.store.load(f"case-{alone}") if r.envelope.type == ADDED
    ]
    assert record.envelope.data["member"]["unaccompanied_minor"] is True, answer
    assert ADDED not in await intake.event_types(case_id)


async def test_once_the_return_was_requested_their_consent_comes_with_them(
    intake: Intake,
) -> None:
    case_id, _ = await requested(intake)
    case = (await intake.case(case_id)).json()
    mother = next(p["person_id"] for p in case["household"] if p["relationship"] == "principal")
    refused = await add(intake, case_id, addition())
    assert refused.status_code == 422, refused.text
    assert "consent" in refused.text and refused.json()["missing_consents"] == [
        "return_assistance_processing"
    ]
    child_consent = consent("", given_by="guardian", representative_person_id=mother)
    del child_consent["person_id"]
    answer = answered(await add(intake, case_id, addition(consent=child_consent)), 201)
    assert answer["events"] == [ADDED, CONSENTED]
    # A child's own consent is refused as on any member (their guardian gives it).
    own = consent("")
    del own["person_id"]
    child = await add(intake, case_id, addition({**NEWBORN, "given_names": "Ana"}, consent=own))
    assert child.status_code == 422 and "guardian" in child.json()["detail"], child.text


async def test_an_addition_and_a_withdrawal_at_the_same_version_one_wins(intake: Intake) -> None:
    created = await intake.open_case()
    case_id = created["case_id"]
    etag = (await intake.case(case_id)).headers["etag"]

    async def joining() -> int:
        response = await add(intake, case_id, addition(), **{"If-Match": etag})
        return response.status_code

    async def withdrawing() -> int:
        response = await intake.http.post(
            f"/cases/{case_id}/withdrawal", json={"reason": "other"}, headers={"If-Match": etag}
        )
        return response.status_code

    assert sorted(await asyncio.gather(joining(), withdrawing())) in ([200, 412], [201, 412])
    types = await intake.event_types(case_id)
    assert (ADDED in types) != ("avrr.intake.CaseWithdrawn" in types), types
    # Without If-Match the later one decides on the state the first left.
    if "avrr.intake.CaseWithdrawn" in types:
        late = await add(intake, case_id, addition())
        assert late.status_code == 422 and "withdrawn" in late.json()["detail"], late.text


async def test_after_clearance_an_addition_and_after_departure_none_a_raced_one_reversed(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    case_id, _ = await requested(intake)
    case = (await intake.case(case_id)).json()
    mother = next(p["person_id"] for p in case["household"] if p["relationship"] == "principal")
    child_consent = consent("", given_by="guardian", representative_person_id=mother)
    del child_consent["person_id"]
    await cleared_by_eligibility(intake, kafka_settings, case_id)

    async def at_clearance() -> bool:
        state = (await intake.http.get(f"/cases/{case_id}/state")).json()
        return bool(state.get("phase") == "cleared")

    await eventually(at_clearance, timeout=30)
    # After clearance a person still joins: eligibility clears the household again.
    answer = answered(await add(intake, case_id, addition(consent=child_consent)), 201)
    person_id = answer["person_id"]
    # The household departed before the addition's lapse of the clearance reached travel.
    refused = ("TravellerAdditionRefused", person_id)
    refusal = await departed_first(intake, kafka_settings, case_id, refused, REVERSED)
    case = await intake.wait_for(case_id, version=answer["version"] + 1)
    assert sorted(p["relationship"] for p in case["household"]) == ["child", "principal"]
    [gone] = case["removed_members"]
    assert gone["person_id"] == person_id and "reversal" in gone
    await seen_departed(intake, case_id)
    late = await add(intake, case_id, addition(consent=child_consent))
    assert late.status_code == 409, late.text
    assert late.json()["case_phase"] == "departed"
    # A redelivered refusal, and eligibility's after the reversal, reverse nothing more.
    await from_travel(intake, kafka_settings, "TravellerAdditionRefused", case_id, refusal)
    kept = {"person_id": person_id, "refused_at": refusal["refused_at"]}
    await from_eligibility(intake, kafka_settings, "HouseholdAdditionRefused", case_id, kept)
    await asyncio.sleep(1)
    assert (await intake.event_types(case_id)).count(REVERSED) == 1

    # The person is shredded with the case, although no longer a member.
    answered(await intake.http.post(f"/cases/{case_id}/erasure", headers=DPO))
    [record] = [
        r for r in await intake.runtime.store.load(f"case-{case_id}") if r.envelope.type == ADDED
    ]
    assert person_id in record.envelope.data["member"]["personal"]["subject"]
    sealed = record.envelope.data["member"]["personal"]
    assert await intake.runtime.cipher.decrypt(Encrypted.model_validate(sealed)) is ERASED


async def test_no_role_of_another_office_adds(intake: Intake) -> None:
    case_id = (await intake.open_case())["case_id"]
    for role in ("caseworker", "supervisor", "data_protection_officer", "referrer"):
        elsewhere = {"X-AVRR-User": f"{role}-9", "X-AVRR-Roles": role, "X-AVRR-Offices": "HN-TGU"}
        response = await add(intake, case_id, addition(), **elsewhere)
        assert response.status_code == 403, (role, response.text)
    assert ADDED not in await intake.event_types(case_id)
