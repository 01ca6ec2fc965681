"""Deploy as an operations team would: the chart's own workloads, run from the built image.

The chart is rendered with values-production.yaml plus a small overlay that
points it at this machine (the local PostgreSQL, the local broker's SASL
listener, an OIDC issuer whose JWKS this test serves, a topic prefix of the
test's own). The test then plays the cluster:

- it is the External Secrets operator: it writes exactly the keys the
  rendered ExternalSecret declares, and a container that refers to any other
  Secret key fails the test, naming the variable;
- it is the kubelet: every rendered workload runs from the built image with
  the manifest's own args, env, envFrom ConfigMap, user id, read-only root
  filesystem and emptyDir mounts, the setup Jobs first and then every
  Deployment of ``topology: split`` (api and worker per service); it probes
  their liveness and readiness paths as the manifests say.

Then one household goes from referral to completed reintegration through the
api containers with real RS256 bearer tokens (no development headers), and
its timeline is read.

The one deliberate difference from a cluster: pods listen on port 8000 at
their own IP; here they share the host's network, so each container gets a
port of its own through ``AVRR_PORT`` and its probes go there.
"""

from __future__ import annotations

import asyncio
import base64
import json
import resource
import secrets
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

# The journey is the cross-service scenario's (tests/journey_steps.py), on the path
# however this file is collected.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from journey_steps import CASEWORKER, Platform, full_journey

# Beside this file (pytest puts tests/deploy on the path; mypy sees it as deploy.*).
from test_helm_chart import helm, render, service_of  # type: ignore[import-not-found]

from avrr_events import kafka_acls
from avrr_events.settings import ServiceSettings
from avrr_events.testing import _create_database, _drop_database, _free_port, delete_topics
from avrr_events.web.auth import DevTokenIssuer
from avrr_events.web.embedded import discover

__all__ = ["helm"]  # the chart tests' fixture, used here

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "avrr"
IMAGE_SCRIPT = REPO / "scripts" / "image.sh"
SERVICES = ("intake", "eligibility", "travel", "reintegration")
AUDIENCE = "avrr-api"
FRONTEND = "https://caseworker.example.org"

pytestmark = pytest.mark.infra


# ----------------------------------------------------------------- the image --


def container_engine() -> list[str]:
    """How this machine runs containers: docker where an engine answers, else podman."""
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    ):
        return ["docker"]
    return ["bash", str(IMAGE_SCRIPT), "podman"]


