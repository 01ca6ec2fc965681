"""docker-compose.yml: valid against the Compose Specification, and coherent.

Without a Docker engine ``docker compose config`` cannot run, so the file is
validated against the official compose-spec JSON schema, as vendored by the
``check-jsonschema`` package (``check_jsonschema/builtin_schemas/vendor/
compose-spec.json``, from the compose-spec repository, with its licence). With
a Docker engine the test runs ``docker compose config`` as well. The rest
checks what a schema cannot: references between services, files the stack
mounts, one database and one host port per service.
"""

from __future__ import annotations

import asyncio
import copy
import importlib.resources
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import jsonschema
import pytest
import yaml
from sqlalchemy.engine import make_url

from avrr_events.testing import asyncpg_dsn, delete_topics

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
SERVICES = ("intake", "eligibility", "travel", "reintegration")


def compose_schema() -> dict[str, Any]:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text("utf-8"))
    return schema


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = compose_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(document)
    ]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text("utf-8"))
    return document


def test_compose_file_is_valid_against_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    assert schema_errors(compose) == []


def test_the_schema_check_catches_mistakes(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["intake"]["depends_on"]["init"]["condition"] = "service_finished"
    broken["services"]["travel"]["portz"] = ["8003:8000"]
    errors = schema_errors(broken)
    assert any("services/intake/depends_on" in e for e in errors), errors
    assert any("portz" in e for e in errors), errors


def test_docker_compose_config_where_an_engine_exists() -> None:
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode
    ):
        pytest.skip("no Docker engine: validated against the compose-spec schema instead")
    done = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr


def test_every_service_runs_from_the_image_after_init(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "postgres", "init", "otel-collector", "jaeger", "prometheus"} <= set(services)
    ports: list[str] = []
    for name in SERVICES:
        svc = services[name]
        assert svc["build"] == "."
        assert svc["command"] == [name]
        assert svc["depends_on"]["init"]["condition"] == "service_completed_successfully"
        env = svc["environment"]
        assert env["DATABASE_URL"].endswith(f"/avrr_{name}")
        assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:29092"
        assert env["AVRR_KEYSTORE_URL"].endswith("/avrr_keys")
        assert env["AVRR_HOST"] == "0.0.0.0"
        assert "/health/ready" in " ".join(svc["healthcheck"]["test"])
        ports.extend(p.rsplit(":", 1)[0] for p in svc["ports"])
    assert len(ports) == len(set(ports)), f"host ports reused: {ports}"
    init = services["init"]
    for infra in ("kafka", "postgres"):
        assert init["depends_on"][infra]["condition"] == "service_healthy"
    assert "avrr_events.setup" in " ".join(init["command"])
    for name in SERVICES:
        assert name in " ".join(init["command"])


def test_dependencies_and_mounted_files_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        for dependency in svc.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO / source).is_file(), f"{name} mounts missing {source}"
            else:
                assert source in compose.get("volumes", {}), f"{name}: undeclared volume {source}"


def test_databases_created_for_every_service() -> None:
    sql = (REPO / "deploy/compose/create-databases.sql").read_text("utf-8")
    for database in (*(f"avrr_{s}" for s in SERVICES), "avrr_keys"):
        assert f"CREATE DATABASE {database} " in sql


def test_observability_configuration_is_coherent(compose: dict[str, Any]) -> None:
    collector = yaml.safe_load((REPO / "deploy/compose/otel-collector.yaml").read_text("utf-8"))
    pipelines = collector["service"]["pipelines"]
    for pipeline in pipelines.values():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline[kind]:
                assert component in collector[kind], f"undefined {kind[:-1]} {component}"
    assert collector["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    endpoint = compose["services"]["intake"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert endpoint == "http://otel-collector:4317"

    prometheus = yaml.safe_load((REPO / "deploy/compose/prometheus.yml").read_text("utf-8"))
    targets = {
        target
        for job in prometheus["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert {f"{s}:8000" for s in SERVICES} | {"otel-collector:8889"} <= targets


@pytest.fixture
async def compose_databases(postgres_admin_url: str) -> AsyncIterator[str]:
    """Fresh databases named like the stack's (``<prefix>_<service>``, ``<prefix>_keys``)."""
    prefix = f"c{uuid.uuid4().hex[:10]}"
    names = [f"{prefix}_{s}" for s in (*SERVICES, "keys")]
    admin = await asyncpg.connect(asyncpg_dsn(postgres_admin_url))
    try:
        for name in names:
            await admin.execute(f'create database "{name}"')
        yield prefix
    finally:
        for name in names:
            await admin.execute(f'drop database if exists "{name}" with (force)')
        await admin.close()
        await asyncio.to_thread(delete_topics, f"{prefix}.")  # the stack's topics, too


async def test_init_command_prepares_every_service(
    compose: dict[str, Any], compose_databases: str, postgres_admin_url: str, kafka_bootstrap: str
) -> None:
    """The init service's shell command, run as written, against real servers.

    Only the host names change (``postgres:5432`` and ``kafka:29092`` are the
    compose network's), and the database and topic names get a test prefix.
    """
    prefix = compose_databases
    url = make_url(postgres_admin_url)
    server = f"{url.host}:{url.port or 5432}"
    init = compose["services"]["init"]
    (script,) = init["command"]
    script = script.replace("$$", "$").replace("postgres:5432/avrr_", f"{server}/{prefix}_")
    assert prefix in script
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AVRR_", "KAFKA_"))}
    env.pop("DATABASE_URL", None)
    env.update({k: str(v) for k, v in init["environment"].items()})
    env["KAFKA_BOOTSTRAP_SERVERS"] = kafka_bootstrap
    env["AVRR_KEYSTORE_URL"] = url.set(database=f"{prefix}_keys").render_as_string(
        hide_password=False
    )
    env["AVRR_TOPIC_PREFIX"] = prefix
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = await asyncio.to_thread(
        subprocess.run,
        [*init["entrypoint"], script],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for service in (*SERVICES, "keys"):
        conn = await asyncpg.connect(
            asyncpg_dsn(
                url.set(database=f"{prefix}_{service}").render_as_string(hide_password=False)
            )
        )
        try:
            tables = {r["tablename"] for r in await conn.fetch("select tablename from pg_tables")}
        finally:
            await conn.close()
        assert ("subject_keys" if service == "keys" else "events") in tables, service
