"""``python -m avrr_events.serve|setup`` and ``avrr serve|setup`` run the same functions.

``avrr_events.serve.serve`` and ``avrr_events.setup.setup`` check the environment
first (one line, exit status 1, nothing else on stdout or stderr), then start or
prepare the service; both entry points of each call them, so the CLI refuses a
malformed setting as the Deployment's and the Job's command do. No database,
broker or server is reached: the check comes first, and the tests stop there.
"""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from avrr_events import serve, setup
from avrr_events.cli import app as cli

SHORT_KEY = "c2hvcnQ="  # base64 of 5 bytes
PRODUCTION = {
    "DATABASE_URL": "postgresql+asyncpg://avrr@127.0.0.1:1/avrr",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    "AVRR_MASTER_KEY": SHORT_KEY,
}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    """What reached the shared functions (replaced: nothing is served or prepared)."""
    seen: list[tuple[str, str, dict[str, Any]]] = []

    def served(name: str, **kw: Any) -> None:
        seen.append(("serve", name, kw))

    def prepared(name: str, **kw: Any) -> list[str]:
        seen.append(("setup", name, kw))
        return []

    monkeypatch.setattr(serve, "serve", served)
    monkeypatch.setattr(setup, "setup", prepared)
    return seen


def test_the_module_and_the_cli_serve_through_one_function(calls: list[Any]) -> None:
    serve.main(["intake", "--role", "api"])
    url = "sqlite+aiosqlite:///elsewhere.db"
    result = CliRunner().invoke(cli, ["--database-url", url, "serve", "intake", "--role", "api"])
    assert result.exit_code == 0, result.output
    [(_, module_name, module_args), (_, cli_name, cli_args)] = calls
    assert module_name == cli_name == "intake"
    assert module_args["role"] == cli_args["role"] == "api"
    # The CLI's global options are checked as the environment they override.
    assert cli_args["overrides"] == {"database_url": url}
    assert serve.environ_with(cli_args["overrides"])["DATABASE_URL"] == url


def test_the_module_and_the_cli_set_up_through_one_function(calls: list[Any]) -> None:
    setup.main(["intake"])
    result = CliRunner().invoke(cli, ["setup", "intake"])
    assert result.exit_code == 0, result.output
    assert [(kind, name) for kind, name, _ in calls] == [("setup", "intake")] * 2


@pytest.mark.parametrize("command", ["serve", "setup"])
def test_a_malformed_master_key_stops_both_entry_points_in_one_line(
    command: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AVRR_DEV", raising=False)
    module = serve.main if command == "serve" else setup.main
    with pytest.raises(SystemExit) as stopped:
        module(["intake"])
    assert stopped.value.code == 1
    out, err = capfd.readouterr()
    [line] = err.splitlines()
    assert out == "" and line.startswith("AVRR_MASTER_KEY is malformed"), line
    result = CliRunner().invoke(cli, [command, "intake"])
    assert result.exit_code == 1
    assert line in result.output + capfd.readouterr().err
