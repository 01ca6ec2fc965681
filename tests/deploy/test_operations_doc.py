"""docs/operations.md: every command block runs, and says what the text claims.

Blocks are taken from the document by name (``operations_doc``) and run with
bash as written. ``helm upgrade [--install]`` needs a cluster, which the tests
do not have: a ``helm`` on PATH runs it as ``helm template`` with the same
arguments (helm 3.22's ``install --dry-run=client`` asks the cluster for its
version too), and the tests read the manifests it renders. ``avrr`` commands
run against a fresh PostgreSQL database and Kafka topics of the test's own
prefix; the OIDC rotation against an issuer served on 127.0.0.1 (the
deployment rehearsal's); the metrics block against a running embedded
platform.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography.exceptions import InvalidTag
from operations_doc import (  # type: ignore[import-not-found]
    DOC,
    REPO,
    blocks,
    check_block,
    referenced_names,
    run_block,
    unnamed_blocks,
)
from test_deployment_rehearsal import OidcIssuer  # type: ignore[import-not-found]
from test_helm_chart import (  # type: ignore[import-not-found]
    RENDER_KUBE_VERSION,
    SERVICES,
    VALUES,
    helm,
    of_kind,
    render,
)
from test_monitoring import ENABLED  # type: ignore[import-not-found]
from test_setup_command import environment, keystore_url  # type: ignore[import-not-found]

from avrr_events import audit, tables
from avrr_events.adapters.database import Database
from avrr_events.personal import MasterKey, SqlKeyStore
from avrr_events.web.auth import OidcAuthenticator, http_jwks_fetcher
from avrr_events.web.http import Unauthorized

__all__ = ["helm", "keystore_url"]  # fixtures of the chart and setup tests, used here

BIN = Path(sys.executable).parent  # avrr and the venv's python, as an operator's PATH has them


# ------------------------------------------------------------- the document --


def test_every_sh_block_has_a_name() -> None:
    assert not unnamed_blocks(), (
        f"sh blocks of {DOC.name} without <!-- block: name --> above them, at lines "
        f"{unnamed_blocks()}"
    )


def test_every_named_block_is_run_by_a_test() -> None:
    assert blocks(), f"{DOC.name} has no named block"
    unused = sorted(set(blocks()) - referenced_names())
    assert not unused, f"blocks of {DOC.name} that no test runs: {unused}"


def test_the_readme_links_the_operations_doc() -> None:
    assert "(docs/operations.md)" in (REPO / "README.md").read_text()


def test_every_alert_has_a_runbook_section(helm: str) -> None:
    (rule,) = of_kind(render(helm, VALUES["production"], *ENABLED), "PrometheusRule").values()
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    sections = set(re.findall(r"^### (\S+)$", DOC.read_text(), re.MULTILINE))
    assert alerts - sections == set(), f"alerts without a runbook section: {alerts - sections}"
    assert sections - alerts == set(), f"runbook sections of no alert: {sections - alerts}"


# ------------------------------------------------------------ helm commands --


@pytest.fixture
def workdir(tmp_path: Path, helm: str) -> Path:
    """An operator's directory: the chart at deploy/helm/avrr, and a helm whose
    ``upgrade`` renders instead of applying (every call logged in helm.log)."""
    (tmp_path / "deploy").symlink_to(REPO / "deploy")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "helm"
    shim.write_text(
        "#!/usr/bin/env bash\n"
        "# helm upgrade [--install] ARGS... -> helm template ARGS... (no cluster here)\n"
        'echo "$*" >> "$(dirname "$0")/../helm.log"\n'
        'if [[ "$1" == upgrade ]]; then\n'
        "  shift; args=()\n"
        '  for a in "$@"; do [[ "$a" == --install ]] || args+=("$a"); done\n'
        f'  exec {helm} template "${{args[@]}}" --kube-version {RENDER_KUBE_VERSION}\n'
        "fi\n"
        f'exec {helm} "$@"\n'
    )
    shim.chmod(0o755)
    check_block("install-values", cwd=tmp_path)
    return tmp_path


def run_in(workdir: Path, name: str) -> str:
    return str(check_block(name, path=[workdir / "bin", BIN], cwd=workdir))


def manifests_of(output: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(output) if d]


def deployments(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = of_kind(manifests, "Deployment")
    return found


def test_install_master_key_is_32_random_bytes() -> None:
    first, second = (check_block("install-master-key").strip() for _ in range(2))
    assert len(base64.b64decode(first, validate=True)) == 32
    assert first != second


def test_install_acls_name_one_principal_per_service() -> None:
    out = check_block("install-acls", path=[BIN])
    for service in SERVICES:
        assert service in out


def test_install_check_and_install_render_the_production_release(workdir: Path) -> None:
    out = run_in(workdir, "install-check")
    assert "0 chart(s) failed" in out  # helm lint --strict
    counts = {k: n for n, k in re.findall(r"^\s*(\d+) kind: (\S+)$", out, re.MULTILINE)}
    # split topology: an api and a worker Deployment per service, a setup Job per service
    assert counts["Deployment"] == "8" and counts["Job"] == "4", counts
    assert (workdir / "avrr-rendered.yaml").stat().st_size > 0

    manifests = manifests_of(run_in(workdir, "install"))
    assert (
        "upgrade --install avrr deploy/helm/avrr --namespace avrr"
        in (workdir / "helm.log").read_text()
    )
    assert sorted(deployments(manifests)) == sorted(
        f"avrr-{s}-{role}" for s in SERVICES for role in ("api", "worker")
    )
    jobs = of_kind(manifests, "Job")
    assert len(jobs) == 4 and all(
        "pre-install" in j["metadata"]["annotations"]["helm.sh/hook"] for j in jobs.values()
    )
    (ingress,) = of_kind(manifests, "Ingress").values()
    assert ingress["spec"]["tls"][0]["hosts"] == ["avrr.example.org"]
    (external,) = of_kind(manifests, "ExternalSecret").values()
    assert external["spec"]["secretStoreRef"]["name"] == "vault-avrr"
    assert of_kind(manifests, "PrometheusRule") and of_kind(manifests, "PodMonitor")
    image = {c["image"] for d in deployments(manifests).values() for c in containers(d)}
    assert image == {"registry.example.org/avrr/avrr:0.1.0"}


def containers(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return list(manifest["spec"]["template"]["spec"]["containers"])


def test_upgrade_runs_the_setup_jobs_before_the_new_image(workdir: Path) -> None:
    manifests = manifests_of(run_in(workdir, "upgrade"))
    for workload in [*deployments(manifests).values(), *of_kind(manifests, "Job").values()]:
        assert {c["image"] for c in containers(workload)} == {
            "registry.example.org/avrr/avrr:0.1.1"
        }
    for job in of_kind(manifests, "Job").values():
        assert "pre-upgrade" in job["metadata"]["annotations"]["helm.sh/hook"]
        assert containers(job)[0]["command"][:3] == ["python", "-m", "avrr_events.setup"]


def test_scale_renders_the_replica_counts_the_doc_claims(workdir: Path) -> None:
    manifests = manifests_of(run_in(workdir, "scale"))
    autoscalers = {
        name: (h["spec"]["minReplicas"], h["spec"]["maxReplicas"])
        for name, h in of_kind(manifests, "HorizontalPodAutoscaler").items()
    }
    # APIs scale on CPU: intake's 4..16 as set, the others values-production.yaml's 3..12
    assert autoscalers == {f"avrr-{s}-api": (4, 16) if s == "intake" else (3, 12) for s in SERVICES}
    workers = {
        name: d["spec"]["replicas"]
        for name, d in deployments(manifests).items()
        if name.endswith("-worker")
    }
    assert workers == {f"avrr-{s}-worker": 6 if s == "travel" else 3 for s in SERVICES}
    # no autoscaler owns the API Deployments' count: the HPA does
    assert all(
        "replicas" not in d["spec"] for n, d in deployments(manifests).items() if n.endswith("-api")
    )
    budgets = of_kind(manifests, "PodDisruptionBudget")
    assert len(budgets) == 8 and all(b["spec"]["maxUnavailable"] == 1 for b in budgets.values())


# ----------------------------------------------------- avrr on PostgreSQL --


async def test_migrations_setup_and_runbook_commands_on_a_fresh_database(
    database_url: str, keystore_url: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    env = environment(
        {
            "DATABASE_URL": database_url,
            "AVRR_KEYSTORE_URL": keystore_url,
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "AVRR_TOPIC_PREFIX": topic_prefix,
            "AVRR_TOPIC_PARTITIONS": "1",
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        }
    )
    behind = run_block("migrations-status", env, path=[BIN])
    assert behind.returncode == 1, behind.stdout + behind.stderr  # a fresh database is behind

    out = check_block("migrations-setup", env)
    assert "intake" in out
    again = check_block("migrations-status", env)  # at head: exit 0
    assert "head" in again.lower(), again

    # the runbook's commands, on the set-up service: nothing set aside, no dead letters
    assert run_block("runbook-set-aside", env).returncode == 0
    listed = run_block("runbook-dead-letters", env)
    assert listed.returncode == 0, listed.stderr


def test_pinned_audit_key_is_the_one_the_master_key_gave() -> None:
    master = base64.b64encode(os.urandom(32)).decode()
    pinned = check_block("master-key-pin-audit-key", {"AVRR_MASTER_KEY": master}, path=[BIN])
    key = base64.b64decode(pinned.strip(), validate=True)
    assert key == audit.derive_key(base64.b64decode(master))
    assert audit.check_key(key) == key  # a valid AVRR_AUDIT_KEY


async def test_master_key_rewrap_rotates_every_key_and_can_run_again(keystore_url: str) -> None:
    raw = {name: os.urandom(32) for name in ("old", "new", "stranger")}
    b64 = {name: base64.b64encode(key).decode() for name, key in raw.items()}
    old, new = MasterKey(raw["old"]), MasterKey(raw["new"])
    db = Database(keystore_url, pool_size=1)
    try:
        async with db.transaction() as conn:
            await conn.run_sync(tables.subject_keys.create)
        people = [f"person-{n}" for n in range(3)]
        data_keys = {p: await SqlKeyStore(db, old).get_or_create(p) for p in people}
        env = environment(
            {
                "AVRR_KEYSTORE_URL": keystore_url,
                "OLD_MASTER_KEY": b64["old"],
                "NEW_MASTER_KEY": b64["new"],
            }
        )
        # a previous key that is not the one in use: refused, nothing written
        stranger = {**env, "OLD_MASTER_KEY": b64["stranger"]}
        wrong = run_block("master-key-rewrap", stranger, path=[BIN])
        assert wrong.returncode == 1 and "nothing changed" in wrong.stderr, wrong.stderr
        assert await SqlKeyStore(db, old).get_many(people) == data_keys  # untouched

        assert "3 keys re-wrapped, 0 already" in check_block("master-key-rewrap", env, path=[BIN])
        assert await SqlKeyStore(db, new).get_many(people) == data_keys  # the same data keys
        with pytest.raises(InvalidTag):
            await SqlKeyStore(db, old).get(people[0])
        # interrupted or repeated: what is already under the new key is left alone
        assert "0 keys re-wrapped, 3 already" in check_block("master-key-rewrap", env, path=[BIN])
    finally:
        await db.dispose()


# ------------------------------------------------------- OIDC key rotation --


class RotatingIssuer(OidcIssuer):  # type: ignore[misc]
    """The rehearsal's issuer, with its JWKS read at every request, so a rotation shows."""

    def __init__(self) -> None:
        super().__init__()
        tokens = self.tokens
        served = self._http.RequestHandlerClass

        class Live(served):  # type: ignore[misc, valid-type]
            def do_GET(self) -> None:  # noqa: N802 (the handler's method, overridden)
                if self.path != "/jwks":
                    super().do_GET()
                    return
                body = json.dumps(tokens.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._http.RequestHandlerClass = Live


@pytest.fixture
def issuer() -> Iterator[RotatingIssuer]:
    served = RotatingIssuer()
    yield served
    served.close()


def published_kids(issuer: RotatingIssuer) -> list[str]:
    out = check_block("oidc-jwks", {"AVRR_OIDC_ISSUER": issuer.url})
    return [line.split()[0] for line in out.splitlines()]


async def test_oidc_rotation_as_the_doc_describes(issuer: RotatingIssuer) -> None:
    now = [1000.0]

    def pod() -> OidcAuthenticator:
        """As the services build it (service.py): discovery from the issuer, default timings."""
        return OidcAuthenticator(
            issuer=issuer.url,
            audience=issuer.tokens.audience,
            fetch_jwks=http_jwks_fetcher(issuer.url),
            clock=lambda: now[0],
        )

    pods, busy = pod(), pod()
    assert (pods.cache_seconds, pods.refetch_after) == (600.0, 30.0)  # "10 minutes", "30 seconds"
    (old,) = published_kids(issuer)
    old_token = issuer.tokens.issue("caseworker-1", ["caseworker"], ["GT-GUA"])
    for authenticator in (pods, busy):
        assert (await authenticator.authenticate(old_token)).user_id == "caseworker-1"

    # 1. publish the new key next to the old one (both pods fetched just before)
    new = issuer.tokens.rotate()
    assert published_kids(issuer) == [old, new]
    new_token = issuer.tokens.issue("caseworker-2", ["caseworker"], ["GT-GUA"])
    # 2. signing at once: a pod that does not hold the new kid fetches on it, except
    # within 30 s of its last fetch (401 from memory, the retry passes)
    now[0] += 5
    with pytest.raises(Unauthorized, match="unknown key"):
        await pods.authenticate(new_token)
    now[0] += 30
    assert (await pods.authenticate(new_token)).user_id == "caseworker-2"
    assert (await pods.authenticate(old_token)).user_id == "caseworker-1"
    # signing 10 minutes after publishing: a pod that served a token since holds it already
    now[0] += 570  # 605 s after busy's last fetch
    assert (await busy.authenticate(old_token)).user_id == "caseworker-1"  # refreshes
    fetched = busy.fetches
    assert (await busy.authenticate(new_token)).user_id == "caseworker-2"
    assert busy.fetches == fetched

    # 3. retire the old key: accepted until a pod's next refresh, refused after it
    issuer.tokens.retire(old)
    assert published_kids(issuer) == [new]
    assert (await pods.authenticate(old_token)).user_id == "caseworker-1"  # cache 570 s old
    now[0] += 31
    with pytest.raises(Unauthorized, match="unknown key"):
        await pods.authenticate(old_token)  # cache 601 s old: refreshed, the key is gone
    assert (await pods.authenticate(new_token)).user_id == "caseworker-2"


# ------------------------------------------------------------------ metrics --


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def running_platform(tmp_path: Path) -> Iterator[str]:
    """The embedded platform on a port of its own; the URL of intake under it."""
    port = _free_port()
    env = environment({"AVRR_PORT": str(port), "AVRR_DATA_DIR": str(tmp_path / "data")})
    process = subprocess.Popen(
        [sys.executable, "-m", "avrr_events.web.embedded"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/intake"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "the embedded platform exited"
            assert time.monotonic() < deadline, "the embedded platform never became ready"
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_metrics_read_shows_the_alerted_series(running_platform: str) -> None:
    out = check_block("metrics-read", {"AVRR_METRICS_URL": running_platform})
    names = {line.split("{", 1)[0] for line in out.splitlines()}
    assert {"avrr_outbox_oldest_age_seconds", "avrr_outbox_backlog", "avrr_outbox_set_aside"} <= (
        names
    )
    assert all('service="intake"' in line for line in out.splitlines())
