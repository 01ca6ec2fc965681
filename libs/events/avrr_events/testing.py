"""Pytest fixtures for real Kafka and PostgreSQL, shared by every service's tests.

Where the servers come from, in order:
1. ``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS``: servers you run (``scripts/infra.sh``
   starts local ones; CI does the same);
2. testcontainers, where a Docker engine answers (a laptop, hosted CI);
3. otherwise the test is skipped, except with ``AVRR_REQUIRE_INFRA=1`` (set by
   ``.ci/run``), where a missing server or ANY skip of a test that uses these
   fixtures is a failure, so CI can never go green by silently skipping.

Each test gets a database of its own (created and dropped around it) and
topic names of its own, so tests never see each other's events.
"""

from __future__ import annotations

import ast
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events.adapters.database import Database
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.bus import Message
from avrr_events.migrations import PLATFORM, differences, migrate, service_line, upgrade
from avrr_events.serve import find
from avrr_events.settings import ServiceSettings
from avrr_events.web.auth import OidcAuthenticator
from avrr_events.web.service import Service, ServiceRuntime

INFRA_FIXTURES = frozenset(
    {
        "postgres_admin_url",
        "kafka_bootstrap",
        "kafka_sasl_bootstrap",
        "restartable_kafka",
        "service_processes",
    }
)


def infra_required() -> bool:
    return os.environ.get("AVRR_REQUIRE_INFRA") == "1"


def _unavailable(what: str) -> None:
    message = f"{what} is not available (set the env var, run `make infra-up`, or start Docker)"
    if infra_required():
        pytest.fail(f"AVRR_REQUIRE_INFRA=1: {message}", pytrace=False)
    pytest.skip(message)


def docker_available() -> bool:
    if os.environ.get("AVRR_USE_TESTCONTAINERS") == "0" or shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


#: The platform's topic prefix (``ServiceSettings.topic_prefix`` by default). No
#: test writes under it: a test's records would land among a development
#: deployment's (``make up`` on the same broker), outlive the test, and be read
#: by subscribers of the real topics and by the ACLs' prefixed grants.
PLATFORM_TOPIC_PREFIX = "avrr"
#: Where the environment's broker is kept once the session starts (see pytest_configure).
TEST_BROKER_ENV = "AVRR_TEST_KAFKA_BOOTSTRAP_SERVERS"


def own_topic_prefix(prefix: str) -> str:
    """``prefix`` if it is a test's own topic prefix; AssertionError if it is the platform's.

    Every fixture that names topics goes through here, so a test cannot
    create or write a topic of the platform's namespace by accident.
    """
    head = prefix.split(".", 1)[0]
    assert head != PLATFORM_TOPIC_PREFIX, (
        f"test topic prefix {prefix!r} is in the platform's namespace "
        f"({PLATFORM_TOPIC_PREFIX}.*): give the test a prefix of its own"
    )
    return prefix


def pytest_configure(config: pytest.Config) -> None:
    """Keep the environment's broker for the fixtures only.

    ``ServiceSettings`` reads KAFKA_BOOTSTRAP_SERVERS from the environment: with
    ``scripts/infra.sh env`` evaluated, every test that built settings without
    ``kafka_bootstrap_servers=None`` (meaning the embedded default) ran on the
    development broker instead, under the platform's ``avrr.`` prefix, and
    left ``avrr.<service>.events``, its dead-letter and audit topics there,
    full of sample-domain records. The variable moves to TEST_BROKER_ENV
    (subprocesses, xdist workers included, inherit it): a test reaches Kafka
    only through ``kafka_bootstrap`` and names its topics through
    ``topic_name``, ``service_settings`` or ``service_processes``.
    """
    servers = os.environ.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    if servers:
        os.environ[TEST_BROKER_ENV] = servers


def environment_broker() -> str | None:
    """Bootstrap servers of the environment's broker (KAFKA_BOOTSTRAP_SERVERS), if one is set."""
    return os.environ.get(TEST_BROKER_ENV) or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INFRA_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.infra)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[Any]:
    outcome: Any = yield
    report = outcome.get_result()
    if report.skipped and infra_required() and item.get_closest_marker("infra"):
        report.outcome = "failed"
        report.longrepr = f"AVRR_REQUIRE_INFRA=1: infra-backed test was skipped: {report.longrepr}"


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL as a plain libpq DSN for asyncpg."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A PostgreSQL URL whose role may CREATE DATABASE."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:15", driver="asyncpg") as pg:
            yield pg.get_connection_url()
        return
    _unavailable("PostgreSQL")


