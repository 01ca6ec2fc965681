"""A missing or malformed setting stops a process in one line naming the variable and chart value.

The chart is rendered with values-production.yaml and a small overlay (the
settings it leaves empty: CORS origins, a JWKS URL). For every rendered
container (the setup Jobs, the api and worker Deployments) the test builds
the environment Kubernetes would give it (the ConfigMap, the Secret as the
ExternalSecret writes it, the CA bundle of the mounted Secret) and runs the
container's own command as a local process, once without each variable the
code requires and once with that variable malformed: exit status 1, nothing
on stdout, exactly one line on stderr, naming the variable and the chart
value that sets it. No Kafka or PostgreSQL is needed: the check comes before
any connection (the URLs point at port 1). The variables come from the
rendered manifests, so one the chart adds later is covered, and one that
avrr_events.environment does not know fails the test.

Variables the code does not require are checked in-process
(``environment.problem``): absent, the process would go on; malformed, it
would stop naming them.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Beside this file (pytest puts tests/deploy on the path; mypy sees it as deploy.*).
from test_helm_chart import helm, render, service_of  # type: ignore[import-not-found]

from avrr_events import environment

__all__ = ["helm"]  # the chart tests' fixture, used here

REPO = Path(__file__).resolve().parents[2]
UNREACHABLE = "127.0.0.1:1"


@dataclass
class Container:
    """One rendered container: its command line here and the environment Kubernetes builds."""

    name: str
    service: str
    argv: list[str]
    env: dict[str, str]

    @property
    def start(self) -> environment.Start:
        module = self.argv[self.argv.index("-m") + 1]
        command = module.rsplit(".", 1)[1]
        assert command in ("serve", "setup"), f"{self.name}: unexpected command {module}"
        role = self.argv[self.argv.index("--role") + 1] if "--role" in self.argv else None
        return environment.Start(command, self.service, self.env, role)  # type: ignore[arg-type]

    def without(self, name: str) -> dict[str, str]:
        return {k: v for k, v in self.env.items() if k != name}


def entrypoint() -> list[str]:
    """The image's ENTRYPOINT (a container without ``command`` runs it with its args)."""
    (line,) = [
        line
        for line in (REPO / "Dockerfile").read_text().splitlines()
        if line.startswith("ENTRYPOINT")
    ]
    return list(json.loads(line.removeprefix("ENTRYPOINT")))


def secret_value(key: str) -> str:
    """A valid value for each key of the Secret, as an operator's secret store holds it."""
    if key == "AVRR_MASTER_KEY":
        return base64.b64encode(secrets.token_bytes(32)).decode()
    if key == "AVRR_KEYSTORE_URL":
        return f"postgresql+asyncpg://avrr:pw@{UNREACHABLE}/avrr_keys"
    if key.startswith("DATABASE_URL_"):
        return f"postgresql+asyncpg://avrr:pw@{UNREACHABLE}/avrr_{key.rsplit('_', 1)[1].lower()}"
    if key.startswith("KAFKA_SASL_USERNAME_"):
        return key.rsplit("_", 1)[1].lower()
    return secrets.token_urlsafe(36)  # passwords and the services' own secrets (48 characters)


