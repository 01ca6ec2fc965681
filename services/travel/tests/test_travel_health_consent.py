"""Health details are recorded only after the person GAVE consent to medical data processing,
and rest under their health key bound to case, person and field; bearer JWTs, real PostgreSQL
and Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from travel_fixtures import Travel

from avrr_events import Encrypted
from avrr_events.adapters.kafka import KafkaPublisher, KafkaSettings
from avrr_events.settings import ServiceSettings
from avrr_events.testing import running
from avrr_events.web.auth import DevTokenIssuer
from avrr_travel import read_models
from avrr_travel.main import service

ISSUER = DevTokenIssuer()


def bearer(role: str, offices: tuple[str, ...] = ("GT-GUA",)) -> dict[str, str]:
    return {"Authorization": "Bearer " + ISSUER.issue(f"{role}-1", [role], offices)}


MEDIC = bearer("medical")


@pytest.fixture
async def travel(
    service_settings: ServiceSettings, kafka_settings: KafkaSettings
) -> AsyncIterator[Travel]:
    upstream = KafkaPublisher(kafka_settings)
    try:
        # The calls under test carry bearer JWTs (checked against ISSUER's JWKS); the
        # fixture's own helpers still read with the development headers.
        async with running(
            service,
            service_settings,
            base_url="http://travel",
            authenticator=ISSUER.authenticator(),
        ) as (runtime, http):
            yield Travel(runtime, http, kafka_settings, upstream)
    finally:
        await upstream.stop()


async def test_health_details_without_a_given_consent_are_refused_and_not_stored(
    travel: Travel,
) -> None:
    case = "case-health-consent"
    await travel.opened(case)
    fitness = f"/movements/{case}/fitness"
    details = {"person_id": "p-mother", "outcome": "fit", "health_details": "asthma, inhaler"}

    # Never given (nothing withdrawn either): refused, naming the field; no key, no event.
    r = await travel.post(fitness, details, MEDIC)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "health_details"
    assert await travel.runtime.cipher.keys.get("p-mother") is None
    # The outcome alone needs no consent.
    r = await travel.post(fitness, {"person_id": "p-mother", "outcome": "fit"}, MEDIC)
    assert r.status_code == 200, r.text

    # Given: recorded, under her health key, bound to this case and field.
    await travel.consent_to_medical_data(case, "p-mother")
    r = await travel.post(fitness, details, MEDIC)
    assert r.status_code == 200, r.text
    await travel.wait_for(case, version=r.json()["version"])
    r = await travel.http.get(f"/movements/{case}/medical", headers=MEDIC)
    assert [x["health_details"] for x in r.json()["records"]] == [None, "asthma, inhaler"]
    async with travel.runtime.db.engine.connect() as conn:
        [stored] = [
            Encrypted.model_validate(row.health_details)
            for row in await conn.execute(select(read_models.medical_records))
            if row.health_details is not None
        ]
    assert stored.alg == "A256GCM-health-v1"
    cipher = travel.runtime.cipher
    with pytest.raises(ValueError):  # copied into another field, or another case: no plaintext
        await cipher.decrypt_for_purpose(stored, case_id=case, field="transit_note")
    with pytest.raises(ValueError):
        await cipher.decrypt_for_purpose(stored, case_id="case-other", field="health_details")

    # Withdrawn for the whole household: hidden, and refused; given again: both resume.
    withdrawn = await travel.withdraw_consent(case, "medical_data_processing", datetime.now(UTC))
    await travel.handled(withdrawn)
    r = await travel.http.get(f"/movements/{case}/medical", headers=MEDIC)
    assert [x["health_details"] for x in r.json()["records"]] == [None, "consent_withdrawn"]
    assert (await travel.post(fitness, details, MEDIC)).status_code == 422
    await travel.consent_to_medical_data(case, "p-mother")
    r = await travel.post(fitness, {**details, "health_details": "asthma, controlled"}, MEDIC)
    assert r.status_code == 200, r.text
    await travel.wait_for(case, version=r.json()["version"])
    r = await travel.http.get(f"/movements/{case}/medical", headers=MEDIC)
    assert [x["health_details"] for x in r.json()["records"]] == [
        None,
        "asthma, inhaler",
        "asthma, controlled",
    ]