@pytest.fixture
async def database_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield await _create_database(postgres_admin_url, name)
    await _drop_database(postgres_admin_url, name)


@pytest.fixture
async def fresh_database(postgres_admin_url: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """``await fresh_database()``: one more fresh PostgreSQL database, dropped after the test
    (for services run in-process side by side, each with a database of its own)."""
    names: list[str] = []

    async def create() -> str:
        names.append(f"t_{uuid.uuid4().hex[:16]}")
        return await _create_database(postgres_admin_url, names[-1])

    yield create
    for name in names:
        await _drop_database(postgres_admin_url, name)


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/avrr.db"


@pytest.fixture(params=["postgres", "sqlite"])
def database_url_either(request: pytest.FixtureRequest) -> str:
    """The same test on PostgreSQL (real) and on SQLite (the embedded default)."""
    return str(
        request.getfixturevalue("database_url" if request.param == "postgres" else "sqlite_url")
    )


async def across_upgrade(
    database_url: str,
    service: Service,
    *,
    before: str,
    written: Callable[[AsyncConnection], Awaitable[None]],
    then: Callable[[AsyncConnection], Awaitable[None]],
) -> None:
    """A migration test's steps: ``service``'s schema up to revision ``before``, the rows
    the older service wrote (``written``), the upgrade to the head, then ``then`` reads
    them back; each step in its own transaction, as an upgrade meets a live database."""
    line = service_line(service)
    assert line is not None, f"{service.name} declares no migrations"
    db = Database(database_url)
    try:
        await upgrade(db, line, to=before)
        async with db.transaction() as conn:
            await written(conn)
        await upgrade(db, line)
        async with db.transaction() as conn:
            await then(conn)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a Kafka cluster that may auto-create topics."""
    servers = environment_broker()
    if servers:
        yield servers
        return
    if docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    _unavailable("Kafka")


@pytest.fixture(scope="session")
def kafka_sasl_bootstrap(kafka_bootstrap: str) -> str:
    """The same broker's SASL/SCRAM listener, where each service is its own principal.

    ``scripts/infra.sh`` opens it (``KAFKA_SASL_BOOTSTRAP_SERVERS``) with the
    services' users and ACLs (avrr_events.kafka_acls); a testcontainers broker
    has no such listener.
    """
    servers = os.environ.get("KAFKA_SASL_BOOTSTRAP_SERVERS")
    if not servers:
        _unavailable("Kafka's SASL listener (KAFKA_SASL_BOOTSTRAP_SERVERS)")
    return str(servers)


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=kafka_bootstrap)


@pytest.fixture
def topic_name() -> Iterator[Callable[[str], str]]:
    """Unique topic names for one test: ``topic_name("intake")`` -> ``t.<hex>.intake``.

    The test's topics are deleted after it (see ``delete_topics``).
    """
    run = uuid.uuid4().hex[:10]
    prefix = own_topic_prefix(f"t.{run}")
    yield lambda suffix: f"{prefix}.{suffix}"
    delete_topics(f"{prefix}.")


@pytest.fixture
def topic_prefix() -> Iterator[str]:
    """A topic prefix of this test's own (``t<hex>``, for ``--topic-prefix`` or
    ``AVRR_TOPIC_PREFIX``); the topics under it are deleted after the test."""
    prefix = own_topic_prefix(f"t{uuid.uuid4().hex[:10]}")
    yield prefix
    delete_topics(f"{prefix}.")


def delete_topics(marker: str) -> None:
    """Delete the topics whose names hold ``marker`` (a test's own prefix) from the broker.

    The marker may be anywhere in the name: dead-letter topics of earlier
    releases put the consumer group, which holds the prefix, after
    ``avrr.dlq.``. Only the environment's broker is cleaned, if one is set.

    A long-lived development broker (scripts/infra.sh) collects every test's
    topics otherwise; thousands of partitions later it runs out of file
    descriptors and stops. A testcontainers broker goes away with the session,
    so only KAFKA_BOOTSTRAP_SERVERS is cleaned. Best effort: a topic left
    behind is harmless to the next test, whose names are its own.
    """
    servers = environment_broker()
    if not servers:
        return
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": servers, "socket.timeout.ms": 5000})
    try:
        names = [t for t in admin.list_topics(timeout=10).topics if marker in t]
        for future in admin.delete_topics(names, operation_timeout=10).values() if names else ():
            future.result(timeout=15)
    except Exception as exc:  # cleanup must not fail the test it follows
        print(f"could not delete topics *{marker}*: {type(exc).__name__}: {exc}", file=sys.stderr)


async def read_topic(
    settings: KafkaSettings, topic: str, count: int, *, timeout: float = 30.0
) -> list[Message]:
    """Read the first ``count`` records of a topic (all partitions), as a subscriber would.

    Returns what arrived within ``timeout`` seconds, so a test can assert on
    fewer records than expected instead of hanging.
    """
    consumer = AIOKafkaConsumer(
        topic,
        **settings.options(),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=1000,
    )
    await consumer.start()
    out: list[Message] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(out) < count and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                out.extend(
                    Message(
                        topic=tp.topic,
                        key=r.key,
                        value=r.value or b"",
                        headers=tuple(r.headers or ()),
                        partition=tp.partition,
                        offset=r.offset,
                    )
                    for r in records
                )
    finally:
        await consumer.stop()
    return out


def parsed(path: Path) -> ast.Module:
    """The syntax tree of a source file, for the tests that read the code itself.

    CPython 3.11's conversion of a parsed file to ``ast`` objects keeps its
    recursion counter in state that other threads' conversions share, and now
    and then fails a correct file with "SystemError: AST constructor recursion
    depth mismatch" (python/cpython#106905; seen in a full run, with the broker
    clients' and servers' threads of earlier tests still alive). The file is
    the same on the next try, so it is parsed again, a few times at the most.
    """
    source = path.read_text()
    for attempt in range(3):
        try:
            return ast.parse(source, str(path))
        except SystemError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 30.0, interval: float = 0.05
) -> None:
    """Wait until an asynchronous condition holds (read models are eventually consistent)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition {check.__name__} not reached within {timeout}s")
        await asyncio.sleep(interval)