def test_the_image_carries_no_test_or_lint_tools(image: str) -> None:
    engine = container_engine()
    listing = subprocess.run(
        [
            *engine,
            "run",
            "--rm",
            "--network",
            "host",
            *_limits(engine),
            "--entrypoint",
            "python",
            image,
            "-m",
            "pip",
            "list",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listing.returncode == 0, listing.stderr
    installed = {p["name"].lower() for p in json.loads(listing.stdout)}
    assert {
        "avrr-events",
        "avrr-intake",
        "avrr-eligibility",
        "avrr-travel",
        "avrr-reintegration",
    } <= installed
    tools = {
        "pytest",
        "ruff",
        "mypy",
        "schemathesis",
        "hypothesis",
        "testcontainers",
        "kubernetes-validate",
        "check-jsonschema",
        "setuptools",
    }
    assert installed & tools == set()


def _limits(engine: list[str]) -> list[str]:
    """podman here needs explicit limits, within this process's own (see scripts/image.sh)."""
    if engine[0] == "docker":
        return []
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nofile = 65536 if nofile == resource.RLIM_INFINITY else min(nofile, 65536)
    nproc = 16384 if nproc == resource.RLIM_INFINITY else min(nproc, 16384)  # as scripts/image.sh
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


# ------------------------------------------------------------ the OIDC issuer --


class OidcIssuer:
    """An identity provider on 127.0.0.1: discovery document and JWKS over HTTP."""

    def __init__(self) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.tokens = DevTokenIssuer(issuer=self.url, audience=AUDIENCE)
        documents = {
            "/.well-known/openid-configuration": {
                "issuer": self.url,
                "jwks_uri": f"{self.url}/jwks",
            },
            "/jwks": self.tokens.jwks(),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                document = documents.get(self.path)
                body = json.dumps(document).encode()
                self.send_response(200 if document else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def sign(self, request: httpx.Request) -> None:
        """The journey names its callers with development headers: send them as a JWT instead."""
        user = request.headers.pop("X-AVRR-User", None)
        roles = [r for r in request.headers.pop("X-AVRR-Roles", "").split(",") if r]
        offices = [o for o in request.headers.pop("X-AVRR-Offices", "").split(",") if o]
        if user is not None:
            token = self.tokens.issue(user, roles, offices)
            request.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


# ------------------------------------------------------- the rendered chart --


@dataclass
class Workload:
    """One rendered pod template: a setup Job's or a Deployment's single container."""

    kind: str
    name: str
    service: str
    pod: dict[str, Any]

    @property
    def container(self) -> dict[str, Any]:
        containers = self.pod["containers"]
        assert len(containers) == 1, f"{self.name}: one container expected"
        return dict(containers[0])


@dataclass
class Cluster:
    """What the test plays: the Secret (as External Secrets writes it) and running containers."""

    engine: list[str]
    image: str
    config_maps: dict[str, dict[str, str]]
    secret_name: str
    secret: dict[str, str]
    logs: Path
    running: list[str] = field(default_factory=list)

    def env(self, workload: Workload, port: int) -> dict[str, str]:
        """The container's environment exactly as Kubernetes would build it (port aside)."""
        container = workload.container
        out: dict[str, str] = {}
        for source in container.get("envFrom", []):
            ref = source["configMapRef"]["name"]
            assert ref in self.config_maps, (
                f"{workload.name}: envFrom ConfigMap {ref} is not rendered"
            )
            out.update(self.config_maps[ref])
        for variable in container.get("env", []):
            name = variable["name"]
            if "value" in variable:
                out[name] = str(variable["value"])
                continue
            ref = variable["valueFrom"].get("secretKeyRef")
            assert ref is not None, (
                f"{workload.name}: {name} comes from neither a value nor a Secret"
            )
            assert ref["name"] == self.secret_name, (
                f"{workload.name}: {name} from Secret {ref['name']}"
            )
            assert ref["key"] in self.secret, (
                f"{workload.name}: {name} refers to Secret key {ref['key']}, which the "
                "ExternalSecret of values-production.yaml does not write"
            )
            out[name] = self.secret[ref["key"]]
        out["AVRR_PORT"] = str(port)  # the pod's own IP:8000 stand-in (module docstring)
        return out

    def run(
        self, workload: Workload, port: int, *, detach: bool
    ) -> subprocess.CompletedProcess[str]:
        container = workload.container
        security = {
            **workload.pod.get("securityContext", {}),
            **container.get("securityContext", {}),
        }
        args = [*self.engine, "run", "--network", "host", *_limits(self.engine)]
        name = f"avrr-rehearsal-{uuid.uuid4().hex[:8]}-{workload.name}"
        args += ["--name", name]
        if "runAsUser" in security:
            args += [
                "--user",
                f"{security['runAsUser']}:{security.get('runAsGroup', security['runAsUser'])}",
            ]
        if security.get("readOnlyRootFilesystem"):
            args.append("--read-only")
        volumes = {v["name"]: v for v in workload.pod.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            if "emptyDir" in volume:
                args += ["--tmpfs", f"{mount['mountPath']}:rw,size=64m,mode=1777"]
            else:
                pytest.fail(
                    f"{workload.name}: volume {mount['name']} has no stand-in here: {volume}"
                )
        env_file = self.logs / f"{name}.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in self.env(workload, port).items()))
        args += ["--env-file", str(env_file)]
        if "command" in container:
            args += ["--entrypoint", container["command"][0]]
            rest = [*container["command"][1:], *container.get("args", [])]
        else:
            rest = list(container.get("args", []))
        if detach:
            args.append("--detach")
            self.running.append(name)
        else:
            args.append("--rm")
        return subprocess.run(
            [*args, self.image, *rest], capture_output=True, text=True, timeout=600
        )

    def log_of(self, name: str) -> str:
        done = subprocess.run([*self.engine, "logs", name], capture_output=True, text=True)
        return done.stdout + done.stderr

    def stop_all(self) -> None:
        for name in self.running:
            (self.logs / f"{name}.log").write_text(self.log_of(name))
            subprocess.run(
                [*self.engine, "rm", "--force", "--time", "5", name], capture_output=True
            )


def workloads(manifests: list[dict[str, Any]]) -> tuple[list[Workload], list[Workload]]:
    """The setup Jobs and the Deployments, each a single-container pod template."""
    jobs: list[Workload] = []
    deployments: list[Workload] = []
    for m in manifests:
        if m["kind"] in ("Job", "Deployment"):
            name = m["metadata"]["name"]
            w = Workload(
                m["kind"], name, service_of(f"{m['kind']}/{name}"), m["spec"]["template"]["spec"]
            )
            (jobs if m["kind"] == "Job" else deployments).append(w)
    return jobs, deployments


def overlay(tmp: Path, *, prefix: str, issuer: str, sasl_bootstrap: str) -> Path:
    """What an operator changes for this machine: hosts, the test's topic prefix, plain SASL."""
    values = {
        "image": {"repository": "localhost/avrr", "tag": "dev", "digest": ""},
        "config": {
            "topicPrefix": prefix,
            "topicPartitions": 2,
            "topicReplicationFactor": 1,
            "oidc": {"issuer": issuer, "audience": AUDIENCE},
            "corsOrigins": [FRONTEND],
            "otel": {"endpoint": ""},
        },
        # The local broker has no TLS listener: SASL/SCRAM over plaintext, no CA.
        "kafka": {
            "bootstrapServers": sasl_bootstrap,
            "securityProtocol": "SASL_PLAINTEXT",
            "tls": {"caSecret": ""},
        },
    }
    path = tmp / "values-rehearsal.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def external_secret_data(
    manifests: list[dict[str, Any]], databases: dict[str, str], keys_url: str
) -> tuple[str, dict[str, str]]:
    """The Secret as the External Secrets operator writes it: exactly the declared keys."""
    (external,) = [m for m in manifests if m["kind"] == "ExternalSecret"]
    known: dict[str, str] = {
        "AVRR_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "AVRR_KEYSTORE_URL": keys_url,
        "AVRR_INTAKE_DUPLICATE_SECRET": secrets.token_urlsafe(36),
    }
    for service in SERVICES:
        known[f"DATABASE_URL_{service.upper()}"] = databases[service]
        known[f"KAFKA_SASL_USERNAME_{service.upper()}"] = service
        known[f"KAFKA_SASL_PASSWORD_{service.upper()}"] = kafka_acls.development_password(service)
    data: dict[str, str] = {}
    for item in external["spec"]["data"]:
        key = item["secretKey"]
        assert key in known, (
            f"the ExternalSecret declares {key}, which this rehearsal cannot supply"
        )
        data[key] = known[key]
    return external["spec"]["target"]["name"], data


@pytest.fixture
async def deployment(
    helm: str,
    image: str,
    postgres_admin_url: str,
    kafka_bootstrap: str,
    kafka_sasl_bootstrap: str,
    tmp_path: Path,
) -> AsyncIterator[tuple[Cluster, OidcIssuer, list[Workload], list[Workload]]]:
    run = uuid.uuid4().hex[:8]
    prefix = f"trehearsal{run}"
    issuer = OidcIssuer()
    settings = ServiceSettings(topic_prefix=prefix)
    grants = kafka_acls.platform_grants(settings, discover())
    admin = {"bootstrap.servers": kafka_bootstrap}
    kafka_acls.apply(admin, grants, {})
    names = [f"{prefix}_{s}" for s in (*SERVICES, "keys")]
    urls = {n: await _create_database(postgres_admin_url, n) for n in names}
    engine = container_engine()
    cluster: Cluster | None = None
    try:
        manifests = render(
            helm,
            (
                "values-production.yaml",
                str(
                    overlay(
                        tmp_path,
                        prefix=prefix,
                        issuer=issuer.url,
                        sasl_bootstrap=kafka_sasl_bootstrap,
                    )
                ),
            ),
        )
        databases = {s: urls[f"{prefix}_{s}"] for s in SERVICES}
        secret_name, data = external_secret_data(manifests, databases, urls[f"{prefix}_keys"])
        config_maps = {
            m["metadata"]["name"]: {k: str(v) for k, v in m["data"].items()}
            for m in manifests
            if m["kind"] == "ConfigMap"
        }
        cluster = Cluster(engine, image, config_maps, secret_name, data, tmp_path)
        jobs, deployments = workloads(manifests)
        yield cluster, issuer, jobs, deployments
    finally:
        if cluster is not None:
            cluster.stop_all()
        issuer.close()
        kafka_acls.remove(admin, grants)
        delete_topics(f"{prefix}.")
        for n in names:
            await _drop_database(postgres_admin_url, n)


async def probe(client: httpx.AsyncClient, url: str, *, timeout: float = 120.0) -> httpx.Response:
    """GET until 200 (a startup probe's patience), then return the answer."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            response = await client.get(url)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{url} not ready within {timeout}s")
        await asyncio.sleep(1.0)


async def test_the_charts_workloads_run_from_the_image_and_carry_a_household_home(
    deployment: tuple[Cluster, OidcIssuer, list[Workload], list[Workload]],
) -> None:
    cluster, issuer, jobs, deployments = deployment
    assert {j.service for j in jobs} == set(SERVICES)
    assert {(d.service, d.name.rsplit("-", 1)[1]) for d in deployments} == {
        (s, role) for s in SERVICES for role in ("api", "worker")
    }
    # The setup Jobs first, as the pre-install hook runs them; intake's first
    # (the shared key store's migrations), then the others.
    for job in sorted(jobs, key=lambda j: j.service != "intake"):
        done = cluster.run(job, _free_port(), detach=False)
        assert done.returncode == 0, (
            f"{job.name} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )

    ports: dict[str, int] = {}
    for workload in deployments:
        ports[workload.name] = _free_port()
        started = cluster.run(workload, ports[workload.name], detach=True)
        assert started.returncode == 0, f"{workload.name}: {started.stderr}"

    async with httpx.AsyncClient(timeout=5.0) as client:
        for workload in deployments:
            base = f"http://127.0.0.1:{ports[workload.name]}"
            container = workload.container
            try:
                for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                    await probe(client, base + container[kind]["httpGet"]["path"])
            except AssertionError:
                names = [n for n in cluster.running if n.endswith(workload.name)]
                pytest.fail(
                    f"{workload.name} never became ready:\n" + cluster.log_of(names[0])[-4000:]
                )

    # One household, referral to completed reintegration, through the api containers,
    # with bearer tokens from the issuer: the containers refuse development headers.
    api = {
        d.service: f"http://127.0.0.1:{ports[d.name]}"
        for d in deployments
        if d.name.endswith("-api")
    }
    async with httpx.AsyncClient(base_url=api["intake"], timeout=10.0) as plain:
        refused = await plain.get("/cases", headers=CASEWORKER)
        assert refused.status_code == 401, refused.text
        # As a gateway sends it (/intake/...): served, but never the probes or metrics;
        # a browser of the configured frontend gets its preflight answered.
        for inside in ("/intake/metrics", "/intake/health/ready"):
            assert (await plain.get(inside)).status_code == 404, inside
        preflight = await plain.options(
            "/intake/cases",
            headers={
                "Origin": FRONTEND,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.headers.get("access-control-allow-origin") == FRONTEND, preflight.text

    async def no_topic_reads(service: str) -> list[Any]:
        raise AssertionError("the rehearsal reads the platform through its REST APIs only")

    clients = {
        s: httpx.AsyncClient(
            base_url=api[s], timeout=30.0, event_hooks={"request": [_hook(issuer)]}
        )
        for s in SERVICES
    }
    try:
        platform = Platform(clients, no_topic_reads, timeout=120.0, interval=0.25)
        try:
            case = await full_journey(platform)
        except AssertionError as exc:  # say what the workers did meanwhile
            workers = [n for n in cluster.running if n.endswith("-worker")]
            logs = "\n".join(f"--- {n}:\n{cluster.log_of(n)[-2500:]}" for n in workers)
            raise AssertionError(f"{exc}\n{logs}") from None
        # The journey ends when reintegration shows the case completed; intake's worker
        # takes ReintegrationCompleted in after that, so its timeline is waited for.
        wanted = (
            "ReturnRequested",
            "DueDiligenceCleared",
            "ArrivalConfirmed",
            "ReintegrationCompleted",
        )

        def shows_every_phase(timeline: dict[str, Any]) -> bool:
            kinds = {entry.get("type", "") for entry in _entries(timeline)}
            return all(any(k.endswith(w) for k in kinds) for w in wanted)

        await platform.until(
            "intake",
            f"/cases/{case.case_id}/timeline",
            shows_every_phase,
            CASEWORKER,
            hop="intake timeline shows every phase",
            since=time.perf_counter(),
            cross_service=True,
        )
    finally:
        for c in clients.values():
            await c.aclose()


def _hook(issuer: OidcIssuer) -> Any:
    async def sign(request: httpx.Request) -> None:
        issuer.sign(request)

    return sign


def _entries(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return body
    for key in ("entries", "items", "events", "timeline"):
        if isinstance(body.get(key), list):
            return list(body[key])
    raise AssertionError(f"unexpected timeline shape: {list(body)}")