def containers(manifests: list[dict[str, Any]], mounts: Path) -> list[Container]:
    (external,) = [m for m in manifests if m["kind"] == "ExternalSecret"]
    secret_name = external["spec"]["target"]["name"]
    secret = {
        item["secretKey"]: secret_value(item["secretKey"]) for item in external["spec"]["data"]
    }
    config_maps = {
        m["metadata"]["name"]: {k: str(v) for k, v in m["data"].items()}
        for m in manifests
        if m["kind"] == "ConfigMap"
    }
    found: list[Container] = []
    for m in manifests:
        if m["kind"] not in ("Job", "Deployment"):
            continue
        name = f"{m['kind']}/{m['metadata']['name']}"
        pod = m["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            env.update(config_maps[source["configMapRef"]["name"]])
        for variable in container.get("env", []):
            if "value" in variable:
                env[variable["name"]] = str(variable["value"])
                continue
            ref = variable["valueFrom"]["secretKeyRef"]
            assert ref["name"] == secret_name and ref["key"] in secret, (
                f"{name}: {variable['name']} refers to {ref['name']}/{ref['key']}, which the "
                "ExternalSecret does not write"
            )
            env[variable["name"]] = secret[ref["key"]]
        # The kubelet's part: a mounted Secret's files (the brokers' CA bundle) in a local folder.
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            if "secret" not in volumes[mount["name"]]:
                continue
            local = mounts / mount["name"]
            for key, value in env.items():
                if value.startswith(mount["mountPath"] + "/"):
                    path = local / value.removeprefix(mount["mountPath"] + "/")
                    path.parent.mkdir(parents=True, exist_ok=True)
                    bundle = ssl.get_default_verify_paths().cafile
                    assert bundle, "no CA bundle on this machine to stand in for the Secret"
                    path.write_bytes(Path(bundle).read_bytes())
                    env[key] = str(path)
        command = container.get("command") or entrypoint()
        argv = [*command, *container.get("args", [])]
        argv[0] = sys.executable if argv[0] == "python" else argv[0]
        found.append(Container(name, service_of(name), argv, env))
    return found


def overlay(tmp: Path) -> Path:
    """What values-production.yaml leaves empty, so that its variables are rendered too."""
    values = {
        "config": {
            "corsOrigins": ["https://caseworker.example.org"],
            "oidc": {"jwksUrl": "https://login.example.org/realms/avrr/certs"},
        }
    }
    path = tmp / "values-bad-settings.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def refusal(container: Container, env: dict[str, str], tmp: Path) -> tuple[int, str, str]:
    done = subprocess.run(
        container.argv, env=env, cwd=tmp, capture_output=True, text=True, timeout=120
    )
    return done.returncode, done.stdout, done.stderr


def test_every_missing_or_malformed_setting_stops_the_process_in_one_line(
    helm: str, tmp_path: Path
) -> None:
    manifests = render(helm, ("values-production.yaml", str(overlay(tmp_path))))
    found = containers(manifests, tmp_path / "mounts")
    kinds = {(c.name.split("/")[0], c.start.command, c.start.process_role) for c in found}
    assert kinds == {
        ("Job", "setup", "all"),
        ("Deployment", "serve", "api"),
        ("Deployment", "serve", "worker"),
    }
    failures: list[str] = []
    runs = 0
    started = time.monotonic()
    for container in found:
        start = container.start
        known = environment.variables_of(container.service)
        unknown = sorted(set(container.env) - set(known))
        assert not unknown, (
            f"{container.name}: the chart sets {unknown}, which avrr_events.environment does "
            "not know: add each to its table (or the service's settings.py, register())"
        )
        whole = environment.problem(start)
        assert whole is None, f"{container.name}: the complete environment is refused: {whole}"
        for name in sorted(container.env):
            entry = known[name]
            chart = entry.chart_value(container.service)
            if not entry.required(start):
                # Optional: absent, the process goes on; malformed, it stops naming it.
                absent = environment.problem(
                    environment.Start(
                        start.command, start.service, container.without(name), start.role
                    )
                )
                if absent is not None:
                    failures.append(f"{container.name} without optional {name}: {absent}")
                if entry.check is not None:
                    bad = environment.problem(
                        environment.Start(
                            start.command,
                            start.service,
                            {**container.env, name: entry.check.refused},
                            start.role,
                        )
                    )
                    if bad is None or bad.variable != name or chart not in str(bad):
                        failures.append(f"{container.name}: malformed {name} gives {bad}")
                continue
            malformed = entry.check.refused if entry.check is not None else ""
            for case, env in (
                ("without", container.without(name)),
                ("with a malformed", {**container.env, name: malformed}),
            ):
                runs += 1
                status, out, err = refusal(container, env, tmp_path)
                lines = err.splitlines()
                ok = (
                    status == 1
                    and out == ""
                    and len(lines) == 1
                    and re.match(rf"{name} is (not set|malformed: .+): set ", lines[0])
                    and chart in lines[0]
                )
                if not ok:
                    failures.append(
                        f"{container.name} {case} {name}: exit {status}, stdout {out[-500:]!r}, "
                        f"stderr {err[-1500:]!r} (wanted one line naming {name} and {chart})"
                    )
    print(f"{runs} processes in {time.monotonic() - started:.0f} s")
    assert not failures, "\n".join(failures)