T = TypeVar("T")


async def reads_after_the_answer(
    command: Callable[[], Awaitable[object]],
    reads: Sequence[Callable[[], Awaitable[T]]],
    *,
    times: int = 30,
    delay: float = 0.0,
) -> list[T]:
    """What the reads started after ``command``'s answer returned: each of ``reads`` reads
    ``times`` over and over while ``command`` is sent (after ``delay``), racing it. For a
    command whose answer promises what every later read shows (a withdrawn consent hides
    what it covered from its answer on), whether or not the read model has caught up.
    Fails when no read started after the answer (the race said nothing)."""
    loop = asyncio.get_running_loop()
    answered_at: list[float] = []
    late: list[T] = []

    async def sent() -> None:
        await asyncio.sleep(delay)
        await command()
        answered_at.append(loop.time())

    async def reading(read: Callable[[], Awaitable[T]]) -> None:
        for _ in range(times):
            started = loop.time()
            shown = await read()
            if answered_at and started > answered_at[0]:
                late.append(shown)
            await asyncio.sleep(0.005)

    await asyncio.gather(sent(), *(reading(read) for read in reads))
    assert late, "no read started after the command's answer"
    return late


# The repository's own provisioning script (libs/events/avrr_events/ -> repo root).
_INFRA_SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "infra.sh"


async def run_infra_script(
    command: str, env: Mapping[str, str], script: Path = _INFRA_SCRIPT
) -> None:
    """``scripts/infra.sh <command>`` with ``env``; on failure a RuntimeError with its log's end."""
    proc = await asyncio.create_subprocess_exec(
        "bash",
        str(script),
        command,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"infra.sh {command} failed: {out.decode(errors='replace')[-2000:]}")


async def spawn_service(
    name: str, env: Mapping[str, str], log_path: Path, *, append: bool = False
) -> asyncio.subprocess.Process:
    """``python -m avrr_events.serve <name>`` as its own process, its output into ``log_path``.

    ``append`` keeps what an earlier run of the same service wrote there (a restart).
    """
    with log_path.open("ab" if append else "wb") as log_file:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "avrr_events.serve",
            name,
            env=dict(env),
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )


