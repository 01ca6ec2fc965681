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


# ------------------------------------------- the case's contact, referrer and city --

NEW_PHONE, OLD_PHONE = "+502 4444 0177", "+502 5555 0199"
NEW_REFERRER, NEW_CITY = "Beatriz Referente Nueva", "Quetzaltenango"
FACTS = "avrr.intake.HouseholdFactsCorrected"


async def test_the_contact_referrer_and_city_are_rectified_and_searched_anew(
    intake: Intake,
) -> None:
    """Every personal field of the referral but relationship and nationality is rectifiable:
    the case's contact, its referrer and current city too, on the principal, encrypted as at
    the referral; the people search finds the principal by the new phone, not the old."""
    created = await intake.open_case()
    case_id, mother = created["case_id"], intake.person(created, "principal")
    search = "/people/search"

    async def found_by(phone: str) -> bool:
        answer = answered(await intake.http.post(search, json={"phone": phone}))
        return case_id in {i["case_id"] for i in answer["items"]}

    await eventually(lambda: found_by(OLD_PHONE), timeout=30)
    body = rectification(
        mother,
        contact={"phone": NEW_PHONE, "address": "4a Calle 7-21"},
        referrer={"name": NEW_REFERRER, "organisation": "Pastoral de Movilidad"},
        current_city=NEW_CITY,
        sex="other",
        reason="data_subject_request",
    )
    answer = answered(await intake.http.post(f"/cases/{case_id}/rectifications", json=body), 201)
    data = await _stored(intake, case_id, RECTIFIED)
    assert data["fields"] == ["sex", "contact", "referrer", "current_city"]
    assert data["sex"] == "other" and data["referring_organisation"] == "Pastoral de Movilidad"
    stored = json.dumps(data, ensure_ascii=False)
    for plaintext in (NEW_PHONE, "4444", "4a Calle", NEW_REFERRER, NEW_CITY, OLD_PHONE):
        assert plaintext not in stored, plaintext
    for sealed in ("contact", "referrer", "current_city"):
        assert data[sealed]["subject"] == mother, sealed

    case = await intake.wait_for(case_id, version=answer["version"])
    # A whole new contact: the email the referral had is no longer kept.
    assert case["contact"] == {"phone": NEW_PHONE, "address": "4a Calle 7-21"}
    assert case["referrer"] == {"name": NEW_REFERRER, "contact": None}
    assert case["referring_organisation"] == "Pastoral de Movilidad"
    assert case["current_city"] == NEW_CITY
    assert next(p for p in case["household"] if p["person_id"] == mother)["sex"] == "other"
    # The list of rectifications says which fields and why, never to what.
    [entry] = case["rectifications"]
    assert NEW_PHONE not in json.dumps(entry) and NEW_CITY not in json.dumps(entry)

    await eventually(lambda: found_by(NEW_PHONE), timeout=30)
    assert not await found_by(OLD_PHONE)
    # The name and the birth date still find her (the rest of her rows was indexed again).
    by_name = answered(await intake.http.post(search, json={"name": "Quispe Mamani"}))
    assert case_id in {i["case_id"] for i in by_name["items"]}


async def test_the_case_data_is_rectified_on_the_principal_and_only_where_recorded(
    intake: Intake,
) -> None:
    created = await intake.open_case()
    case_id, child = created["case_id"], intake.person(created, "child")
    path = f"/cases/{case_id}/rectifications"
    refused = await intake.http.post(path, json=rectification(child, current_city=NEW_CITY))
    assert refused.status_code == 422 and "person_id" in refused.text, refused.text
    empty = await intake.http.post(path, json=rectification(child, contact={}))
    assert empty.status_code == 422 and "contact" in empty.text, empty.text

    alone = referral(source="self_referral", contact_sharing_consented=False, contact=None)
    del alone["referrer"]
    created = await intake.open_case(alone)
    case_id, mother = created["case_id"], intake.person(created, "principal")
    path = f"/cases/{case_id}/rectifications"
    for field, value in (("referrer", {"name": NEW_REFERRER}), ("contact", {"phone": NEW_PHONE})):
        refused = await intake.http.post(path, json=rectification(mother, **{field: value}))
        assert refused.status_code == 422, refused.text
        assert refused.json().get("field") == field or field in refused.text, refused.text
    assert RECTIFIED not in await intake.event_types(case_id)
    # The city can be given where the referral had none (it is where the household lives).
    answered(await intake.http.post(path, json=rectification(mother, current_city=NEW_CITY)), 201)


async def test_a_corrected_age_is_passed_on_once_the_return_was_requested(
    intake: Intake,
) -> None:
    """Other services decide on ages and unaccompanied children: a corrected date of birth
    after the return request is followed by the household's facts as corrected (no date in
    them); before the request, ReturnRequested will carry them."""
    created = await intake.open_case()
    before = rectification(intake.person(created, "principal"), date_of_birth="1991-04-12")
    answer = answered(
        await intake.http.post(f"/cases/{created['case_id']}/rectifications", json=before), 201
    )
    assert answer["events"] == [RECTIFIED]

    case_id, mother, child = await intake.return_requested()
    # The mother was 16, not 36: nobody of age travels with the child.
    body = rectification(mother, date_of_birth="2010-01-12")
    answer = answered(await intake.http.post(f"/cases/{case_id}/rectifications", json=body), 201)
    assert answer["events"] == [RECTIFIED, FACTS]
    facts = await _stored(intake, case_id, FACTS)
    assert "2010" not in json.dumps(facts)
    household = {m["person_id"]: m for m in facts["household"]}
    assert household[mother]["age_years"] in (16, 17) and household[child]["age_years"] < 18
    assert all(m["unaccompanied_minor"] for m in household.values())
    assert facts["person_id"] == mother

    case = await intake.wait_for(case_id, version=answer["version"])
    assert all(m["unaccompanied_minor"] for m in case["household"])
    timeline = (await intake.http.get(f"/cases/{case_id}/timeline")).json()
    [line] = [e for e in timeline["items"] if e["type"] == FACTS]
    assert "2 people" in line["summary"] and "2010" not in json.dumps(timeline)

    # A name alone changes nothing other services decide on: nothing is passed on.
    again = rectification(child, given_names="Luis Ángel")
    answer = answered(await intake.http.post(f"/cases/{case_id}/rectifications", json=again), 201)
    assert answer["events"] == [RECTIFIED]
