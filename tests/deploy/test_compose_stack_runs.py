"""docker-compose.yml run as its users run it: ``docker compose up``, or podman-compose here.

Without a Docker engine, podman-compose (a locked test dependency) drives
podman; the machine's required podman settings (cgroupfs, runc, vfs storage,
explicit ulimits) reach every podman call it makes through the standard
``CONTAINERS_CONF`` and ``CONTAINERS_STORAGE_CONF`` files this test writes.
With a Docker engine the same files go to ``docker compose``.

What cannot run here: the compose file's registry images (apache/kafka,
postgres, the OpenTelemetry collector, Jaeger, Prometheus), since no image
registry is reachable. So the stack is the compose file itself plus an
override that this test derives from it, changing only what the missing
images force:

- the registry images' services are in a profile that is not enabled;
- the local Kafka and PostgreSQL (scripts/infra.sh) stand in for ``kafka``
  and ``postgres``: their compose addresses become the local ones in every
  environment value and in init's command; the databases, which the postgres
  container would create from deploy/compose/create-databases.sql, are
  created from that file, and databases and topics get this test's prefix;
- a setting that names a left-out service without a stand-in (the
  collector's OTLP endpoint) is emptied: tracing stays off;
- the containers share the host's network (the broker advertises
  127.0.0.1), so each service listens on a free host port of its own in
  place of its published port and the healthcheck asks that port;
- ``depends_on`` keeps the dependencies among the services that run (init
  first, then the four services once it completed successfully).

Everything else (image, command, entrypoint, environment, restart policy,
healthcheck) is the compose file's. The test checks the ordering, runs each
service's own healthcheck until it passes, and drives one household from
referral to completed reintegration through the four services' ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from journey_steps import CASEWORKER, Platform, full_journey

from avrr_events.testing import _create_database, _drop_database, _free_port, delete_topics

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DATABASES_SQL = REPO / "deploy" / "compose" / "create-databases.sql"
SERVICES = ("intake", "eligibility", "travel", "reintegration")
# Not enabled: the services whose images only a registry has.
LEFT_OUT = "registry-images"
# The compose file's database names: avrr_<service>, avrr_keys.
COMPOSE_DATABASE_PREFIX = "avrr_"

pytestmark = pytest.mark.infra


# ----------------------------------------------------------- the compose tool --


@dataclass
class Compose:
    """``docker compose`` or podman-compose, with the files and settings it runs with."""

    command: list[str]  # up to and including the global options
    engine: str  # docker | podman: inspect, logs, healthchecks
    env: dict[str, str]

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            cwd=REPO,
        )

    def engine_run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.engine, *args], capture_output=True, text=True, env=self.env, timeout=timeout
        )


def docker_engine() -> bool:
    docker = shutil.which("docker")
    return (
        docker is not None and subprocess.run([docker, "info"], capture_output=True).returncode == 0
    )


def podman_configuration(directory: Path) -> dict[str, str]:
    """podman's settings on this machine kind, as the standard configuration files.

    The same as scripts/image.sh's flags: cgroupfs (no systemd), runc, vfs
    storage where the image was built, and explicit ulimits no higher than
    this process's own hard limits (podman's defaults need a capability the
    sandbox does not grant; runc was refused nproc 65536).
    """
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nofile = 65536 if nofile == resource.RLIM_INFINITY else min(nofile, 65536)
    nproc = 16384 if nproc == resource.RLIM_INFINITY else min(nproc, 16384)
    containers = directory / "containers.conf"
    containers.write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        "[engine]\n"
        'cgroup_manager = "cgroupfs"\n'
        'runtime = "runc"\n'
    )
    storage = directory / "storage.conf"
    storage.write_text(
        "[storage]\n"
        'driver = "vfs"\n'
        'runroot = "/run/containers/storage"\n'
        'graphroot = "/var/lib/containers/storage"\n'
    )
    return {"CONTAINERS_CONF": str(containers), "CONTAINERS_STORAGE_CONF": str(storage)}


def compose_tool(directory: Path, project: str, files: list[Path]) -> Compose:
    """``docker compose`` where an engine answers, else the locked podman-compose."""
    options = ["-p", project, *(a for f in files for a in ("-f", str(f)))]
    if docker_engine():
        return Compose(["docker", "compose", *options], "docker", dict(os.environ))
    podman_compose = Path(sys.executable).parent / "podman-compose"
    assert podman_compose.exists(), "podman-compose is not installed: make install"
    env = {**os.environ, **podman_configuration(directory)}
    # No pod: the services share the host's network, which podman sets per pod.
    return Compose([str(podman_compose), "--in-pod", "false", *options], "podman", env)


# ------------------------------------------------ the override, from the file --


class Reset:
    """Compose's ``!reset`` tag (Docker Compose 2.24, podman-compose 1.1): drop the value."""