class DocumentServer:
    """JSON documents over real HTTP on 127.0.0.1, from a thread: what an identity
    provider serves (its metadata, its JWKS) as the services fetch it.

    ``answer(path)`` gives each GET its status and document; ``port`` 0 takes a free one.
    """

    def __init__(self, answer: Callable[[str], tuple[int, Any]], port: int = 0) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, document = answer(self.path)
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the test's output, not the server's access log

        self._http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalBroker:
    """A private single-node Kafka broker that a test may stop and start again."""

    script: Path
    state_dir: Path
    port: int
    controller_port: int

    @property
    def settings(self) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=f"127.0.0.1:{self.port}")

    async def _run(self, command: str) -> None:
        env = {
            **os.environ,
            "AVRR_STATE_DIR": str(self.state_dir),
            "AVRR_KAFKA_PORT": str(self.port),
            "AVRR_KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "AVRR_KAFKA_HEAP_OPTS": "-Xms128m -Xmx512m",
            # A private broker of plain listeners only (no SASL port to collide).
            "AVRR_KAFKA_SASL_PORT": "off",
        }
        await run_infra_script(command, env, self.script)

    async def start(self) -> None:
        await self._run("kafka-up")

    async def stop(self) -> None:
        await self._run("kafka-down")


@pytest.fixture
async def restartable_kafka(tmp_path: Path) -> AsyncIterator[LocalBroker]:
    """A broker of this test's own (scripts/infra.sh kafka-up on free ports), started."""
    if not _INFRA_SCRIPT.exists() or shutil.which("java") is None:
        _unavailable("a private Kafka broker (scripts/infra.sh and Java 17)")
    broker = LocalBroker(_INFRA_SCRIPT, tmp_path / "kafka-state", _free_port(), _free_port())
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


