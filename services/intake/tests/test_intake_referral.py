"""Referrals open cases; contact details need the migrant's consent; duplicates are flagged."""

from __future__ import annotations

from intake_fixtures import PRINCIPAL_NAME, Intake, referral

from avrr_events import Envelope
from avrr_events.testing import database_dump
from avrr_intake.events import registry
from avrr_intake.referral import ReferralReceived


async def test_a_referral_opens_a_case_readable_in_the_list_and_the_case_file(
    intake: Intake,
) -> None:
    response = await intake.refer()
    assert response.status_code == 201, response.text
    created = response.json()
    case_id = created["case_id"]
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"].endswith(f"/cases/{case_id}")
    assert created["status"] == "open"
    assert PRINCIPAL_NAME not in response.text, "command responses carry ids, not personal data"

    case = await intake.wait_for(case_id, version=1)
    principal = next(p for p in case["household"] if p["relationship"] == "principal")
    child = next(p for p in case["household"] if p["relationship"] == "child")
    assert f"{principal['given_names']} {principal['family_name']}" == PRINCIPAL_NAME
    assert principal["date_of_birth"] == "1990-04-12"
    assert principal["document"] == {"type": "passport", "number": "BO1234567"}
    assert child["age_years"] >= 9 and child["unaccompanied_minor"] is False
    assert case["contact"] == {"phone": "+502 5555 0199", "email": "maria.quispe@example.org"}
    assert case["referrer"]["name"] == "Ana Referente"
    assert case["nationality"] == "BO" and case["host_country"] == "GT"
    assert case["status"] == "open"

    listed = (await intake.http.get("/cases", params={"office": "GT-GUA"})).json()
    assert listed["total"] == 1
    assert listed["items"][0]["principal_name"] == PRINCIPAL_NAME
    assert await intake.event_types(case_id) == ["avrr.intake.ReferralReceived"]


async def test_without_contact_consent_no_contact_details_are_stored(
    intake: Intake, database_url: str
) -> None:
    body = referral(
        contact_sharing_consented=False,
        contact={"phone": "+502 5555 7777", "email": "no-consent@example.org"},
    )
    created = await intake.open_case(body)

    case = await intake.wait_for(created["case_id"], version=1)
    assert case["contact"] is None
    assert case["contact_sharing_consented"] is False
    [recorded] = await intake.runtime.store.load(f"case-{created['case_id']}")
    event = registry.decode(recorded.envelope)
    assert isinstance(event, ReferralReceived) and event.contact is None
    # Not even as ciphertext: the details were dropped before anything was encrypted.
    dump = await database_dump(database_url)
    assert "no-consent@example.org" not in dump and "5555 7777" not in dump
    assert isinstance(recorded.envelope, Envelope)


async def test_a_second_referral_of_someone_in_an_open_case_is_flagged_as_possible_duplicate(
    intake: Intake, database_url: str
) -> None:
    first = await intake.open_case()
    # Same person, written differently: accents, case and spacing do not hide them.
    again = referral(source="consulate")
    again["household"] = [
        {
            "given_names": "MARIA  JOSE",
            "family_name": "quispe mamani",
            "date_of_birth": "1990-04-12",
            "sex": "female",
            "relationship": "principal",
        }
    ]
    response = await intake.refer(again)
    assert response.status_code == 201, response.text
    second = response.json()
    [match] = second["possible_duplicates"]
    assert match["matching_case_id"] == first["case_id"]
    assert match["matching_person_id"] == intake.person(first, "principal")
    assert await intake.event_types(second["case_id"]) == [
        "avrr.intake.ReferralReceived",
        "avrr.intake.PossibleDuplicateFlagged",
    ]
    case = await intake.wait_for(second["case_id"], version=2)
    assert case["possible_duplicates"] == [match]
    listed = (await intake.http.get("/cases", params={"source": "consulate"})).json()
    assert [c["possible_duplicate"] for c in listed["items"]] == [True]
    # The keys compared are keyed hashes: no normalised name is stored anywhere.
    dump = await database_dump(database_url)
    assert "maria jose" not in dump.casefold().replace("  ", " ")


async def test_someone_whose_case_was_withdrawn_is_not_flagged_again(intake: Intake) -> None:
    first = await intake.open_case()
    withdrawn = await intake.http.post(
        f"/cases/{first['case_id']}/withdrawal", json={"reason": "changed_mind"}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    await intake.wait_for(first["case_id"], version=withdrawn.json()["version"])
    response = await intake.refer()
    assert response.json()["possible_duplicates"] == []


async def test_the_case_list_filters_and_pages(intake: Intake) -> None:
    for office, nationality in (("GT-GUA", "BO"), ("GT-GUA", "HN"), ("MX-TAP", "HN")):
        await intake.open_case(referral(office=office, nationality=nationality))

    async def page(**params: str | int) -> dict[str, object]:
        response = await intake.http.get("/cases", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    assert (await page(nationality="HN"))["total"] == 2
    assert (await page(office="GT-GUA", nationality="HN"))["total"] == 1
    assert (await page(status="open"))["total"] == 3
    assert (await page(status="withdrawn"))["total"] == 0
    assert (await page(referred_from="2000-01-01", referred_to="2000-12-31"))["total"] == 0
    first, second = await page(limit=2, offset=0), await page(limit=2, offset=2)
    assert first["total"] == second["total"] == 3
    assert len(first["items"]) == 2 and len(second["items"]) == 1  # type: ignore[arg-type]
    bad = await intake.http.get("/cases", params={"limit": 1000})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
