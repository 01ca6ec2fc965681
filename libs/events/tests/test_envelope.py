"""The envelope on the wire: CloudEvents 1.0 binary mode that the official SDK reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from sample_domain import SampleCase
from sample_service import SampleService

from avrr_events import Cause, Envelope, EnvelopeError, Message
from avrr_events.kafka import KafkaSettings
from avrr_events.testing import read_topic


def sdk_decode(message: Message) -> Any:
    return from_binary(
        KafkaMessage(headers=dict(message.headers), key=message.key, value=message.value),
        JSONFormat(),
    )


async def test_a_record_published_by_the_relay_is_decoded_by_the_cloudevents_sdk(
    kafka_service: SampleService, kafka_settings: KafkaSettings
) -> None:
    case = SampleCase("ce-1")
    case.open("office-pe")
    case.add_note("hola")
    [opened, noted] = await kafka_service.repo.save(
        case,
        Cause("corr-ce", traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    )
    await kafka_service.relay.drain()
    records = await read_topic(kafka_settings, kafka_service.topic, 2)
    events = [sdk_decode(m) for m in records]
    by_id = {e.get_id(): e for e in events}
    sdk = by_id[noted.id]
    assert sdk.get_type() == "avrr.sample.NoteAdded"
    assert sdk.get_source() == "/avrr/sample"
    assert sdk.get_subject() == "ce-1"
    assert sdk.get_specversion() == "1.0"
    assert sdk.get_data() == {"text": "hola", "author": "caseworker"}
    assert sdk.get_datacontenttype() == "application/json"
    assert sdk.get_dataschema() == "urn:avrr:schema:avrr.sample.NoteAdded:v2"
    assert sdk.get_extension("correlationid") == "corr-ce"
    assert sdk.get_extension("dataversion") == "2"
    assert sdk.get_extension("traceparent").startswith("00-0af7651916cd43dd")
    assert sdk.get_extension("partitionkey") == "ce-1"  # the Kafka key is the case id
    assert sdk.get_time() == noted.time
    assert by_id[opened.id].get_type() == "avrr.sample.CaseOpened"


def test_envelope_round_trips_through_a_kafka_record() -> None:
    original = Envelope(
        source="/avrr/intake",
        type="avrr.intake.ReferralReceived",
        subject="case-9",
        time=datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
        dataschema="urn:avrr:schema:avrr.intake.ReferralReceived:v1",
        dataversion=1,
        correlationid="c",
        causationid="e0",
        data={"nationality": "HN", "note": "ñandú"},
    )
    message = original.to_message("avrr.intake.events")
    assert message.key == b"case-9"
    assert message.header("ce_time") == "2026-11-22T10:00:00Z"
    assert Envelope.from_message(message) == original


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        ((), b"{}", "ce_specversion missing"),
        ((("ce_specversion", b"1.0"),), b"{}", "invalid CloudEvent attributes"),
        ((("ce_specversion", b"1.0"),), b"not json", "not JSON"),
        ((("ce_specversion", b"1.0"),), b"[1]", "JSON object"),
    ],
)
def test_a_record_that_is_not_an_avrr_cloudevent_is_refused_with_the_reason(
    headers: tuple[tuple[str, bytes], ...], value: bytes, reason: str
) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        Envelope.from_message(Message("t", b"k", value, headers))