@pytest.fixture(scope="session")
def _tracer_provider() -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def json_logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Every log line written during the test, as ``logs.configure`` sets the services up.

    Yields a function returning the lines parsed (a line that is not a JSON object
    fails the test); the logging set-up before the test is restored after it.
    """
    import io
    import json
    import logging

    from avrr_events import logs

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buffer = io.StringIO()
    handler = logs.configure("under-test", format="json", level="INFO", stream=buffer)

    def lines() -> list[dict[str, Any]]:
        parsed = []
        for line in buffer.getvalue().splitlines():
            record = json.loads(line)
            assert isinstance(record, dict), line
            parsed.append(record)
        return parsed

    try:
        yield lines
    finally:
        root.removeHandler(handler)
        for old in saved[0]:
            root.addHandler(old)
        root.setLevel(saved[1])


@pytest.fixture
def span_exporter(_tracer_provider: Any) -> Any:
    """An in-memory exporter of every span finished during the test."""
    _tracer_provider.clear()
    return _tracer_provider


@dataclass
class ServiceProcess:
    """One service running as its own OS process (``python -m avrr_events.serve``)."""

    name: str
    port: int
    database_url: str
    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def stop_service_processes(procs: Iterable[ServiceProcess], grace: float = 15.0) -> None:
    """SIGTERM every process still running, then kill whichever has not ended within ``grace``."""
    procs = list(procs)
    for proc in procs:
        if proc.process.returncode is None:
            proc.process.terminate()
    for proc in procs:
        try:
            await asyncio.wait_for(proc.process.wait(), timeout=grace)
        except TimeoutError:
            proc.process.kill()
            await proc.process.wait()


async def _admin_retrying(admin_url: str, statement: str) -> None:
    """Run CREATE/DROP DATABASE, retrying while another session holds what it needs.

    CREATE copies template1, which a concurrent CREATE may be copying; DROP ...
    WITH (FORCE) ends client sessions but not autovacuum, which may be working
    in the database (refused as "in use", or as a lack of privilege to end a
    process of the bootstrap superuser). Both clear within moments.
    """
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        for attempt in range(10):
            try:
                await admin.execute(statement)
                return
            except (asyncpg.ObjectInUseError, asyncpg.InsufficientPrivilegeError):
                if attempt == 9:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
    finally:
        await admin.close()


async def _create_database(admin_url: str, name: str, *, template: str | None = None) -> str:
    """Create database ``name`` (a copy of database ``template`` if given, which nobody may
    be connected to: what a file-level backup of it would restore); its URL."""
    copy = f' TEMPLATE "{template}"' if template else ""
    await _admin_retrying(admin_url, f'CREATE DATABASE "{name}"{copy}')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def _drop_database(admin_url: str, name: str) -> None:
    """Drop a test's database; one still busy after the retries is left (names are unique)."""
    try:
        await _admin_retrying(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except (asyncpg.ObjectInUseError, asyncpg.InsufficientPrivilegeError) as exc:
        print(f"test database {name} left behind: {type(exc).__name__}", file=sys.stderr)


async def _wait_ready(proc: ServiceProcess, timeout: float = 240.0) -> None:
    # A bound, not a speed claim: three services importing at once on a loaded two-core
    # machine took over 60 s before their first log line.

    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            if proc.process.returncode is not None:
                raise RuntimeError(
                    f"{proc.name} exited with {proc.process.returncode}: "
                    f"{proc.log_path.read_text()[-3000:]}"
                )
            try:
                response = await client.get(f"{proc.url}/health/ready")
                if response.status_code == 200 and response.json().get("status") == "ok":
                    return
            except httpx.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{proc.name} not ready: {proc.log_path.read_text()[-3000:]}")
            await asyncio.sleep(0.2)


@pytest.fixture
async def service_processes(
    postgres_admin_url: str, kafka_bootstrap: str, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[dict[str, ServiceProcess]]]]:
    """Start services as separate processes on real Kafka and PostgreSQL.

    ``await service_processes("intake", "eligibility")`` starts each with a
    fresh database of its own, one shared key database, and topic names of
    this test's own (``AVRR_TOPIC_PREFIX``); they are stopped (SIGTERM) and
    their databases dropped after the test. Each process's log is in tmp_path.
    The databases are migrated first, as the deployment's setup Job does (the
    services refuse to start on unmigrated ones). ``DATABASE_URL`` among the
    variables runs the (one) service named on that database instead (one the
    test restored from a backup, say), which the test drops itself.
    """
    run = uuid.uuid4().hex[:10]
    prefix = own_topic_prefix(f"t{run}")
    databases: list[str] = []
    started: list[ServiceProcess] = []

    async def start(*names: str, **env: str) -> dict[str, ServiceProcess]:
        keys_name = f"{prefix}_keys"
        if keys_name not in databases:
            await _create_database(postgres_admin_url, keys_name)
            databases.append(keys_name)
        keys_url = make_url(postgres_admin_url).set(database=keys_name)
        out: dict[str, ServiceProcess] = {}
        for name in names:
            url = env.get("DATABASE_URL")
            if url is None:
                db_name = f"{prefix}_{name}"
                url = await _create_database(postgres_admin_url, db_name)
                databases.append(db_name)
            await migrate(
                find(name),
                ServiceSettings(
                    database_url=url, keystore_url=keys_url.render_as_string(hide_password=False)
                ),
            )
            port = _free_port()
            log_path = tmp_path / f"{name}.log"
            if any(p.name == name for p in started):  # started again: keep the earlier log
                log_path = tmp_path / f"{name}-{len(started)}.log"
            proc_env = {
                **os.environ,
                "DATABASE_URL": url,
                "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                "AVRR_KEYSTORE_URL": keys_url.render_as_string(hide_password=False),
                "AVRR_TOPIC_PREFIX": prefix,
                "AVRR_DEV": "1",
                # Header authentication on PostgreSQL: the tests' own development stand-in.
                "AVRR_DEV_AUTH_OVERRIDE": "1",
                "AVRR_PORT": str(port),
                "AVRR_RELAY_POLL": "0.2",
                **env,
            }
            process = await spawn_service(name, proc_env, log_path)
            proc = ServiceProcess(name, port, url, process, log_path)
            started.append(proc)
            out[name] = proc
        for proc in out.values():
            await _wait_ready(proc)
        return out

    yield start
    await stop_service_processes(started)
    for name in databases:
        await _drop_database(postgres_admin_url, name)
    await asyncio.to_thread(delete_topics, f"{prefix}.")


