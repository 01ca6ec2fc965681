"""Per-case records for the authorities (real PostgreSQL + Kafka): a record already queued
when the person withdraws their consent is never published; the others carry exactly the
fields the person chose, sealed under a disclosure key that intake releases to the
authority of the record's country only, while the consent stands, audited; the choice of
fields belongs to the purpose it is for."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from generated_cases import envelope
from intake_fixtures import DPO, Intake, consent, publish, referral
from sqlalchemy import func, select

from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.public import public_outbox
from avrr_events.testing import eventually, read_topic
from avrr_intake.authorities import case_reference, disclosure_subject
from avrr_intake.settings import IntakeSettings

SHARED = ["given_names", "date_of_birth", "sex", "nationality"]
BOLIVIA = {"X-AVRR-User": "bo-migracion", "X-AVRR-Roles": "authority", "X-AVRR-Offices": "BO"}
PERU = {"X-AVRR-User": "pe-migraciones", "X-AVRR-Roles": "authority", "X-AVRR-Offices": "PE"}


async def unseal(intake: Intake, sealed: dict[str, Any], headers: dict[str, str]) -> Any:
    """What a government system does: fetch the key over REST, open the returnee's fields."""
    response = await intake.http.get(f"/public/disclosure-keys/{sealed['key_id']}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    key = base64.b64decode(response.json()["key"])
    plain = AESGCM(key).decrypt(
        base64.b64decode(sealed["nonce"]), base64.b64decode(sealed["ct"]), sealed["key_id"].encode()
    )
    return json.loads(plain)


async def open_consented_case(intake: Intake, n: int) -> tuple[str, str]:
    """A case whose mother shares SHARED with the authorities; (case id, her person id)."""
    body = referral()
    body["household"][0]["date_of_birth"] = f"19{80 + n}-04-12"  # not a duplicate of the other
    created = await intake.open_case(body)
    mother = intake.person(created, "principal")
    given = await intake.http.post(
        f"/cases/{created['case_id']}/consents",
        json=consent(mother, "share_with_authorities", shared_fields=SHARED),
    )
    assert given.status_code == 201, given.text
    return str(created["case_id"]), mother


def arrival(case_id: str) -> Any:
    data = {
        "case_id": case_id,
        "programme_id": "americas-avr",
        "office": "GT-GUA",
        "destination_country": "BO",
        "arrived_at": datetime.now(UTC).isoformat(),
        "confirmed_by": "receiving_office",
    }
    return envelope("travel", "ArrivalConfirmed", case_id, datetime.now(UTC), data)


async def queued(intake: Intake) -> int:
    async with intake.runtime.db.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(public_outbox)) or 0)


