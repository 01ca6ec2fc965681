"""Erasure crypto-shreds every person of a case: the API shows "erased", no name rests in the DB."""

from __future__ import annotations

from intake_fixtures import DPO, PRINCIPAL_NAME, Intake

from avrr_events.kafka import KafkaSettings
from avrr_events.testing import database_dump, read_topic


async def test_only_a_data_protection_officer_may_erase(intake: Intake) -> None:
    created = await intake.open_case()
    response = await intake.http.post(f"/cases/{created['case_id']}/erasure")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert await intake.event_types(created["case_id"]) == ["avrr.intake.ReferralReceived"]


async def test_erasure_makes_the_people_unreadable_through_the_api_and_in_the_database(
    intake: Intake, database_url: str, kafka_settings: KafkaSettings
) -> None:
    created = await intake.open_case()
    case_id = created["case_id"]
    assert PRINCIPAL_NAME not in await database_dump(database_url), "ciphertext only, always"

    response = await intake.http.post(f"/cases/{case_id}/erasure", headers=DPO)
    assert response.status_code == 200, response.text
    assert response.json()["events"] == ["avrr.intake.PersonalDataErased"]

    case = await intake.wait_for(case_id, version=2)
    assert case["personal_data_erased"] is True
    for person in case["household"]:
        assert person["given_names"] == person["family_name"] == "erased"
        assert person["date_of_birth"] == "erased"
    assert case["contact"] == case["referrer"] == case["declared_needs"] == "erased"
    # Non-personal facts stay for statistics.
    assert (case["nationality"], case["host_country"], len(case["household"])) == ("BO", "GT", 2)
    listed = (await intake.http.get("/cases")).json()["items"]
    assert [c["principal_name"] for c in listed] == ["erased"]

    dump = await database_dump(database_url)
    for plaintext in ("Quispe", "María", "BO1234567", "maria.quispe@example.org", "Ana Referente"):
        assert plaintext not in dump
    erased = [r for r in await read_topic(kafka_settings, intake.runtime.topic, 2)][-1]
    assert b"PersonalDataErased" in dict(erased.headers)["ce_type"]
    assert b'"person_ids"' in erased.value

    again = await intake.http.post(f"/cases/{case_id}/erasure", headers=DPO)
    assert again.status_code == 422
    refused = await intake.http.post(
        f"/cases/{case_id}/return-request", json={"destination_country": "BO"}
    )
    assert refused.status_code == 422 and "erased" in refused.json()["detail"]