_ASYNCAPI_TOOLS = _INFRA_SCRIPT.parents[1] / "tools" / "asyncapi"


def asyncapi_parser(files: list[Path]) -> subprocess.CompletedProcess[str]:
    """Run the official AsyncAPI parser (@asyncapi/parser, npm) over documents.

    Installs it from the lock file on first use (``npm ci`` in tools/asyncapi).
    Without node and npm the calling test is skipped, or fails in CI.
    """
    if shutil.which("node") is None or shutil.which("npm") is None:
        _unavailable("node and npm (for the official AsyncAPI parser)")
    if not (_ASYNCAPI_TOOLS / "node_modules" / "@asyncapi" / "parser").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=_ASYNCAPI_TOOLS,
            check=True,
            capture_output=True,
        )
    return subprocess.run(
        ["node", "validate.mjs", *map(str, files)],
        cwd=_ASYNCAPI_TOOLS,
        capture_output=True,
        text=True,
    )


@pytest.fixture
def service_settings(
    database_url: str, kafka_settings: KafkaSettings, topic_name: Callable[[str], str]
) -> ServiceSettings:
    """Settings of one service under test: a fresh database, topics of this test's own,
    dev authentication, a quick relay: real PostgreSQL and Kafka."""
    return ServiceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_settings.bootstrap_servers,
        dev=True,
        topic_prefix=topic_name("avrr"),
        topic_partitions=3,
        relay_poll_interval=0.2,
    )


@asynccontextmanager
async def running(
    service: Service,
    settings: ServiceSettings,
    *,
    base_url: str,
    headers: dict[str, str] | None = None,
    authenticator: OidcAuthenticator | None = None,
) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    """A service with its lifespan running (relay and consumer) and an HTTP client on its app.

    Its databases are migrated first (``avrr setup``'s step), so it starts as
    it does once deployed. Yields ``(runtime, client)``: the ``ServiceRuntime``
    and an ``httpx.AsyncClient``.
    """
    if settings.database_url is not None:
        await migrate(service, settings)
    runtime = ServiceRuntime(service, settings)
    async with serving(
        runtime, base_url=base_url, headers=headers, authenticator=authenticator
    ) as http:
        yield runtime, http


@asynccontextmanager
async def serving(
    runtime: ServiceRuntime,
    *,
    base_url: str = "http://t",
    headers: dict[str, str] | None = None,
    authenticator: OidcAuthenticator | None = None,
    raise_app_exceptions: bool = True,
) -> AsyncIterator[httpx.AsyncClient]:
    """The runtime's app with its lifespan running, and an HTTP client on it.

    Unlike :func:`running` it migrates nothing first: the runtime meets its
    database as the test left it. ``raise_app_exceptions=False`` answers an
    exception the app let through as the 500 a real server would send.
    """
    app = runtime.app()
    if authenticator is not None:  # bearer JWTs of a test issuer (auth.DevTokenIssuer)
        app.state.authenticator = authenticator
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=base_url, headers=headers) as http,
    ):
        yield http


async def changes_without_revision(service: Service, url: str) -> list[Any]:
    """Upgrade an empty database to the service's head revision; return how its tables
    differ from the service's tables in code (autogenerate's diff; empty when none).

    The shared tables come from the platform line, checked the same way. Each
    service's test expects none: a table changed without a migration fails it
    (write one with ``avrr migrations new <service|platform> "<what changed>"``).
    """
    line = service_line(service)
    assert line is not None, f"{service.name} declares no migrations"
    db = Database(url)
    try:
        await upgrade(db, PLATFORM)
        await upgrade(db, line)
        return [*await differences(db, PLATFORM), *await differences(db, line)]
    finally:
        await db.dispose()


async def assert_head_revision_builds_the_tables_in_code(service: Service, url: str) -> None:
    """Each service's schema test: its head revision (and the platform line's) builds exactly
    the tables in code, or the failure names the differences and the command to run."""
    changes = await changes_without_revision(service, url)
    assert not changes, (
        f"{service.name}: tables changed in code without a revision: {changes}; write it with "
        f'`avrr migrations new {service.name} "<what changed>"` (`platform` for a shared '
        "table) and read it before committing"
    )


