"""The AsyncAPI document generated from a registry is valid for the official AsyncAPI parser."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sample_domain import registry

from avrr_events.asyncapi import asyncapi_document
from avrr_events.testing import infra_required

TOOLS = Path(__file__).resolve().parents[3] / "tools" / "asyncapi"


def validate_with_official_parser(document: dict[str, object], tmp_path: Path) -> str:
    """Run @asyncapi/parser (npm) on the document; return its output, fail on errors."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        if infra_required():
            pytest.fail("node and npm are needed to validate AsyncAPI documents")
        pytest.skip("node/npm not installed")
    if not (TOOLS / "node_modules" / "@asyncapi" / "parser").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=TOOLS, check=True, capture_output=True
        )
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(document))
    result = subprocess.run(
        ["node", "validate.mjs", str(path)], cwd=TOOLS, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_generated_asyncapi_document_passes_the_official_parser(tmp_path: Path) -> None:
    document = asyncapi_document(
        "sample",
        registry,
        topic_of=lambda s: f"avrr.{s}.events",
        dead_letter_topic="avrr.dlq.avrr.sample",
    )
    output = validate_with_official_parser(document, tmp_path)
    assert "valid AsyncAPI 3.0.0" in output
    channels = document["channels"]
    assert channels["sample.events"]["address"] == "avrr.sample.events"
    assert set(channels["sample.events"]["messages"]) == {
        "avrr.sample.CaseOpened",
        "avrr.sample.NoteAdded",
    }
    assert channels["dead-letters"]["address"] == "avrr.dlq.avrr.sample"
    # personal data is declared as ciphertext, hoisted into components
    assert "Encrypted" in document["components"]["schemas"]