class Override(list[str]):
    """Compose's ``!override`` tag on a sequence: replace it rather than merge.

    ``healthcheck.test`` needs it with podman-compose 1.6, which appends an
    override's test to the file's (the spec replaces it).
    """


@dataclass
class StandIns:
    """Where this machine's infrastructure is, and the names the test may use."""

    kafka: str  # host:port of the broker's PLAINTEXT listener
    postgres: str  # host:port
    prefix: str  # database and topic prefix of this run
    ports: dict[str, int]  # service -> its free host port


def built_here(compose: dict[str, Any]) -> list[str]:
    """The services built from this repository's Dockerfile: init and the four services."""
    return [name for name, svc in compose["services"].items() if "build" in svc]


def localise(text: str, compose: dict[str, Any], stand_ins: StandIns) -> str:
    """A compose value with the left-out services' addresses replaced by their stand-ins."""
    local = {"kafka": stand_ins.kafka, "postgres": stand_ins.postgres}
    assert set(local) <= set(compose["services"]), "the compose file's kafka and postgres"
    for service, address in local.items():
        text = re.sub(rf"(?<=[/@]){re.escape(service)}:\d+", address, text)
        text = re.sub(rf"^{re.escape(service)}:\d+", address, text)
    return text.replace(
        f"{stand_ins.postgres}/{COMPOSE_DATABASE_PREFIX}",
        f"{stand_ins.postgres}/{stand_ins.prefix}_",
    )


def published(svc: dict[str, Any]) -> tuple[str, int] | None:
    """The (host address, container port) of a service's one published port."""
    ports = svc.get("ports", [])
    if not ports:
        return None
    (spec,) = ports
    host, _, container = str(spec).rpartition(":")
    return host.rpartition(":")[0] or "0.0.0.0", int(container)


def override(compose: dict[str, Any], stand_ins: StandIns) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two override files: the first resets ``depends_on``, the second sets it again.

    podman-compose 1.6's ``!override`` fails on a nested mapping
    (``AttributeError: 'tuple' object has no attribute 'value'``), so the
    dependencies among the services that run are reset and then merged back.
    """
    ours = built_here(compose)
    first: dict[str, Any] = {"services": {}}
    second: dict[str, Any] = {"services": {}}
    left_out = [name for name in compose["services"] if name not in ours]
    for name in left_out:
        first["services"][name] = {"profiles": [LEFT_OUT]}
    for name in ours:
        svc = compose["services"][name]
        env = {k: localise(str(v), compose, stand_ins) for k, v in svc["environment"].items()}
        for key, value in env.items():
            if any(f"//{other}:" in value for other in left_out):
                env[key] = ""  # names a service that is left out and has no stand-in
        env["AVRR_TOPIC_PREFIX"] = stand_ins.prefix
        changes: dict[str, Any] = {"network_mode": "host", "environment": env}
        exposed = published(svc)
        if exposed is not None:
            host, container_port = exposed
            port = stand_ins.ports[name]
            assert env["AVRR_PORT"] == str(container_port), (name, env["AVRR_PORT"])
            env["AVRR_PORT"] = str(port)
            env["AVRR_HOST"] = host
            changes["ports"] = Reset()
            test = [
                t.replace(f"127.0.0.1:{container_port}/", f"127.0.0.1:{port}/")
                for t in svc["healthcheck"]["test"]
            ]
            assert test != svc["healthcheck"]["test"], f"{name}: healthcheck port"
            changes["healthcheck"] = {"test": Override(test)}
        if "command" in svc:
            command = svc["command"]
            changes["command"] = (
                [localise(c, compose, stand_ins) for c in command]
                if isinstance(command, list)
                else localise(command, compose, stand_ins)
            )
        depends = {d: c for d, c in svc.get("depends_on", {}).items() if d in ours}
        changes["depends_on"] = Reset()
        first["services"][name] = changes
        if depends:
            second["services"][name] = {"depends_on": depends}
    return first, second


def write_yaml(path: Path, document: dict[str, Any]) -> Path:
    # Compose interpolates every file: a literal $ stays $$ (as init's command has it).
    path.write_text(yaml.dump(document, Dumper=_PlainDumper, sort_keys=False))
    return path


class _PlainDumper(yaml.SafeDumper):
    """No anchors and aliases: each service's settings written out in full."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_PlainDumper.add_representer(Reset, lambda d, _: d.represent_scalar("!reset", "", style=""))
_PlainDumper.add_representer(Override, lambda d, v: d.represent_sequence("!override", list(v)))