async def database_dump(url: str) -> str:
    """Every row of every table of a PostgreSQL database as JSON text (what a backup holds):
    tests grep it for plaintext that must not be there."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        names = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        parts: list[str] = []
        for (name,) in names:
            rows = await conn.fetch(f'SELECT row_to_json(t)::text FROM "{name}" t')
            parts.extend(r[0] for r in rows)
        return "\n".join(parts)
    finally:
        await conn.close()


async def rewrite_audit_log_as_owner(
    db: Database, *, keep: int, rewritten: int, column: str, value: str
) -> None:
    """The database owner's attack on the audit chain: delete every entry after the
    first ``keep``, change ``column`` of the entry with id ``rewritten`` to ``value``
    and recompute the plain hash chain from that entry on (the keyed hashes it cannot
    recompute without the key)."""
    from sqlalchemy import delete, select, update

    from avrr_events.audit import _fields, audit_log, unkeyed_entry_hash

    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(audit_log).order_by(audit_log.c.id))).all()
    ids = [row.id for row in rows]
    statements: list[object] = [delete(audit_log).where(audit_log.c.id.in_(ids[keep:]))]
    start = ids.index(rewritten)
    prev = rows[start - 1].hash
    for row in rows[start:keep]:
        fields = _fields(row)
        if row.id == rewritten:
            fields[column] = value
        digest = unkeyed_entry_hash(prev, fields)
        statements.append(
            update(audit_log)
            .where(audit_log.c.id == row.id)
            .values({column: fields[column], "prev_hash": prev, "hash": digest})
        )
        prev = digest
    await tamper_with_audit_log_as_owner(db, *statements)


async def assert_audit_log_insert_only(db: Database, *statements: Any) -> None:
    """Each statement, and TRUNCATE on PostgreSQL, is refused by the audit table when
    it comes through ``db`` (the service's own connection)."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    attempts = [*statements]
    if db.is_postgres:
        attempts.append(text("TRUNCATE audit_log"))
    for attempt in attempts:
        with pytest.raises(DBAPIError, match="insert-only"):
            async with db.transaction() as conn:
                await conn.execute(attempt)


async def tamper_with_audit_log_as_owner(db: Database, *statements: Any) -> None:
    """Run ``statements`` on the audit table as its database's owner would: past the
    insert-only triggers (disabled on PostgreSQL, dropped and recreated on SQLite),
    in one transaction. What a test of tamper evidence needs to stage the attack."""
    from sqlalchemy import text

    from avrr_events.audit import ALLOW_CHANGES_DDL, INSERT_ONLY_DDL

    async with db.transaction() as conn:
        if db.is_postgres:
            await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            for ddl in ALLOW_CHANGES_DDL["sqlite"]:
                await conn.execute(text(ddl))
        for statement in statements:
            await conn.execute(statement)
        if db.is_postgres:
            await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
        else:
            for ddl in INSERT_ONLY_DDL["sqlite"]:
                await conn.execute(text(ddl))


async def answered_in_the_readers_language(
    ask: Callable[[dict[str, str]], Awaitable[httpx.Response]],
    status: int,
    english: str,
    spanish: str,
    portuguese: str,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Issue 19's check of one refusal, the same in every service: ``ask`` (the request,
    given extra headers) is answered ``status`` as problem+json in Portuguese (asked with a
    quality list), in Spanish, and in English without Accept-Language; each detail starts
    with its sentence, Content-Language names the language, Vary names Accept-Language,
    and the type is the same in every language. The three bodies (pt, es, en) are returned
    for the checks a service adds (a named field, an extension)."""
    answers = []
    for headers, language, sentence in (
        ({"Accept-Language": "pt-PT, pt;q=0.9, en;q=0.5"}, "pt", portuguese),
        ({"Accept-Language": "es"}, "es", spanish),
        ({}, None, english),
    ):
        r = await ask(headers)
        assert r.status_code == status, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"].startswith(sentence), r.text
        if language is not None:
            assert r.headers["content-language"] == language
            assert "accept-language" in r.headers["vary"].lower()
        answers.append(r.json())
    pt, es, en = answers
    assert pt["type"] == es["type"] == en["type"]
    return pt, es, en


def each_refusal(refusals: Sequence[tuple[Any, ...]]) -> pytest.MarkDecorator:
    """A service's table of refusals as one test's parametrisation, for
    :func:`answered_in_the_readers_language`: each row's first item (the function asking
    for the refusal) as ``refusal``, the rest (the answer's status and sentences, and what
    the service adds) as ``answer``; the ids are the functions' names."""
    return pytest.mark.parametrize(
        ("refusal", "answer"),
        [(row[0], row[1:]) for row in refusals],
        ids=[row[0].__name__ for row in refusals],
    )


