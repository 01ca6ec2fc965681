"""Every setting is read through a settings class (pydantic-settings), and a secret
read that way never shows in a repr, a log line or an error.

The ast of every module of the library and of the services, so that a setting added
later cannot read the environment behind the settings classes' back.
"""

from __future__ import annotations

import ast
import base64
from pathlib import Path

import pytest

from avrr_events.adapters.kafka import KafkaClientSettings, kafka_client_options
from avrr_events.env_settings import secret_of
from avrr_events.settings import ServerSettings, ServiceSettings
from avrr_events.testing import parsed

ROOT = Path(__file__).resolve().parents[3]
TEST_TOOLING = {"testing.py", "harness.py"}  # fixtures set up the environment they test


def sources() -> list[Path]:
    found = [*(ROOT / "libs/events/avrr_events").rglob("*.py")]
    found += [*ROOT.glob("services/*/avrr_*/**/*.py")]
    return [p for p in found if p.name not in TEST_TOOLING]


def environment_reads(tree: ast.Module) -> list[int]:
    """Lines that touch ``os.environ``/``os.getenv`` or import them from ``os``."""
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "getenv", "environb", "getenvb")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ) or (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(a.name in ("environ", "getenv", "environb", "getenvb") for a in node.names)
        ):
            lines.append(node.lineno)
    return lines


def test_no_module_reads_the_environment_but_through_a_settings_class() -> None:
    checked = sources()
    assert len(checked) > 100
    reading = {
        str(p.relative_to(ROOT)): lines for p in checked if (lines := environment_reads(parsed(p)))
    }
    assert reading == {}


def test_the_check_sees_a_direct_read() -> None:
    tree = ast.parse("import os\nfrom os import getenv\nx = os.environ.get('A')\n")
    assert environment_reads(tree) == [2, 3]


SECRET = "hunter2-not-in-any-repr"
KEY = base64.b64encode(b"k" * 32).decode()


def test_secrets_never_show_in_a_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "intake")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("AVRR_MASTER_KEY", KEY)
    monkeypatch.setenv("AVRR_AUDIT_KEY", KEY)
    monkeypatch.setenv("AVRR_PREVIOUS_MASTER_KEY", KEY)
    kafka = KafkaClientSettings()
    service = ServiceSettings()
    previous = secret_of("AVRR_PREVIOUS_MASTER_KEY")
    shown = (
        " ".join(f"{s!r} {s!s} {s.model_dump()}" for s in (kafka, service))
        + f" {previous!r} {previous!s}"
    )
    assert SECRET not in shown and KEY not in shown
    # what the Kafka client is given is the password itself
    assert kafka.options()["sasl_plain_password"] == SECRET
    assert previous is not None and previous.get_secret_value() == KEY


def test_kafka_options_of_a_given_mapping_ignore_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    assert kafka_client_options({}) == {}
    assert KafkaClientSettings.of({}).kafka_sasl_mechanism == "SCRAM-SHA-512"
    with pytest.raises(KeyError, match="KAFKA_SASL_USERNAME"):
        kafka_client_options({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"})


@pytest.mark.parametrize(("variable", "value"), [("PORT", "1"), ("HOST", "0.0.0.0")])
def test_a_variable_named_like_a_field_is_not_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """Hosting platforms and shells set PORT and HOST for their own purposes."""
    monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AVRR_PORT", raising=False)
    monkeypatch.delenv("AVRR_HOST", raising=False)
    assert ServerSettings() == ServerSettings.model_construct()
    monkeypatch.setenv(f"AVRR_{variable}", "8123" if variable == "PORT" else "10.0.0.1")
    chosen = ServerSettings()
    assert str(getattr(chosen, variable.lower())) in ("8123", "10.0.0.1")
    assert ServerSettings(port=7).port == 7  # a test or the CLI still gives it by name
