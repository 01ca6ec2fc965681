"""Per-case records for the authorities (real PostgreSQL + Kafka): a record already queued
when the person withdraws their consent is never published; the others carry exactly the
fields the person chose; the choice of fields belongs to the purpose it is for."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from generated_cases import envelope
from intake_fixtures import Intake, consent, referral
from sqlalchemy import func, select

from avrr_events.kafka import KafkaPublisher, KafkaSettings
from avrr_events.public import public_outbox
from avrr_events.testing import eventually, read_topic
from avrr_intake.authorities import case_reference
from avrr_intake.settings import IntakeSettings

SHARED = ["given_names", "date_of_birth", "sex", "nationality"]


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
    publisher = KafkaPublisher(kafka_settings)
    try:
        travel_topic = intake.runtime.settings.topic("travel")
        await publisher.publish(
            [arrival(c).to_message(travel_topic) for c in (withdrawn_case, kept_case)]
        )
    finally:
        await publisher.stop()

    async def both_queued() -> bool:
        return await queued(intake) == 2

    await eventually(both_queued, timeout=30)
    withdrawal = await intake.http.post(
        f"/cases/{withdrawn_case}/consents/share_with_authorities/withdrawal",
        json={"person_id": withdrawn_mother},
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
    assert data["returnees"] == [
        {
            "given_names": "María José",
            "date_of_birth": "1982-04-12",
            "sex": "female",
            "nationality": "BO",
        }
    ]
    raw = record.value + record.key + b"".join(v for _, v in record.headers)
    for value in ("Quispe", "BO1234567", "5555", "Luis", kept_case, withdrawn_case):
        assert value.encode() not in raw, value


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