async def test_a_withdrawal_stops_a_record_already_queued_and_others_carry_only_chosen_fields(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    relay = intake.runtime.public_relay
    assert relay is not None
    relay.stop()  # hold the queue: the test drains it itself, after the withdrawal

    withdrawn_case, withdrawn_mother = await open_consented_case(intake, 1)
    kept_case, _ = await open_consented_case(intake, 2)
    travel_topic = intake.runtime.settings.topic("travel")
    records = [arrival(c).to_message(travel_topic) for c in (withdrawn_case, kept_case)]
    await publish(kafka_settings, records)

    async def both_queued() -> bool:
        return await queued(intake) == 2

    await eventually(both_queued, timeout=30)
    withdrawal = await intake.http.post(
        f"/cases/{withdrawn_case}/consents/share_with_authorities/withdrawal",
        json={"person_id": withdrawn_mother, "reason": "safety_concerns"},
    )
    assert withdrawal.status_code == 200, withdrawal.text

    assert await relay.drain() == 2
    assert (relay.published, relay.withheld) == (1, 1)
    assert await queued(intake) == 0
    metrics = (await intake.http.get("/metrics")).text
    assert 'avrr_public_withheld_total{service="intake"} 1.0' in metrics
    assert 'avrr_public_backlog{service="intake"} 0.0' in metrics

    topic = intake.runtime.settings.public_topic("cases.BO")
    [record] = await read_topic(kafka_settings, topic, 1)
    secret = IntakeSettings().secret(intake.runtime.settings)
    assert record.key == case_reference(secret, kept_case).encode()
    assert record.header("ce_type") == "avrr.public.ReturnArrived"
    data = json.loads(record.value)
    [sealed] = data["returnees"]
    assert sealed["alg"] == "A256GCM"
    raw = record.value + record.key + b"".join(v for _, v in record.headers)
    for value in ("María", "1982-04-12", "Quispe", "BO1234567", "5555", "Luis", kept_case):
        assert value.encode() not in raw, value
    assert withdrawn_case.encode() not in raw
    assert await unseal(intake, sealed, BOLIVIA) == {
        "given_names": "María José",
        "date_of_birth": "1982-04-12",
        "sex": "female",
        "nationality": "BO",
    }


async def test_fields_to_share_are_only_accepted_with_consent_to_share_with_authorities(
    intake: Intake,
) -> None:
    created = await intake.open_case()
    mother = intake.person(created, "principal")
    refused = await intake.http.post(
        f"/cases/{created['case_id']}/consents",
        json=consent(mother, "contact_by_programme", shared_fields=["given_names"]),
    )
    assert refused.status_code == 422, refused.text
    assert "share_with_authorities" in refused.text


async def test_disclosure_keys_go_to_the_records_country_only_while_the_consent_stands(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    case_id, mother = await open_consented_case(intake, 3)
    erased_case, erased_mother = await open_consented_case(intake, 4)
    travel_topic = intake.runtime.settings.topic("travel")
    records = [arrival(c).to_message(travel_topic) for c in (case_id, erased_case)]
    await publish(kafka_settings, records)
    topic = intake.runtime.settings.public_topic("cases.BO")
    records = await read_topic(kafka_settings, topic, 2, timeout=60)
    secret = IntakeSettings().secret(intake.runtime.settings)
    by_case = {r.key: json.loads(r.value)["returnees"][0] for r in records}
    sealed = by_case[case_reference(secret, case_id).encode()]
    sealed_erased = by_case[case_reference(secret, erased_case).encode()]
    route = f"/public/disclosure-keys/{sealed['key_id']}"

    # Only a government system, only of the record's country; an id intake never issued is 404.
    assert (await intake.http.get(route)).status_code == 403  # a caseworker
    assert (await intake.http.get(route, headers=PERU)).status_code == 403
    forged = await intake.http.get(f"/public/disclosure-keys/{'A' * 120}", headers=BOLIVIA)
    assert forged.status_code == 404, forged.text
    assert (await unseal(intake, sealed, BOLIVIA))["given_names"] == "María José"

    # A withdrawal: the key is refused at once, and deleted.
    withdrawal = await intake.http.post(
        f"/cases/{case_id}/consents/share_with_authorities/withdrawal",
        json={"person_id": mother, "reason": "safety_concerns"},
    )
    assert withdrawal.status_code == 200, withdrawal.text
    refused = await intake.http.get(route, headers=BOLIVIA)
    assert refused.status_code == 410, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    subject = disclosure_subject(case_id, mother)
    assert await intake.runtime.cipher.keys.get(subject) is None

    # An erasure: the key of the other case is deleted with the person's own keys.
    assert (await unseal(intake, sealed_erased, BOLIVIA))["nationality"] == "BO"
    erased = await intake.http.post(f"/cases/{erased_case}/erasure", headers=DPO)
    assert erased.status_code == 200, erased.text
    gone = await intake.http.get(
        f"/public/disclosure-keys/{sealed_erased['key_id']}", headers=BOLIVIA
    )
    assert gone.status_code == 410, gone.text
    assert (
        await intake.runtime.cipher.keys.get(disclosure_subject(erased_case, erased_mother)) is None
    )
    # A consent the erased case refuses leaves no key behind either.
    refused_consent = await intake.http.post(
        f"/cases/{erased_case}/consents",
        json=consent(erased_mother, "share_with_authorities", shared_fields=SHARED),
    )
    assert refused_consent.status_code == 422, refused_consent.text
    assert (
        await intake.runtime.cipher.keys.get(disclosure_subject(erased_case, erased_mother)) is None
    )

    # Every answer about a real key is in the audit log, with the case and the caller.
    audit = await intake.runtime.audit.entries(case_id=case_id, after=0, limit=100)
    releases = [(e.actor, e.outcome) for e in audit if e.action == "disclose"]
    assert releases == [("pe-migraciones", 403), ("bo-migracion", 200), ("bo-migracion", 410)]
