"""Referrals open cases; contact details need the migrant's consent; duplicates are flagged."""

from __future__ import annotations

from intake_fixtures import PRINCIPAL_NAME, Intake, database_dump, referral

from avrr_events import Envelope
from avrr_intake.case import registry
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
