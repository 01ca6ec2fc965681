"""The start-up check of the environment: one line per problem, naming variable and chart value.

(tests/deploy/test_bad_settings.py starts the chart's own containers with each
required variable missing and malformed.)
"""

from __future__ import annotations

import base64

import pytest

from avrr_events import environment
from avrr_events.environment import Start
from avrr_events.settings import ServiceSettings

KEY = base64.b64encode(bytes(32)).decode()
PRODUCTION = {
    "DATABASE_URL": "postgresql+asyncpg://avrr:secret-password@db:5432/avrr_travel",
    "AVRR_MASTER_KEY": KEY,
    "KAFKA_BOOTSTRAP_SERVERS": "kafka-0:9093,kafka-1:9093",
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_USERNAME": "travel",
    "KAFKA_SASL_PASSWORD": "secret-password",
}


def problem(command: environment.Command = "serve", **env: str | None) -> str | None:
    merged = {k: v for k, v in {**PRODUCTION, **env}.items() if v is not None}
    error = environment.problem(Start(command, "travel", merged, "api"))
    return None if error is None else str(error)


def test_a_complete_production_environment_passes() -> None:
    assert problem() is None


def test_a_missing_variable_names_the_chart_value_that_sets_it() -> None:
    assert problem(AVRR_MASTER_KEY=None) == (
        "AVRR_MASTER_KEY is not set: set secrets.masterKey (or the key AVRR_MASTER_KEY of "
        "secrets.existingSecret) in the chart values"
    )
    assert problem(KAFKA_SASL_PASSWORD=None) == (
        "KAFKA_SASL_PASSWORD is not set: set kafka.sasl.principals.travel.password (or the key "
        "KAFKA_SASL_PASSWORD_TRAVEL of secrets.existingSecret) in the chart values"
    )
    # The setup Job needs no master key; development mode brings its own.
    assert problem("setup", AVRR_MASTER_KEY=None) is None
    assert problem(AVRR_MASTER_KEY=None, AVRR_DEV="1") is None


def test_a_malformed_value_says_why_and_is_never_echoed() -> None:
    short = base64.b64encode(b"secret-password").decode()
    message = problem(AVRR_MASTER_KEY=short)
    assert message is not None
    assert message.startswith("AVRR_MASTER_KEY is malformed: base64 of 15 bytes, not of exactly 32")
    assert short not in message
    message = problem(DATABASE_URL="postgresql://avrr:secret-password@db/avrr")
    assert message is not None and "secret-password" not in message
    assert message.startswith("DATABASE_URL is malformed: its scheme must be one of")
    assert problem(AVRR_PORT="eighty") == (
        "AVRR_PORT is malformed: not a whole number: the chart sets it itself "
        "(templates/configmap.yaml), not a value"
    )
    assert problem(KAFKA_BOOTSTRAP_SERVERS="kafka-0") == (
        "KAFKA_BOOTSTRAP_SERVERS is malformed: 'kafka-0' is not host:port: set "
        "kafka.bootstrapServers in the chart values"
    )


def test_a_pydantic_error_becomes_the_one_line_of_its_variable() -> None:
    error = environment.validation_problem(ServiceSettings, "travel", audit_anchor_interval=-1)
    assert error is not None and error.variable == "AVRR_AUDIT_ANCHOR_INTERVAL"
    assert "\n" not in str(error)
    assert str(error).endswith(
        "set config.extraEnv.AVRR_AUDIT_ANCHOR_INTERVAL (or "
        "services.travel.extraEnv.AVRR_AUDIT_ANCHOR_INTERVAL) in the chart values"
    )


def test_a_service_registers_its_own_variables() -> None:
    env = {**PRODUCTION, "DATABASE_URL": PRODUCTION["DATABASE_URL"].replace("travel", "intake")}
    missing = environment.problem(Start("serve", "intake", env, "api"))
    assert missing is not None and missing.variable == "AVRR_INTAKE_DUPLICATE_SECRET"
    short = environment.problem(
        Start("serve", "intake", {**env, "AVRR_INTAKE_DUPLICATE_SECRET": "x" * 31}, "api")
    )
    assert short is not None and "31 characters, fewer than 32" in str(short)
    assert "secrets.values.AVRR_INTAKE_DUPLICATE_SECRET" in str(short)
    secret = "s" * 32
    days = environment.problem(
        Start(
            "serve",
            "intake",
            {**env, "AVRR_INTAKE_DUPLICATE_SECRET": secret, "AVRR_RETENTION_DAYS": "-1"},
            "api",
        )
    )
    assert days is not None and days.variable == "AVRR_RETENTION_DAYS"
    assert str(days).startswith("AVRR_RETENTION_DAYS is malformed: Input should be greater than 0")
    # Only intake's: another service starts without it.
    assert "AVRR_INTAKE_DUPLICATE_SECRET" not in environment.variables_of("travel")


def test_the_runtime_reports_its_keys_in_the_same_words() -> None:
    """A runtime built without the start-up check (tests, the CLI) says the same."""
    error = environment.SettingsError
    with pytest.raises(error, match=r"^AVRR_MASTER_KEY is malformed: not base64"):
        ServiceSettings(master_key="not base64!", audit_key=None).master()
    with pytest.raises(error, match=r"^AVRR_MASTER_KEY is not set: set secrets"):
        ServiceSettings(master_key=None, audit_key=None, dev=False).audit_secret()
    short = base64.b64encode(bytes(8)).decode()
    with pytest.raises(error, match=r"^AVRR_AUDIT_KEY is malformed: base64 of 8 bytes"):
        ServiceSettings(master_key=KEY, audit_key=short).audit_secret()


def test_secrets_are_read_as_secret_strings_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """pydantic-settings reads them (same variables, same defaults) as SecretStr: a repr, a
    log line or a dump of the settings shows asterisks; the keys still work."""
    secret = base64.b64encode(b"k" * 32).decode()
    monkeypatch.setenv("AVRR_MASTER_KEY", KEY)
    monkeypatch.setenv("AVRR_AUDIT_KEY", secret)
    settings = ServiceSettings()
    for shown in (repr(settings), str(settings.model_dump())):
        assert KEY not in shown and secret not in shown
    assert settings.master() is not None and settings.audit_secret() == b"k" * 32
    assert ServiceSettings(master_key=None).master_key is None  # the default is unchanged


def test_where_a_process_listens_is_read_by_pydantic_settings_with_its_old_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from avrr_events.settings import ServerSettings

    for name in ("AVRR_HOST", "AVRR_PORT", "AVRR_LOG_LEVEL", "AVRR_KEEP_ALIVE"):
        monkeypatch.delenv(name, raising=False)
    assert ServerSettings().model_dump() == {
        "host": "127.0.0.1",
        "port": 8000,
        "log_level": "info",
        "keep_alive": 75,
    }
    monkeypatch.setenv("AVRR_PORT", "9001")
    monkeypatch.setenv("AVRR_KEEP_ALIVE", "90")
    assert (ServerSettings().port, ServerSettings().keep_alive) == (9001, 90)
    assert ServerSettings(port=9002).port == 9002  # `avrr serve --port` wins
    monkeypatch.setenv("AVRR_PORT", "eighty")
    error = environment.validation_problem(ServerSettings, "intake")
    assert error is not None and str(error).startswith("AVRR_PORT is malformed")
