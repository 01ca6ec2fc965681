"""The AsyncAPI document generated from a registry is valid for the official AsyncAPI parser."""

from __future__ import annotations

import json
from pathlib import Path

from sample_domain import registry

from avrr_events.asyncapi import asyncapi_document
from avrr_events.testing import asyncapi_parser


def validate_with_official_parser(document: dict[str, object], tmp_path: Path) -> str:
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(document))
    result = asyncapi_parser([path])
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_generated_asyncapi_document_passes_the_official_parser(tmp_path: Path) -> None:
    document = asyncapi_document(
        "sample",
        registry,
        topic_of=lambda s: f"avrr.{s}.events",
        dead_letter_topic="avrr.dlq.sample",
    )
    output = validate_with_official_parser(document, tmp_path)
    assert "valid AsyncAPI 3.0.0" in output
    channels = document["channels"]
    assert channels["sample.events"]["address"] == "avrr.sample.events"
    assert set(channels["sample.events"]["messages"]) == {
        "avrr.sample.CaseOpened",
        "avrr.sample.NoteAdded",
    }
    assert channels["dead-letters"]["address"] == "avrr.dlq.sample"
    # personal data is declared as ciphertext, hoisted into components
    assert "Encrypted" in document["components"]["schemas"]