def each_invalid(cases: Sequence[tuple[Any, ...]], ids: Sequence[str]) -> pytest.MarkDecorator:
    """A service's table of invalid requests as one test's parametrisation, for
    :func:`invalid_in_the_readers_language`: each row's first item (the body) as ``body``,
    the rest (field, code, and the reason in English, Spanish and Portuguese) as
    ``invalid``."""
    return pytest.mark.parametrize(
        ("body", "invalid"), [(row[0], row[1:]) for row in cases], ids=list(ids)
    )


async def a_notice_as_pdf(
    http: httpx.AsyncClient, path: str, language: str, headers: Mapping[str, str]
) -> None:
    """Issue 19's notices print: the one at ``path``, asked as PDF in ``language`` by
    ``?language`` (whatever the reader's Accept-Language), is a PDF in that language."""
    pdf = await http.get(
        path, params={"language": language}, headers={**headers, "Accept": "application/pdf"}
    )
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-language"] == language


async def a_notice_kept_from(
    http: httpx.AsyncClient,
    path: str,
    outsiders: Iterable[Mapping[str, str]],
    secret: str,
    refused: Collection[int] = (403,),
) -> None:
    """A notice is the person's data: staff of other offices or roles (``outsiders``: their
    roles and offices, as user "other") are ``refused`` and read nothing of ``secret``."""
    for outsider in outsiders:
        denied = await http.get(path, headers={"X-AVRR-User": "other", **outsider})
        assert denied.status_code in refused, outsider
        assert secret not in denied.text


async def invalid_in_the_readers_language(
    ask: Callable[[dict[str, str]], Awaitable[httpx.Response]],
    field: str,
    code: str,
    english: str,
    spanish: str,
    portuguese: str,
    *,
    where: str = "body",
) -> None:
    """Issue 19's check of one 422 validation answer with one invalid ``field``: its reason
    (``errors[].reason`` and the ``detail``, ``field: reason``) in Portuguese, Spanish and,
    without Accept-Language, in the English it always was, byte for byte; its ``in``,
    ``field``, ``pointer`` and ``code`` the same in every language."""
    answers = await answered_in_the_readers_language(
        ask, 422, f"{field}: {english}", f"{field}: {spanish}", f"{field}: {portuguese}"
    )
    assert answers[2]["detail"] == f"{field}: {english}"
    pointer = "/" if field == where else "/" + field.replace(".", "/")
    for answer, reason in zip(answers, (portuguese, spanish, english), strict=True):
        assert answer["errors"] == [
            {"in": where, "field": field, "pointer": pointer, "reason": reason, "code": code}
        ], answer


AUDITOR = {"X-AVRR-User": "auditor-1", "X-AVRR-Roles": "auditor"}


async def refused_to_another_office(
    http: httpx.AsyncClient, path: str, headers: Mapping[str, str], *, unseen: Iterable[str]
) -> None:
    """``path`` read by another office's principal (``headers``): 403 with the office
    scoping's problem, no ETag, and none of ``unseen`` (the case's own data) in the body.

    A detail read that reads office and detail in one statement holds the case before it
    knows the reader may have it: this is what proves nothing of it is sent."""
    refused = await http.get(path, headers=dict(headers))
    assert refused.status_code == 403, refused.text
    assert "office that is not one of yours" in refused.json()["detail"]
    assert [s for s in unseen if s in refused.text] == []
    assert "etag" not in refused.headers


async def audited_reads(http: httpx.AsyncClient, case_id: str, route: str) -> list[tuple[str, int]]:
    """(actor, outcome) of each entry of ``route`` in the case's audit trail, oldest first."""
    trail = await http.get("/audit", params={"case_id": case_id}, headers=AUDITOR)
    assert trail.status_code == 200, trail.text
    return [(e["actor"], e["outcome"]) for e in trail.json() if e["route"] == route]
