"""The envelope on the wire: CloudEvents 1.0 binary mode that the official SDK reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from sample_domain import SampleCase
from sample_service import SampleService, repository

from avrr_events import Cause, Database, Envelope, EnvelopeError, EventStore, Message
from avrr_events.adapters.kafka import KafkaPublisher, KafkaSettings, TopicSpec, ensure_topics
from avrr_events.outbox import OutboxRelay
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


async def test_records_relayed_from_either_database_decode_with_the_cloudevents_sdk(
    any_db: Database, kafka_settings: KafkaSettings, topic_name: Callable[[str], str]
) -> None:
    """SQLite hands stored times back without their offset: the records it relayed carried
    ``ce_time`` values like ``2026-12-06T17:50:28.643864``, which the SDK refuses."""
    topic = topic_name("sample")
    await ensure_topics(kafka_settings, [TopicSpec(topic, partitions=1)])
    store = EventStore(any_db, topic)
    case = SampleCase("ce-utc")
    case.open("office-pe")
    case.add_note("hola")
    saved = await repository(store).save(case, Cause("corr-utc"))
    relay = OutboxRelay(any_db, KafkaPublisher(kafka_settings))
    try:
        await relay.drain()
    finally:
        await relay.publisher.stop()
    records = await read_topic(kafka_settings, topic, len(saved))
    assert len(records) == len(saved)
    for record, envelope in zip(records, saved, strict=True):
        assert (record.header("ce_time") or "").endswith("Z"), record.header("ce_time")
        decoded = sdk_decode(record)
        assert decoded.get_time() == envelope.time
        assert decoded.get_time().utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 6, 17, 50, 28, 643864),
        datetime(2026, 12, 6, 19, 50, 28, 643864, tzinfo=timezone(timedelta(hours=2))),
    ],
    ids=["naive-as-stored-by-sqlite", "another-offset"],
)
def test_an_envelope_time_is_always_written_in_utc(moment: datetime) -> None:
    envelope = Envelope(
        source="/avrr/sample",
        type="avrr.sample.CaseOpened",
        subject="case-utc",
        time=moment,
        dataschema="urn:avrr:schema:avrr.sample.CaseOpened:v1",
        dataversion=1,
        correlationid="c",
        data={"office": "x"},
    )
    message = envelope.to_message("t.sample")
    assert message.header("ce_time") == "2026-12-06T17:50:28.643864Z"
    assert sdk_decode(message).get_time() == datetime(2026, 12, 6, 17, 50, 28, 643864, tzinfo=UTC)
    assert Envelope.from_message(message) == envelope


def test_a_record_whose_time_has_no_offset_is_refused_as_the_sdk_refuses_it() -> None:
    headers = (
        ("ce_specversion", b"1.0"),
        ("ce_id", b"e-1"),
        ("ce_source", b"/avrr/sample"),
        ("ce_type", b"avrr.sample.CaseOpened"),
        ("ce_subject", b"case-1"),
        ("ce_time", b"2026-12-06T17:50:28.643864"),
        ("ce_dataschema", b"urn:x"),
        ("ce_dataversion", b"1"),
        ("ce_correlationid", b"c"),
    )
    with pytest.raises(EnvelopeError, match="no timezone offset"):
        Envelope.from_message(Message("t", b"case-1", b"{}", headers))


_ATTRIBUTES = (
    ("ce_specversion", b"1.0"),
    ("ce_id", b"e-2"),
    ("ce_source", b"/avrr/sample"),
    ("ce_type", b"avrr.sample.CaseOpened"),
    ("ce_subject", b"case-2"),
    ("ce_time", b"2026-12-06T17:50:28Z"),
    ("ce_dataschema", b"urn:x"),
    ("ce_dataversion", b"1"),
    ("ce_correlationid", b"c"),
)


def test_a_ce_data_header_is_an_unknown_extension_not_the_events_data() -> None:
    """It used to reach the model as a second ``data`` and raise TypeError, not an
    EnvelopeError: the consumer retried the batch behind it for ever."""
    headers = (*_ATTRIBUTES, ("ce_data", b'{"office": "elsewhere"}'))
    envelope = Envelope.from_message(Message("t", b"case-2", b'{"office": "x"}', headers))
    assert envelope.data == {"office": "x"}


@pytest.mark.parametrize(
    "value",
    ['\ufeff{"office": "x"}'.encode(), '{"office": "x"}'.encode("utf-16")],
    ids=["utf-8-with-bom", "utf-16"],
)
def test_event_data_that_json_reads_from_bytes_is_still_read(value: bytes) -> None:
    """The UTF-8 fast path falls back to ``json.loads`` of the bytes, which reads these."""
    envelope = Envelope.from_message(Message("t", b"case-2", value, _ATTRIBUTES))
    assert envelope.data == {"office": "x"}


def test_a_ce_header_that_is_not_utf8_is_refused_even_when_no_field_reads_it() -> None:
    headers = (*_ATTRIBUTES, ("ce_partnerext", b"\xff\xfe"))
    with pytest.raises(EnvelopeError, match="header ce_partnerext is not UTF-8"):
        Envelope.from_message(Message("t", b"case-2", b"{}", headers))
