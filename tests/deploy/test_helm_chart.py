"""deploy/helm/avrr: lint, render, and validate every manifest against Kubernetes' schemas.

``helm`` comes from ``$AVRR_HELM``, else ``$AVRR_CACHE_DIR/bin/helm``
(default ``~/.cache/avrr/bin/helm``, built by ``scripts/helm.sh``), else the
PATH. Without it these tests are skipped, and fail under
``AVRR_REQUIRE_INFRA=1`` (CI), like the Kafka/PostgreSQL-backed tests.

Both values files are rendered (the defaults, with the ``combined``
topology, and values-production.yaml on top of them, with ``split``: an API
and a worker Deployment per service); every manifest is validated in strict mode (no unknown fields)
with the ``kubernetes-validate`` package, for the oldest Kubernetes the chart
supports and the newest the package knows. The one custom resource,
External Secrets' ExternalSecret, has no schema there and is checked by hand.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from avrr_events.setup import SetupSettings
from avrr_events.testing import infra_required

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy/helm/avrr"
SERVICES = ("eligibility", "intake", "reintegration", "travel")
# The chart's kubeVersion floor, and the newest Kubernetes kubernetes-validate knows.
KUBE_VERSIONS = ("1.27.0", kubernetes_validate.latest_version())
RENDER_KUBE_VERSION = "1.31.0"
CUSTOM_KINDS = {"ExternalSecret": "external-secrets.io/v1"}
VALUES = {"default": (), "production": ("values-production.yaml",)}
ROLE = "avrr/role"


def service_of(kind_and_name: str) -> str:
    """The service a Deployment or setup Job belongs to (``Deployment/avrr-intake-api``)."""
    name = kind_and_name.split("/", 1)[1].removeprefix("avrr-setup-").removeprefix("avrr-")
    return name.removesuffix("-api").removesuffix("-worker")


def find_go_tool(name: str) -> str | None:
    """A tool scripts/go_tool.sh builds: $AVRR_<NAME> if set (only it), else the AVRR
    cache's build, else the PATH's; None without one."""
    explicit = os.environ.get(f"AVRR_{name.upper()}")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    cache = Path(os.environ.get("AVRR_CACHE_DIR", Path.home() / ".cache/avrr"))
    cached = cache / "bin" / name
    if os.access(cached, os.X_OK):
        return str(cached)
    return shutil.which(name)


@pytest.fixture(scope="module")
def helm() -> str:
    found = find_go_tool("helm")
    if found is None:
        message = "helm is not available (run scripts/helm.sh, or set AVRR_HELM)"
        if infra_required():
            pytest.fail(f"AVRR_REQUIRE_INFRA=1: {message}", pytrace=False)
        pytest.skip(message)
    return found


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm, *args], capture_output=True, text=True, timeout=120, cwd=CHART, check=False
    )


def value_args(files: tuple[str, ...], overrides: tuple[str, ...] = ()) -> list[str]:
    args: list[str] = []
    for name in files:
        args += ["-f", str(CHART / name)]
    for override in overrides:
        args += ["--set", override]
    return args


def render(helm: str, files: tuple[str, ...], *overrides: str) -> list[dict[str, Any]]:
    done = run_helm(
        helm,
        "template",
        "avrr",
        str(CHART),
        "--namespace",
        "avrr",
        "--kube-version",
        RENDER_KUBE_VERSION,
        *value_args(files, overrides),
    )
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def render_error(helm: str, files: tuple[str, ...], *overrides: str) -> str:
    done = run_helm(
        helm,
        "template",
        "avrr",
        str(CHART),
        "--kube-version",
        RENDER_KUBE_VERSION,
        *value_args(files, overrides),
    )
    assert done.returncode != 0, "rendering should have failed"
    return done.stderr


def of_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def pod_specs(manifests: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for m in manifests:
        if m["kind"] in ("Deployment", "Job"):
            yield f"{m['kind']}/{m['metadata']['name']}", m["spec"]["template"]["spec"]


@pytest.fixture(scope="module", params=sorted(VALUES))
def values_set(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def manifests(helm: str, values_set: str) -> list[dict[str, Any]]:
    return render(helm, VALUES[values_set])


# ------------------------------------------------------------ lint + schemas --


def test_helm_lint(helm: str, values_set: str) -> None:
    done = run_helm(
        helm,
        "lint",
        str(CHART),
        "--strict",
        "--kube-version",
        RENDER_KUBE_VERSION,
        *value_args(VALUES[values_set]),
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_every_manifest_is_valid_kubernetes(
    manifests: list[dict[str, Any]], kube_version: str
) -> None:
    assert manifests
    for manifest in manifests:
        name = f"{manifest['kind']}/{manifest['metadata']['name']}"
        if manifest["kind"] in CUSTOM_KINDS:
            assert manifest["apiVersion"] == CUSTOM_KINDS[manifest["kind"]], name
            continue
        try:
            kubernetes_validate.validate(manifest, kube_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name} (Kubernetes {kube_version}): {error.message} at {error.path}")


def test_the_schema_validation_catches_mistakes() -> None:
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"replicas": "three", "selector": {}, "template": {}},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBE_VERSIONS[-1], strict=True)


# ---------------------------------------------------------------- contents --


def test_one_service_and_setup_job_per_service_and_deployments_per_topology(
    manifests: list[dict[str, Any]], values_set: str
) -> None:
    deployments = of_kind(manifests, "Deployment")
    # values.yaml: combined (one Deployment per service); production: split.
    units = ("",) if values_set == "default" else ("-api", "-worker")
    assert set(deployments) == {f"avrr-{s}{u}" for s in SERVICES for u in units}
    assert set(of_kind(manifests, "Service")) == {f"avrr-{s}" for s in SERVICES}
    assert set(of_kind(manifests, "Job")) == {f"avrr-setup-{s}" for s in SERVICES}
    assert set(of_kind(manifests, "NetworkPolicy")) == {*deployments, "avrr-setup"}
    assert len(of_kind(manifests, "ServiceAccount")) == 1
    assert len(of_kind(manifests, "ConfigMap")) == 1
    for name, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        service = service_of(f"Deployment/{name}")
        role = name.rsplit("-", 1)[-1]
        assert container["args"] == (
            [service] if values_set == "default" else [service, "--role", role]
        )
        assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    if values_set == "production":
        apis = {n for n in deployments if n.endswith("-api")}
        assert set(of_kind(manifests, "HorizontalPodAutoscaler")) == apis
        assert set(of_kind(manifests, "PodDisruptionBudget")) == set(deployments)
        assert set(of_kind(manifests, "ExternalSecret")) == {"avrr"}
        assert not of_kind(manifests, "Secret"), "production credentials come from outside"
        for name, deployment in deployments.items():
            if name in apis:
                assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
            else:
                assert deployment["spec"]["replicas"] == 3, name
    else:
        assert not of_kind(manifests, "HorizontalPodAutoscaler")
        assert not of_kind(manifests, "PodDisruptionBudget")
        assert set(of_kind(manifests, "Secret")) == {"avrr"}


def test_pods_are_locked_down(manifests: list[dict[str, Any]]) -> None:
    for name, spec in pod_specs(manifests):
        assert spec["automountServiceAccountToken"] is False, name
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True, name
        assert pod_security["runAsUser"] == 10001, name
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name
            assert container["resources"]["requests"]["memory"], name
            assert container["resources"]["limits"]["memory"], name


def test_probes_use_the_health_endpoints(manifests: list[dict[str, Any]]) -> None:
    for deployment in of_kind(manifests, "Deployment").values():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
        assert container["startupProbe"]["httpGet"]["path"] == "/health/ready"


def test_setup_jobs_run_before_install_and_upgrade(manifests: list[dict[str, Any]]) -> None:
    def weight(manifest: dict[str, Any]) -> int:
        return int(manifest["metadata"]["annotations"]["helm.sh/hook-weight"])

    jobs = of_kind(manifests, "Job")
    hooks_they_need = [
        m
        for m in manifests
        if m["kind"] in ("ConfigMap", "Secret", "ExternalSecret")
        or m["metadata"]["name"] == "avrr-setup"
    ]
    assert hooks_they_need
    for name, job in jobs.items():
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
        spec = job["spec"]["template"]["spec"]
        assert spec["restartPolicy"] == "Never"
        service = name.removeprefix("avrr-setup-")
        assert spec["containers"][0]["command"] == ["python", "-m", "avrr_events.setup", service]
        for needed in hooks_they_need:
            assert needed["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
            assert weight(needed) < weight(job)


def test_setup_pods_are_never_behind_a_service(manifests: list[dict[str, Any]]) -> None:
    for job in of_kind(manifests, "Job").values():
        labels = job["spec"]["template"]["metadata"]["labels"]
        for service in of_kind(manifests, "Service").values():
            selector = service["spec"]["selector"]
            assert not selector.items() <= labels.items(), service["metadata"]["name"]


def test_every_setting_is_one_the_code_reads(manifests: list[dict[str, Any]]) -> None:
    """ConfigMap keys and env names must be variables the image actually reads."""
    from pydantic_settings import BaseSettings

    import avrr_eligibility.settings
    import avrr_intake.settings

    models: list[type[BaseSettings]] = [SetupSettings]
    for module in (avrr_intake.settings, avrr_eligibility.settings):  # services' own settings
        models += [
            m
            for m in vars(module).values()
            if isinstance(m, type) and issubclass(m, BaseSettings) and m is not BaseSettings
        ]
    known = {
        alias
        for model in models
        for field in model.model_fields.values()
        for alias in getattr(field.validation_alias, "choices", ())
        if isinstance(alias, str) and alias.isupper()
    }
    known |= {"AVRR_HOST", "AVRR_PORT", "AVRR_LOG_LEVEL"}  # avrr_events.serve
    known |= {  # avrr_events.adapters.kafka.kafka_client_options
        "KAFKA_SECURITY_PROTOCOL",
        "KAFKA_SASL_MECHANISM",
        "KAFKA_SASL_USERNAME",
        "KAFKA_SASL_PASSWORD",
        "KAFKA_SSL_CAFILE",
    }
    (config,) = of_kind(manifests, "ConfigMap").values()
    names = set(config["data"])
    for _name, spec in pod_specs(manifests):
        names |= {e["name"] for e in spec["containers"][0]["env"]}
    unknown = {n for n in names - known if not n.startswith("OTEL_")}
    assert unknown == set()


def test_credentials_come_from_the_secret(manifests: list[dict[str, Any]]) -> None:
    for name, spec in pod_specs(manifests):
        env = {e["name"]: e for e in spec["containers"][0]["env"]}
        service = service_of(name)
        for variable in ("DATABASE_URL", "AVRR_MASTER_KEY", "AVRR_KEYSTORE_URL"):
            assert "value" not in env[variable], f"{name}: {variable} in plain text"
        assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"] == (
            f"DATABASE_URL_{service.upper()}"
        )


def test_production_kafka_is_sasl_ssl(helm: str) -> None:
    manifests = render(helm, VALUES["production"])
    (config,) = of_kind(manifests, "ConfigMap").values()
    assert config["data"]["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["data"]["AVRR_TOPIC_REPLICATION_FACTOR"] == "3"
    assert config["data"]["AVRR_DEV"] == "0"
    (external,) = of_kind(manifests, "ExternalSecret").values()
    assert external["spec"]["target"]["name"] == "avrr-credentials"
    remote_keys = {d["secretKey"] for d in external["spec"]["data"]}
    for _name, spec in pod_specs(manifests):
        env = {e["name"]: e for e in spec["containers"][0]["env"]}
        assert env["KAFKA_SSL_CAFILE"]["value"] == "/etc/avrr/kafka-ca/ca.crt"
        for e in env.values():
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == "avrr-credentials"
                assert ref["key"] in remote_keys, f"ExternalSecret does not write {ref['key']}"
        # Each service authenticates as its own principal (its ACLs), never a shared one.
        service = service_of(_name)
        assert env["KAFKA_SASL_USERNAME"]["valueFrom"]["secretKeyRef"]["key"] == (
            f"KAFKA_SASL_USERNAME_{service.upper()}"
        )
        assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == (
            f"KAFKA_SASL_PASSWORD_{service.upper()}"
        )


def test_a_given_master_key_is_used_and_a_bad_one_refused(helm: str) -> None:
    key = base64.b64encode(bytes(range(32))).decode()
    (secret,) = of_kind(render(helm, (), f"secrets.masterKey={key}"), "Secret").values()
    assert secret["stringData"]["AVRR_MASTER_KEY"] == key

    generated = of_kind(render(helm, ()), "Secret")["avrr"]["stringData"]["AVRR_MASTER_KEY"]
    assert len(base64.b64decode(generated)) == 32

    short = base64.b64encode(b"too short").decode()
    assert "exactly 32 bytes" in render_error(helm, (), f"secrets.masterKey={short}")


def test_values_that_the_image_cannot_honour_are_refused(helm: str) -> None:
    assert "must be one of 'combined', 'split'" in render_error(helm, (), "topology=sideways")
    assert "additional properties 'replica'" in render_error(
        helm, (), "serviceDefaults.worker.replica=2"
    )
    assert "kafka.sasl.principals.eligibility.password is required" in render_error(
        helm, (), "kafka.securityProtocol=SASL_SSL"
    )
    assert "additional properties 'billing'" in render_error(helm, (), "services.billing.x=1")
    assert "set secrets.existingSecret" in render_error(helm, (), "secrets.create=false")
    assert "needs secrets.existingSecret" in render_error(
        helm, (), "externalSecrets.enabled=true", "externalSecrets.secretStoreRef.name=vault"
    )


def test_combined_runs_every_role_in_one_deployment_with_its_selector_unchanged(
    helm: str,
) -> None:
    manifests = render(helm, ())
    for name, deployment in of_kind(manifests, "Deployment").items():
        service = name.removeprefix("avrr-")
        # The selector of releases installed before split existed (it is immutable).
        assert deployment["spec"]["selector"]["matchLabels"] == {
            "app.kubernetes.io/name": "avrr",
            "app.kubernetes.io/instance": "avrr",
            "app.kubernetes.io/component": service,
        }
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == [service], "no --role: the image's default, all"
    for kube_service in of_kind(manifests, "Service").values():
        assert ROLE not in kube_service["spec"]["selector"]


def test_split_runs_an_api_and_a_worker_deployment_per_service(helm: str) -> None:
    manifests = render(
        helm,
        (),
        "topology=split",
        "serviceDefaults.autoscaling.enabled=true",
        "serviceDefaults.podDisruptionBudget.enabled=true",
        "serviceDefaults.worker.replicas=4",
        "services.intake.worker.resources.limits.memory=2Gi",
    )
    deployments = of_kind(manifests, "Deployment")
    policies = of_kind(manifests, "NetworkPolicy")
    kafka_ports = {9092, 9093, 9094}
    for service in SERVICES:
        api, worker = deployments[f"avrr-{service}-api"], deployments[f"avrr-{service}-worker"]
        for deployment, role in ((api, "api"), (worker, "worker")):
            labels = deployment["spec"]["selector"]["matchLabels"]
            assert labels[ROLE] == role
            assert labels.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            assert container["args"] == [service, "--role", role]
            assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
            assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        # The Service sends REST traffic to the API pods only.
        selector = of_kind(manifests, "Service")[f"avrr-{service}"]["spec"]["selector"]
        assert selector[ROLE] == "api"
        # API replicas follow the HPA; workers keep their own count.
        assert "replicas" not in api["spec"]
        assert worker["spec"]["replicas"] == 4
        hpa = of_kind(manifests, "HorizontalPodAutoscaler")
        assert hpa[f"avrr-{service}-api"]["spec"]["scaleTargetRef"]["name"] == f"avrr-{service}-api"
        assert f"avrr-{service}-worker" not in hpa
        pdbs = of_kind(manifests, "PodDisruptionBudget")
        for role in ("api", "worker"):
            assert pdbs[f"avrr-{service}-{role}"]["spec"]["selector"]["matchLabels"][ROLE] == role

        # Workers need Kafka and PostgreSQL out; the API needs no Kafka.
        def egress_ports(role: str, service: str = service) -> set[int]:
            spec = policies[f"avrr-{service}-{role}"]["spec"]
            return {port["port"] for rule in spec["egress"] for port in rule["ports"]}

        assert kafka_ports | {5432} <= egress_ports("worker")
        assert 5432 in egress_ports("api") and not kafka_ports & egress_ports("api")
        assert policies[f"avrr-{service}-worker"]["spec"]["podSelector"]["matchLabels"][ROLE] == (
            "worker"
        )
    memory = deployments["avrr-intake-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert memory["resources"]["limits"]["memory"] == "2Gi"
    other = deployments["avrr-intake-api"]["spec"]["template"]["spec"]["containers"][0]
    assert other["resources"]["limits"]["memory"] == "512Mi"


def test_split_workers_take_ingress_only_from_the_metrics_scrapers(helm: str) -> None:
    scraper = "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring"
    gateway = "networkPolicy.ingressFrom[0].namespaceSelector.matchLabels.name=gateway"
    policies = of_kind(render(helm, (), "topology=split", scraper, gateway), "NetworkPolicy")
    monitoring = [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]
    gateways = [{"namespaceSelector": {"matchLabels": {"name": "gateway"}}}]
    worker = [rule["from"] for rule in policies["avrr-intake-worker"]["spec"]["ingress"]]
    assert worker == [monitoring]
    api = [rule["from"] for rule in policies["avrr-intake-api"]["spec"]["ingress"]]
    assert api == [gateways, monitoring]


def test_an_existing_secret_replaces_the_charts_own(helm: str) -> None:
    manifests = render(helm, (), "secrets.create=false", "secrets.existingSecret=mine")
    assert not of_kind(manifests, "Secret")
    for _name, spec in pod_specs(manifests):
        refs = [
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in spec["containers"][0]["env"]
            if "valueFrom" in e
        ]
        assert refs and set(refs) == {"mine"}


def test_a_disabled_service_renders_nothing(helm: str) -> None:
    manifests = render(helm, (), "services.travel.enabled=false")
    assert not [m for m in manifests if m["metadata"]["name"].endswith("-travel")]
    (secret,) = of_kind(manifests, "Secret").values()
    assert "DATABASE_URL_TRAVEL" not in secret["stringData"]


# -------------------------------------------------------------------- docs --


def leaf_paths(values: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from leaf_paths(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix


def test_the_readme_documents_every_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text("utf-8"))
    readme = (CHART / "README.md").read_text("utf-8")

    def documented(path: str) -> bool:
        parts = path.split(".")
        # a row of the values table for the key or one of its parents
        return any(f"| `{'.'.join(parts[:n])}` |" in readme for n in range(1, len(parts) + 1))

    # per-service keys are documented once, as services.<name>.*
    missing = [p for p in leaf_paths(values) if not p.startswith("services.")]
    assert [p for p in missing if not documented(p)] == []
    for key in ("enabled", "databaseUrl"):
        assert f"| `services.<name>.{key}` |" in readme


def test_intake_gets_its_duplicate_secret_from_the_secret_in_both_value_files(helm: str) -> None:
    """Intake refuses to start without AVRR_INTAKE_DUPLICATE_SECRET outside development:
    the chart supplies it from the Secret (generated once, or the ExternalSecret's)."""
    for values in (VALUES["default"], VALUES["production"]):
        manifests = render(helm, values)
        intake = [spec for name, spec in pod_specs(manifests) if service_of(name) == "intake"]
        assert intake
        for spec in intake:
            env = {e["name"]: e for e in spec["containers"][0]["env"]}
            ref = env["AVRR_INTAKE_DUPLICATE_SECRET"]["valueFrom"]["secretKeyRef"]
            assert ref["key"] == "AVRR_INTAKE_DUPLICATE_SECRET"
    generated = of_kind(render(helm, ()), "Secret")["avrr"]["stringData"]
    assert len(generated["AVRR_INTAKE_DUPLICATE_SECRET"]) >= 32
    given = "d" * 40
    secret = of_kind(
        render(helm, (), f"secrets.values.AVRR_INTAKE_DUPLICATE_SECRET={given}"), "Secret"
    )["avrr"]["stringData"]
    assert secret["AVRR_INTAKE_DUPLICATE_SECRET"] == given


def test_header_authentication_cannot_be_deployed(helm: str) -> None:
    """The services refuse it on PostgreSQL; the chart refuses to render it at all."""
    for values in (VALUES["default"], VALUES["production"]):
        assert "/config/dev': value must be false" in render_error(helm, values, "config.dev=true")
        assert "/config/devAuth" in render_error(helm, values, "config.devAuth=true")


GATEWAY = (
    "ingress.enabled=true",
    "ingress.host=avrr.example.org",
    "ingress.tlsSecret=avrr-tls",
    "httpRoute.enabled=true",
    "httpRoute.parentRefs[0].name=public-gateway",
    "httpRoute.hostnames[0]=avrr.example.org",
    "config.corsOrigins[0]=https://caseworker.example.org",
)


@pytest.mark.parametrize("values", sorted(VALUES))
def test_frontends_reach_each_api_under_its_path_with_tls(helm: str, values: str) -> None:
    manifests = render(helm, VALUES[values], *GATEWAY)
    services = set(of_kind(manifests, "Service"))
    (ingress,) = of_kind(manifests, "Ingress").values()
    for version in KUBE_VERSIONS:
        kubernetes_validate.validate(ingress, version, strict=True)
    assert ingress["spec"]["tls"] == [{"hosts": ["avrr.example.org"], "secretName": "avrr-tls"}]
    (rule,) = ingress["spec"]["rules"]
    paths = {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
    assert paths == {
        f"/{s}": f"avrr-{s}" for s in ("intake", "eligibility", "travel", "reintegration")
    }
    assert set(paths.values()) <= services
    (route,) = of_kind(manifests, "HTTPRoute").values()
    routed = {
        r["matches"][0]["path"]["value"]: r["backendRefs"][0]["name"]
        for r in route["spec"]["rules"]
    }
    assert routed == paths
    # Each pod answers under its own path (so no rewrite is needed) and keeps its
    # probes and metrics off it (libs/events/tests/test_gateway_exposure.py).
    for name, spec in pod_specs(manifests):
        env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
        assert env["AVRR_PATH_PREFIX"] == f"/{service_of(name)}"
    (config,) = of_kind(manifests, "ConfigMap").values()
    assert config["data"]["AVRR_CORS_ORIGINS"] == "https://caseworker.example.org"


def test_no_cross_origin_calls_and_no_gateway_unless_asked(helm: str) -> None:
    manifests = render(helm, ())
    (config,) = of_kind(manifests, "ConfigMap").values()
    assert "AVRR_CORS_ORIGINS" not in config["data"]
    assert not of_kind(manifests, "Ingress") and not of_kind(manifests, "HTTPRoute")
    assert "ingress.tlsSecret is required" in render_error(
        helm, (), "ingress.enabled=true", "ingress.host=avrr.example.org"
    )
