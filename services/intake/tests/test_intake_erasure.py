"""Erasure crypto-shreds every person of a case: the API shows "erased", no name rests in the DB."""

from __future__ import annotations

from intake_fixtures import DPO, PRINCIPAL_NAME, Intake, referral

from avrr_events.adapters.kafka import KafkaSettings
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
    assert case["contact"] == case["referrer"] == "erased"
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


async def test_erasure_shreds_the_city_and_the_counselling_topics_everywhere(
    intake: Intake, database_url: str, kafka_settings: KafkaSettings
) -> None:
    """Issue 15: the city of residence and the topics of counselling describe the person;
    they were plaintext in the event, the case file, the timeline facts and the topic."""
    city, topic = "Villa Nueva sector Zq17", "threats from a gang in Zq17 colonia"
    body = referral(current_location={"country": "GT", "city": city})
    created = await intake.open_case(body)
    case_id = created["case_id"]
    session = {
        "held_on": "2026-01-05",
        "office": "GT-GUA",
        "language": "es",
        "topics": [topic, "return process"],
        "outcome": "continue_counselling",
    }
    response = await intake.http.post(f"/cases/{case_id}/counselling-sessions", json=session)
    assert response.status_code == 201, response.text
    case = await intake.wait_for(case_id, version=2)
    assert case["current_city"] == city
    assert case["counselling"][0]["topics"] == [topic, "return process"]
    for text in (city, topic):
        assert text not in await database_dump(database_url), "ciphertext only, always"

    response = await intake.http.post(f"/cases/{case_id}/erasure", headers=DPO)
    assert response.status_code == 200, response.text
    case = await intake.wait_for(case_id, version=3)
    assert case["current_city"] == "erased"
    assert case["counselling"][0]["topics"] == "erased"
    timeline = (await intake.http.get(f"/cases/{case_id}/timeline")).json()["items"]
    assert city not in str(timeline) and topic not in str(timeline)
    records = await read_topic(kafka_settings, intake.runtime.topic, 3)
    stored = (await database_dump(database_url)).encode() + b"".join(r.value for r in records)
    for text in (city, topic):
        assert text.encode() not in stored
