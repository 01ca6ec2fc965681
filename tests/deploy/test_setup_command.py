"""``python -m avrr_events.setup <service>``: the command of the migrations/topics Job.

A service refuses to start on a database that this command has not migrated.
Run as the deployment runs it (a separate process, configured by environment
variables only) against real PostgreSQL and Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.engine import make_url

from avrr_events import migrations
from avrr_events.adapters.kafka import kafka_client_options
from avrr_events.serve import find
from avrr_events.testing import asyncpg_dsn


def environment(env: dict[str, str]) -> dict[str, str]:
    """This process's environment without its AVRR/Kafka/database settings, plus ``env``."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AVRR_", "KAFKA_"))}
    full.pop("DATABASE_URL", None)
    full.update(env)
    return full


def run_module(module: str, service: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, service],
        env=environment(env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_setup(service: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_module("avrr_events.setup", service, env)


def head_of(service: str) -> tuple[str, ...]:
    line = migrations.service_line(find(service))
    assert line is not None
    return line.heads()


async def version(url: str, line: str) -> tuple[str, ...]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(f"select version_num from alembic_version_{line}")
        return tuple(sorted(r["version_num"] for r in rows))
    finally:
        await conn.close()


async def table_names(url: str) -> set[str]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch("select tablename from pg_tables where schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


@pytest.fixture
async def keystore_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A second, empty database for the shared key store."""
    name = f"k_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(asyncpg_dsn(postgres_admin_url))
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    admin = await asyncpg.connect(asyncpg_dsn(postgres_admin_url))
    try:
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


async def test_setup_creates_schema_key_table_and_topics_and_is_idempotent(
    database_url: str, keystore_url: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    prefix = topic_prefix
    env = {
        "DATABASE_URL": database_url,
        "AVRR_KEYSTORE_URL": keystore_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "AVRR_TOPIC_PREFIX": prefix,
        "AVRR_TOPIC_PARTITIONS": "3",
    }
    for _attempt in range(2):  # the Job runs on every upgrade: a second run changes nothing
        done = await asyncio.to_thread(run_setup, "eligibility", env)
        assert done.returncode == 0, done.stderr

    tables = await table_names(database_url)
    assert {"events", "outbox", "inbox", "projection_checkpoints", "idempotency_keys"} <= tables
    assert {"audit_log", "alembic_version_eligibility"} <= tables
    assert any(t.startswith("eligibility_") for t in tables), tables
    assert "subject_keys" not in tables  # the key store is its own database here
    assert {"subject_keys", "alembic_version_keystore"} <= await table_names(keystore_url)
    assert await version(database_url, "eligibility") == head_of("eligibility")
    assert await version(keystore_url, "keystore") == migrations.KEYSTORE.heads()

    wanted = {
        f"{prefix}.eligibility.events": 3,
        f"{prefix}.intake.events": 3,  # eligibility observes intake
        f"{prefix}.dlq.eligibility": 1,
        f"{prefix}.audit.eligibility": 1,  # audit chain heads, anchored outside the database
    }
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(wanted))
    finally:
        await admin.close()
    partitions = {d["topic"]: len(d["partitions"]) for d in described if d["error_code"] == 0}
    assert partitions == wanted


async def test_a_service_refuses_an_unmigrated_database_and_starts_after_setup(
    database_url: str, kafka_bootstrap: str, tmp_path: Path, topic_prefix: str
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "AVRR_TOPIC_PREFIX": topic_prefix,
        "AVRR_TOPIC_PARTITIONS": "1",
        "AVRR_DEV": "1",
        "AVRR_DEV_AUTH_OVERRIDE": "1",  # header authentication on PostgreSQL, for the test
        "AVRR_PORT": str(port),
    }
    refused = await asyncio.to_thread(run_module, "avrr_events.serve", "travel", env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    head = head_of("travel")
    assert (
        f"travel: the database is not migrated (schema revision none, expected {head[0]} "
        "in alembic_version_travel); run `avrr setup travel`"
    ) in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "alembic_version_travel" not in await table_names(database_url)  # nothing created

    done = await asyncio.to_thread(run_module, "avrr_events.setup", "travel", env)
    assert done.returncode == 0, done.stderr
    log_path = tmp_path / "travel.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "avrr_events.serve",
            "travel",
            env=environment(env),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        async with httpx.AsyncClient(timeout=2.0) as http:
            for _ in range(300):
                assert process.returncode is None, log_path.read_text()
                with contextlib.suppress(httpx.TransportError):
                    ready = await http.get(f"http://127.0.0.1:{port}/health/ready")
                    if ready.status_code == 200:
                        break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError(log_path.read_text())
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)


def test_setup_needs_a_database_and_a_known_service() -> None:
    missing_db = run_setup("eligibility", {})
    assert missing_db.returncode != 0
    assert "DATABASE_URL is not set" in missing_db.stderr

    unknown = run_setup("no-such-service", {"DATABASE_URL": "sqlite+aiosqlite:///:memory:"})
    assert unknown.returncode != 0
    assert "unknown service 'no-such-service'" in unknown.stderr


def test_kafka_security_settings_from_the_environment() -> None:
    assert kafka_client_options({}) == {}
    assert kafka_client_options({"KAFKA_SECURITY_PROTOCOL": "plaintext"}) == {}

    sasl = kafka_client_options(
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "intake",
            "KAFKA_SASL_PASSWORD": "secret",
        }
    )
    assert sasl["security_protocol"] == "SASL_SSL"
    assert sasl["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (sasl["sasl_plain_username"], sasl["sasl_plain_password"]) == ("intake", "secret")
    assert sasl["ssl_context"] is not None

    plain_sasl = kafka_client_options(
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_USERNAME": "u",
            "KAFKA_SASL_PASSWORD": "p",
        }
    )
    assert "ssl_context" not in plain_sasl

    with pytest.raises(ValueError, match="unsupported"):
        kafka_client_options({"KAFKA_SECURITY_PROTOCOL": "KERBEROS"})
