"""Split roles: an ``api`` process takes commands, a ``worker`` process publishes and consumes.

Both runtimes of the same service share one PostgreSQL database and one set
of topics, as the chart's ``split`` topology deploys them: the api's append
waits in the outbox, the worker's relay (woken by NOTIFY on another
connection, or by its poll) publishes it to Kafka and its consumer projects it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from sample_domain import summary_rows
from sample_service import rest_service
from typer.testing import CliRunner

from avrr_events import cli
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.settings import RoleNotSupported, ServiceSettings
from avrr_events.testing import eventually, read_topic, running
from avrr_events.web.service import ServiceRuntime

split = rest_service("split")
CASEWORKER = {"X-AVRR-User": "ana"}


async def test_an_api_process_takes_commands_and_a_worker_process_publishes_and_consumes(
    service_settings: ServiceSettings, kafka_settings: KafkaSettings
) -> None:
    api_settings = service_settings.model_copy(update={"role": "api"})
    async with running(split, api_settings, base_url="http://a", headers=CASEWORKER) as (
        api,
        api_http,
    ):
        ready = await api_http.get("/health/ready")
        assert ready.status_code == 200, ready.text
        # Nothing of the worker's: no Kafka check, no background task.
        assert ready.json()["checks"] == {"started": True, "database": True}
        assert api._tasks == []
        assert (await api_http.post("/cases/c-1")).status_code == 200

        worker_runtime = ServiceRuntime(
            split, service_settings.model_copy(update={"role": "worker"})
        )
        worker_app = worker_runtime.app()
        async with (
            worker_app.router.lifespan_context(worker_app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=worker_app),
                base_url="http://w",
                headers=CASEWORKER,
            ) as worker_http,
        ):
            [published] = await read_topic(kafka_settings, api.topic, 1)
            assert published.header("ce_type") == "avrr.sample.CaseOpened"

            async def projected() -> bool:
                async with worker_runtime.db.engine.connect() as conn:
                    return len(await summary_rows(conn)) == 1

            await eventually(projected)
            assert worker_runtime.consumer.stats.applied == 1

            # A later command on the api reaches the worker's running relay too.
            assert (await api_http.post("/cases/c-2")).status_code == 200

            async def both_consumed() -> bool:
                return worker_runtime.consumer.stats.applied == 2

            await eventually(both_consumed)

            ready = await worker_http.get("/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {
                "started": True,
                "database": True,
                "kafka": True,
                "workers": True,
            }
            assert (await worker_http.get("/metrics")).status_code == 200
            # The worker serves no domain route, no audit log, no OpenAPI.
            for method, path in (
                ("POST", "/cases/c-3"),
                ("GET", "/audit"),
                ("GET", "/openapi.json"),
                ("GET", "/events/schemas"),
            ):
                assert (await worker_http.request(method, path)).status_code == 404, path

        # The api never published anything itself: its relay and consumer never ran.
        assert api.relay.published == 0
        assert api.consumer.stats.applied == 0


def test_a_split_role_without_postgresql_and_kafka_is_refused(sqlite_url: str) -> None:
    with pytest.raises(RoleNotSupported, match="AVRR_ROLE=api needs DATABASE_URL on PostgreSQL"):
        ServiceRuntime(split, ServiceSettings(database_url=sqlite_url, dev=True, role="api"))
    # The embedded default keeps every role in one process.
    assert ServiceRuntime(split, ServiceSettings(database_url=sqlite_url, dev=True)).role == "all"


def test_serve_refuses_a_split_role_on_the_embedded_default() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "AVRR_ROLE")
    }
    done = subprocess.run(
        [sys.executable, "-m", "avrr_events.serve", "intake", "--role", "worker"],
        env={**env, "AVRR_DEV": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Checked before anything starts (avrr_events.environment): one line, the first variable.
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "DATABASE_URL is not set: set services.intake.databaseUrl (or the key "
        "DATABASE_URL_INTAKE of secrets.existingSecret) in the chart values"
    ]


def test_avrr_serve_refuses_a_split_role_on_the_embedded_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "AVRR_ROLE"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    refused = runner.invoke(cli.app, ["serve", "intake", "--role", "api"], env={"AVRR_DEV": "1"})
    assert refused.exit_code == 1
    # The environment check's line, as `python -m avrr_events.serve intake --role api` says it.
    assert refused.output.startswith("DATABASE_URL is not set: set services.intake.databaseUrl")
    unknown = runner.invoke(cli.app, ["serve", "intake", "--role", "both"], env={"AVRR_DEV": "1"})
    assert unknown.exit_code == 1
    assert "--role must be one of all, api, worker" in unknown.output
