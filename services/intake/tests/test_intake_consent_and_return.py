"""Consent per person and purpose; the application to return needs it; withdrawal at any moment."""

from __future__ import annotations

import json
from typing import Any

from intake_fixtures import Intake, consent, referral

from avrr_events import Envelope
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.testing import read_topic


async def _consent_for_household(intake: Intake, created: dict[str, Any]) -> int:
    """Return-assistance consent of the mother, and of her child through her; the new version."""
    case_id = created["case_id"]
    mother = intake.person(created, "principal")
    child = intake.person(created, "child")
    first = await intake.http.post(f"/cases/{case_id}/consents", json=consent(mother))
    assert first.status_code == 201, first.text
    second = await intake.http.post(
        f"/cases/{case_id}/consents",
        json=consent(
            child,
            given_by="guardian",
            representative_person_id=mother,
            child_views="Wants to go back to his grandmother.",
        ),
    )
    assert second.status_code == 201, second.text
    return int(second.json()["version"])


async def _return_requested(intake: Intake, **body: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new case whose household consented and whose return to Bolivia was requested."""
    created = await intake.open_case()
    await _consent_for_household(intake, created)
    response = await intake.http.post(
        f"/cases/{created['case_id']}/return-request",
        json={"destination_country": "BO", **body},
    )
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return created, answer


async def test_return_request_without_consent_is_refused_naming_the_missing_consent(
    intake: Intake,
) -> None:
    created = await intake.open_case()
    response = await intake.http.post(
        f"/cases/{created['case_id']}/return-request", json={"destination_country": "BO"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert "return_assistance_processing" in problem["detail"]
    assert problem["missing_consents"] == ["return_assistance_processing"]
    assert await intake.event_types(created["case_id"]) == ["avrr.intake.ReferralReceived"]


async def test_consent_status_per_purpose_follows_given_and_withdrawn(intake: Intake) -> None:
    created = await intake.open_case()
    case_id = created["case_id"]
    mother = intake.person(created, "principal")
    given = await intake.http.post(
        f"/cases/{case_id}/consents",
        json=consent(mother, "contact_by_programme", "share_with_authorities"),
    )
    assert given.status_code == 201, given.text
    assert given.json()["events"] == ["avrr.intake.ConsentGiven"] * 2
    withdrawn = await intake.http.post(
        f"/cases/{case_id}/consents/share_with_authorities/withdrawal",
        json={"person_id": mother, "reason": "safety_concerns"},
    )
    assert withdrawn.status_code == 200, withdrawn.text
    await intake.wait_for(case_id, version=withdrawn.json()["version"])

    status = (await intake.http.get(f"/cases/{case_id}/consents")).json()["consents"]
    by_purpose = {c["purpose"]: c["status"] for c in status}
    assert by_purpose == {"contact_by_programme": "given", "share_with_authorities": "withdrawn"}

    again = await intake.http.post(
        f"/cases/{case_id}/consents/share_with_authorities/withdrawal",
        json={"reason": "changed_mind"},
    )
    assert again.status_code == 422, "nothing left to withdraw"


async def test_a_child_consents_through_a_guardian_never_alone(intake: Intake) -> None:
    created = await intake.open_case()
    child = intake.person(created, "child")
    alone = await intake.http.post(f"/cases/{created['case_id']}/consents", json=consent(child))
    assert alone.status_code == 422
    assert "guardian" in alone.json()["detail"]
    version = await _consent_for_household(intake, created)
    case = await intake.wait_for(created["case_id"], version=version)
    child_consent = next(c for c in case["consents"] if c["person_id"] == child)
    assert child_consent["given_by"] == "guardian"


async def test_return_requested_carries_the_household_without_personal_data(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    created, answer = await _return_requested(intake, destination_region="La Paz")
    case_id = created["case_id"]
    assert answer["events"] == ["avrr.intake.ReturnRequested"]

    records = await read_topic(kafka_settings, intake.runtime.topic, 4)
    envelopes = [Envelope.from_message(r) for r in records]
    [requested] = [e for e in envelopes if e.type == "avrr.intake.ReturnRequested"]
    assert requested.subject == case_id
    data = requested.data
    assert (data["nationality"], data["host_country"], data["destination_country"]) == (
        "BO",
        "GT",
        "BO",
    )
    assert data["office"] == "GT-GUA" and data["destination_region"] == "La Paz"
    household = {m["relationship"]: m for m in data["household"]}
    assert household["principal"]["age_years"] >= 35
    assert household["child"]["unaccompanied_minor"] is False
    assert set(household["child"]) == {
        "person_id",
        "age_years",
        "sex",
        "relationship",
        "unaccompanied_minor",
    }
    assert "Quispe" not in json.dumps(data)


async def test_withdrawal_after_the_return_request_emits_case_withdrawn_and_ends_the_case(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    created, _ = await _return_requested(intake)
    case_id = created["case_id"]
    withdrawn = await intake.http.post(
        f"/cases/{case_id}/withdrawal",
        json={"reason": "changed_mind", "note": "Found work here."},
    )
    assert withdrawn.status_code == 200, withdrawn.text
    records = await read_topic(kafka_settings, intake.runtime.topic, 5)
    types = [Envelope.from_message(r).type for r in records]
    assert types[-2:] == ["avrr.intake.ReturnRequested", "avrr.intake.CaseWithdrawn"]
    withdrawal = Envelope.from_message(records[-1]).data
    assert withdrawal["case_id"] == case_id and withdrawal["reason"] == "changed_mind"
    assert "Found work" not in json.dumps(withdrawal), "the note is encrypted"

    case = await intake.wait_for(case_id, version=withdrawn.json()["version"])
    assert case["status"] == "withdrawn" and case["withdrawal"]["note"] == "Found work here."
    for path, body in (
        ("return-request", {"destination_country": "BO"}),
        ("withdrawal", {"reason": "other"}),
        ("consents", consent(intake.person(created, "principal"))),
    ):
        refused = await intake.http.post(f"/cases/{case_id}/{path}", json=body)
        assert refused.status_code == 422, (path, refused.text)
        assert "withdrawn" in refused.json()["detail"]


async def test_an_unaccompanied_child_applies_through_a_legal_representative(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    alone = referral(
        household=[
            {
                "given_names": "Kevin",
                "family_name": "López",
                "date_of_birth": "2010-02-03",
                "sex": "male",
                "relationship": "principal",
            }
        ],
        nationality="HN",
    )
    created = await intake.open_case(alone)
    case_id, child = created["case_id"], intake.person(created, "principal")
    case = await intake.wait_for(case_id, version=1)
    assert case["household"][0]["unaccompanied_minor"] is True
    given = await intake.http.post(
        f"/cases/{case_id}/consents",
        json=consent(
            child,
            given_by="legal_representative",
            representative={"name": "Lic. Rosa Méndez", "relationship": "child protection officer"},
            child_views="Wants to live with his aunt in San Pedro Sula.",
        ),
    )
    assert given.status_code == 201, given.text
    requested = await intake.http.post(
        f"/cases/{case_id}/return-request", json={"destination_country": "HN"}
    )
    assert requested.status_code == 201, requested.text
    records = await read_topic(kafka_settings, intake.runtime.topic, 3)
    data = Envelope.from_message(records[-1]).data
    assert [m["unaccompanied_minor"] for m in data["household"]] == [True]
    assert "Rosa" not in json.dumps([Envelope.from_message(r).data for r in records])