def start_order(depends_on: dict[str, dict[str, Any]]) -> list[list[str]]:
    """The services in waves: each wave's dependencies are all in earlier waves."""
    waves: list[list[str]] = []
    placed: set[str] = set()
    while len(placed) < len(depends_on):
        wave = [s for s, deps in depends_on.items() if s not in placed and set(deps) <= placed]
        assert wave, f"a depends_on cycle among {sorted(set(depends_on) - placed)}"
        waves.append(wave)
        placed.update(wave)
    return waves


# ---------------------------------------------------------------- the stack --


@dataclass
class Stack:
    compose: Compose
    ports: dict[str, int]
    project: str
    depends_on: dict[str, dict[str, Any]]  # service -> its dependencies and their conditions

    async def up(self) -> None:
        """``compose up -d``: the services that run, in the order their depends_on says.

        ``docker compose`` keeps that order itself. podman-compose 1.6 on podman
        4.3 cannot: it ignores ``service_healthy`` below podman 4.6, and it
        creates each dependent with ``--requires=<dependency>``, so every
        dependent's start runs the one-shot init again, beside the service
        (its ``podman wait --condition=stopped`` passes meanwhile). So with
        podman the containers are made without ``--requires`` (``--no-deps``)
        and each wave starts once its dependencies meet their conditions; the
        later waves' containers are created while the first runs (each is a
        full copy of the image on vfs storage: some 15 s here).
        """
        if self.compose.engine == "docker":
            self.must("up", "-d", "--no-build")
            return
        first, *later = start_order(self.depends_on)
        self.must("up", "-d", "--no-build", "--no-deps", *first)
        if later:
            self.must("up", "--no-start", "--no-build", "--no-deps", *(s for w in later for s in w))
        for wave in later:
            for service in wave:
                for dependency, rule in self.depends_on[service].items():
                    await self.meets(dependency, rule.get("condition", "service_started"))
            self.must("start", *wave)

    def must(self, *args: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} compose {' '.join(args)}")
        done = self.compose(*args, timeout=900)
        assert done.returncode == 0, (
            f"compose {' '.join(args)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )

    async def meets(self, service: str, condition: str) -> None:
        """Wait until ``service`` meets a depends_on condition (as docker compose waits)."""

        def met() -> bool:
            state = self.state(service)
            if condition == "service_completed_successfully":
                if state["Status"] == "exited":
                    assert state["ExitCode"] == 0, f"{service} failed:\n{self.logs(service)}"
                    return True
                return False
            if condition == "service_healthy":
                return self.healthy(service)
            assert condition == "service_started", condition
            return bool(state["Running"])

        await until(met, f"{service}: {condition}", 300)

    def container(self, service: str) -> str:
        done = self.compose.engine_run(
            "ps",
            "-a",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={self.project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        )
        ids = done.stdout.split()
        assert len(ids) == 1, f"{service}: containers {ids} ({done.stderr})"
        return ids[0]

    def state(self, service: str) -> dict[str, Any]:
        done = self.compose.engine_run(
            "inspect", "--format", "{{json .State}}", self.container(service)
        )
        assert done.returncode == 0, done.stderr
        state: dict[str, Any] = json.loads(done.stdout)
        return state

    def logs(self, service: str, *, tail: int = 4000) -> str:
        done = self.compose.engine_run("logs", self.container(service))
        return (done.stdout + done.stderr)[-tail:]

    def healthy(self, service: str) -> bool:
        """The compose file's healthcheck, as the engine runs it."""
        if self.compose.engine == "podman":
            # Without systemd podman 4.3 schedules no healthcheck timer ("unable to get
            # systemd connection to start healthchecks"): run the check when asked.
            self.compose.engine_run("healthcheck", "run", self.container(service))
        health = self.state(service).get("Health") or {}
        return bool(health.get("Status") == "healthy")


def timestamp(value: str) -> float:
    """An engine's RFC 3339 time (nanoseconds, offset) as seconds since the epoch."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", value)
    assert match, value
    whole, fraction, zone = match.groups()
    moment = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    return moment.timestamp() + float(fraction or 0)


@pytest.fixture
async def stack(
    image: str, postgres_admin_url: str, kafka_bootstrap: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    compose: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text("utf-8"))
    run = uuid.uuid4().hex[:8]
    prefix = f"tcompose{run}"
    url = make_url(postgres_admin_url)
    stand_ins = StandIns(
        kafka=kafka_bootstrap.split(",")[0],
        postgres=f"{url.host}:{url.port or 5432}",
        prefix=prefix,
        ports={name: _free_port() for name in SERVICES},
    )
    first, second = override(compose, stand_ins)
    for name in built_here(compose):  # the image this checkout built (make image)
        first["services"][name]["image"] = image
    files = [
        COMPOSE_FILE,
        write_yaml(tmp_path / "compose.local.yml", first),
        write_yaml(tmp_path / "compose.local-depends.yml", second),
    ]
    project = f"avrr-compose-{run}"
    tool = compose_tool(tmp_path, project, files)
    # What the postgres container does with create-databases.sql, with this run's names.
    names = re.findall(r"CREATE DATABASE (\w+)", DATABASES_SQL.read_text("utf-8"))
    assert names, DATABASES_SQL
    created: list[str] = []
    running = built_here(compose)
    depends_on = {
        name: {
            d: c for d, c in compose["services"][name].get("depends_on", {}).items() if d in running
        }
        for name in running
    }
    stack = Stack(tool, stand_ins.ports, project, depends_on)
    try:
        for name in names:
            local = prefix + "_" + name.removeprefix(COMPOSE_DATABASE_PREFIX)
            await _create_database(postgres_admin_url, local)
            created.append(local)
        yield stack
    finally:
        for service in running:  # kept beside the test's files
            with contextlib.suppress(AssertionError):  # one never created has none
                (tmp_path / f"{service}.log").write_text(stack.logs(service, tail=10**7))
        try:
            if tool.engine == "docker":
                tool("down", "--timeout", "5", timeout=300)
            # podman-compose down removes one container at a time (20 s or more each on
            # vfs storage here); podman removes them all at once below.
        finally:
            leftovers = tool.engine_run(
                "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project}"
            ).stdout.split()
            if leftovers:
                tool.engine_run("rm", "--force", "--time", "5", *leftovers, timeout=300)
            delete_topics(f"{prefix}.")
            for name in created:
                await _drop_database(postgres_admin_url, name)


def test_the_override_changes_only_what_the_missing_images_force() -> None:
    compose: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text("utf-8"))
    stand_ins = StandIns("127.0.0.1:9092", "127.0.0.1:5432", "tcomposecheck", {})
    stand_ins.ports = {name: 40000 + i for i, name in enumerate(SERVICES)}
    first, second = override(compose, stand_ins)
    assert set(built_here(compose)) == {"init", *SERVICES}
    changed = {
        "KAFKA_BOOTSTRAP_SERVERS",
        "DATABASE_URL",
        "AVRR_KEYSTORE_URL",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "AVRR_TOPIC_PREFIX",
        "AVRR_PORT",
        "AVRR_HOST",
    }
    for name in built_here(compose):
        svc, ours = compose["services"][name], first["services"][name]
        keys = {"network_mode", "environment", "ports", "healthcheck", "command", "depends_on"}
        assert set(ours) <= keys, name
        env = ours["environment"]
        assert {k for k in env if env[k] != str(svc["environment"][k])} <= changed, name
        text = yaml.dump(ours, Dumper=_PlainDumper)
        for gone in ("kafka:", "postgres:", "otel-collector:", "/avrr_", ":8000/"):
            assert gone not in text, (name, gone)
        assert second["services"].get(name, {}).get("depends_on", {}) == {
            d: c for d, c in svc.get("depends_on", {}).items() if d in built_here(compose)
        }
    assert first["services"]["intake"]["environment"]["DATABASE_URL"].endswith(
        "@127.0.0.1:5432/tcomposecheck_intake"
    )


async def until(check: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout}s")
        await asyncio.sleep(1.0)


async def test_the_compose_files_services_run_and_carry_a_household_home(stack: Stack) -> None:
    await stack.up()

    # depends_on: init ran to completion, successfully, before any service started.
    init = stack.state("init")
    assert init["Status"] == "exited" and init["ExitCode"] == 0, stack.logs("init")
    for service in SERVICES:
        state = stack.state(service)
        assert state["Running"], f"{service} is not running:\n{stack.logs(service)}"
        assert timestamp(state["StartedAt"]) >= timestamp(init["FinishedAt"]), service

    # Each service's own healthcheck (/health/ready on its port) until it passes.
    for service in SERVICES:
        try:
            await until(lambda s=service: stack.healthy(s), f"{service} healthy", 120)
        except AssertionError:
            pytest.fail(f"{service} never became healthy:\n{stack.logs(service)}")

    # One household through the four services' APIs (development headers: AVRR_DEV=1).
    clients = {
        s: httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.ports[s]}", timeout=30.0)
        for s in SERVICES
    }

    async def no_topic_reads(service: str) -> list[Any]:
        raise AssertionError("the stack is read through its REST APIs only")

    try:
        case = await full_journey(Platform(clients, no_topic_reads, timeout=120.0, interval=0.25))
        timeline = await clients["intake"].get(
            f"/cases/{case.case_id}/timeline", headers=CASEWORKER
        )
        assert timeline.status_code == 200, timeline.text
        assert "ReintegrationCompleted" in timeline.text
    finally:
        for client in clients.values():
            await client.aclose()
