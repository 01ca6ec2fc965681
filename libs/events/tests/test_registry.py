"""Event types, versions, upcasting and the published JSON Schemas."""

from __future__ import annotations

import pytest
from sample_domain import NoteAdded, registry

from avrr_events import Envelope, dataschema_uri
from avrr_events.registry import InvalidPayload, UnknownEventType, UnsupportedVersion


def envelope(type_: str, version: int, data: dict[str, object]) -> Envelope:
    return Envelope(
        source="/t",
        type=type_,
        subject="s",
        dataschema=dataschema_uri(type_, version),
        dataversion=version,
        correlationid="c",
        data=data,
    )


def test_an_old_version_is_upcast_to_the_current_one() -> None:
    event = registry.decode(envelope(NoteAdded.event_type, 1, {"text": "old note"}))
    assert event == NoteAdded(text="old note", author="unknown")


def test_unknown_types_newer_versions_and_bad_payloads_are_refused_with_a_reason() -> None:
    with pytest.raises(UnknownEventType):
        registry.decode(envelope("avrr.sample.Nope", 1, {}))
    with pytest.raises(UnsupportedVersion, match="v3 is newer"):
        registry.decode(envelope(NoteAdded.event_type, 3, {"text": "x", "author": "y"}))
    with pytest.raises(InvalidPayload, match="author"):
        registry.decode(envelope(NoteAdded.event_type, 2, {"text": "x"}))
    with pytest.raises(InvalidPayload, match="Extra inputs"):
        registry.decode(envelope(NoteAdded.event_type, 2, {"text": "x", "author": "y", "z": 1}))


def test_every_registered_type_exports_a_json_schema_with_its_uri_and_version() -> None:
    schemas = registry.json_schemas()
    uri = "urn:avrr:schema:avrr.sample.NoteAdded:v2"
    assert set(schemas) == {uri, "urn:avrr:schema:avrr.sample.CaseOpened:v1"}
    assert schemas[uri]["required"] == ["text", "author"]
    assert schemas[uri]["x-event-version"] == 2
    opened = schemas["urn:avrr:schema:avrr.sample.CaseOpened:v1"]
    # personal data is published as ciphertext, and the schema says so
    assert "Encrypted" in str(opened["properties"]["name"])
