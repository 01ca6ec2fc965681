"""The right to rectification: a person's name, date of birth or document corrected, with reason.

The correction is an event (PersonalDataRectified) naming who, when, why and
which fields, never their values: those ride encrypted under the person's key,
as their whole corrected record, which the case file serves and from which the
duplicate check re-indexes the person.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from intake_fixtures import DPO, Intake, answered, referral

from avrr_events.testing import eventually

OLD_FAMILY = "Quispe Mamani"
NEW_FAMILY = "Kispe Mamanï"
OLD_BORN, NEW_BORN = "1990-04-12", "1990-04-21"
NOTE = "Passport ZQ-NOTE-4411 shows the right spelling"
RECTIFIED = "avrr.intake.PersonalDataRectified"


def rectification(person_id: str, **values: Any) -> dict[str, Any]:
    return {"person_id": person_id, "reason": "clerical_error", **values}


async def _stored(intake: Intake, case_id: str, event_type: str) -> dict[str, Any]:
    [record] = [
        r
        for r in await intake.runtime.store.load(f"case-{case_id}")
        if r.envelope.type == event_type
    ]
    data: dict[str, Any] = record.envelope.data
    return data


async def test_a_rectification_corrects_the_case_file_and_records_only_which_fields(
    intake: Intake,
) -> None:
    created = await intake.open_case()
    case_id, mother = created["case_id"], intake.person(created, "principal")
    body = rectification(mother, family_name=NEW_FAMILY, date_of_birth=NEW_BORN, note=NOTE)
    answer = answered(await intake.http.post(f"/cases/{case_id}/rectifications", json=body), 201)
    assert answer["events"] == [RECTIFIED]
    assert NEW_FAMILY not in json.dumps(answer)

    data = await _stored(intake, case_id, RECTIFIED)
    assert data["fields"] == ["family_name", "date_of_birth"]
    assert data["reason"] == "clerical_error" and data["rectified_by"] == "caseworker-1"
    assert (data["person_id"] == mother and data["age_years"] == 36) or data["age_years"] >= 35
    stored = json.dumps(data, ensure_ascii=False)
    for plaintext in (NEW_FAMILY, NEW_BORN, OLD_FAMILY, OLD_BORN, "ZQ-NOTE-4411", "María"):
        assert plaintext not in stored, plaintext
    assert data["personal"]["subject"] == mother and data["note"]["subject"] == mother

    case = await intake.wait_for(case_id, version=answer["version"])
    principal = next(p for p in case["household"] if p["person_id"] == mother)
    assert principal["family_name"] == NEW_FAMILY
    assert principal["date_of_birth"] == NEW_BORN
    assert principal["given_names"] == "María José"  # what was not corrected stays
    [entry] = case["rectifications"]
    assert entry["fields"] == ["family_name", "date_of_birth"] and entry["note"] == NOTE

    timeline = (await intake.http.get(f"/cases/{case_id}/timeline")).json()
    [line] = [e for e in timeline["items"] if e["type"] == RECTIFIED]
    assert line["actor"] == "caseworker-1"
    assert "family name, date of birth" in line["summary"] and "clerical error" in line["summary"]
    assert NEW_FAMILY not in json.dumps(timeline, ensure_ascii=False)
    assert NEW_BORN not in json.dumps(timeline)


async def test_the_duplicate_check_follows_the_corrected_identity(intake: Intake) -> None:
    created = await intake.open_case()
    case_id, mother = created["case_id"], intake.person(created, "principal")
    body = rectification(mother, family_name=NEW_FAMILY, date_of_birth=NEW_BORN)
    answer = answered(await intake.http.post(f"/cases/{case_id}/rectifications", json=body), 201)
    await intake.wait_for(case_id, version=answer["version"])

    def household(family: str, born: str) -> list[dict[str, Any]]:
        principal: dict[str, Any] = referral()["household"][0]
        return [{**principal, "family_name": family, "date_of_birth": born}]

    again = answered(await intake.refer(referral(household=household(NEW_FAMILY, NEW_BORN))), 201)
    assert [m["matching_case_id"] for m in again["possible_duplicates"]] == [case_id]
    old = answered(await intake.refer(referral(household=household(OLD_FAMILY, OLD_BORN))), 201)
    assert case_id not in [m["matching_case_id"] for m in old["possible_duplicates"]]


async def test_bad_rectifications_are_refused_naming_the_field(intake: Intake) -> None:
    created = await intake.open_case()
    case_id, mother = created["case_id"], intake.person(created, "principal")
    path = f"/cases/{case_id}/rectifications"

    cases: list[tuple[dict[str, Any], str]] = [
        ({"person_id": mother, "family_name": NEW_FAMILY}, "reason"),
        (rectification(mother), "given_names"),  # nothing to correct
        (rectification(mother, date_of_birth="2999-01-01"), "date_of_birth"),
        (rectification(mother, family_name="   "), "family_name"),
        (rectification(mother, document_type="passport"), "document_number"),
        (rectification(mother, family_name=NEW_FAMILY, reason="because"), "reason"),
        (rectification(mother, family_name=OLD_FAMILY), "person_id"),  # the same value
        (rectification("someone-else", family_name=NEW_FAMILY), "someone-else"),
    ]
    for body, field in cases:
        response = await intake.http.post(path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in response.text, (field, response.text)
    assert await intake.event_types(case_id) == ["avrr.intake.ReferralReceived"]


async def test_two_rectifications_at_the_same_version_one_wins_the_other_412(
    intake: Intake,
) -> None:
    created = await intake.open_case()
    case_id, mother = created["case_id"], intake.person(created, "principal")
    etag = (await intake.case(case_id)).headers["etag"]

    async def correct(family: str) -> int:
        response = await intake.http.post(
            f"/cases/{case_id}/rectifications",
            json=rectification(mother, family_name=family),
            headers={"If-Match": etag},
        )
        return response.status_code

    codes = sorted(await asyncio.gather(correct("Kispe"), correct("Quispé")))
    assert codes == [201, 412], codes
    types = await intake.event_types(case_id)
    assert types.count(RECTIFIED) == 1


async def test_the_dpo_rectifies_and_an_erased_person_is_not_rectified(intake: Intake) -> None:
    created = await intake.open_case()
    case_id, child = created["case_id"], intake.person(created, "child")
    body = rectification(child, given_names="Luís Ángel", reason="data_subject_request")
    answered(
        await intake.http.post(f"/cases/{case_id}/rectifications", json=body, headers=DPO), 201
    )
    answered(await intake.http.post(f"/cases/{case_id}/erasure", headers=DPO))
    refused = await intake.http.post(
        f"/cases/{case_id}/rectifications", json=rectification(child, given_names="Luis")
    )
    assert refused.status_code == 422, refused.text
    assert "erased" in refused.json()["detail"]
    # No key was made again for the erased person.
    assert await intake.runtime.cipher.keys.get(child) is None

    async def erased_in_file() -> bool:
        case = (await intake.case(case_id)).json()
        return bool(case.get("personal_data_erased"))

    await eventually(erased_in_file, timeout=30)


async def test_no_role_of_another_office_and_no_partner_rectifies(intake: Intake) -> None:
    created = await intake.open_case()
    case_id, mother = created["case_id"], intake.person(created, "principal")
    body = rectification(mother, family_name=NEW_FAMILY)
    for role in ("caseworker", "supervisor", "data_protection_officer", "medical", "auditor"):
        elsewhere = {"X-AVRR-User": f"{role}-9", "X-AVRR-Roles": role, "X-AVRR-Offices": "HN-TGU"}
        response = await intake.http.post(
            f"/cases/{case_id}/rectifications", json=body, headers=elsewhere
        )
        assert response.status_code == 403, (role, response.text)
    partner = {
        "X-AVRR-User": "caseworker-1",
        "X-AVRR-Roles": "referrer",
        "X-AVRR-Offices": "GT-GUA",
    }
    response = await intake.http.post(
        f"/cases/{case_id}/rectifications", json=body, headers=partner
    )
    assert response.status_code == 403, response.text
    assert RECTIFIED not in await intake.event_types(case_id)
