"""The chart's alerts and dashboard watch series the services really export.

A PrometheusRule whose expression names a metric that no service exports
never fires; a renamed metric would silence an alert without anyone
noticing. The rules and the dashboard are rendered from the chart and every
metric they name is looked up in the /metrics of all four services, running
on the embedded default (their metric families are declared whether or not
they have samples yet).
"""

from __future__ import annotations

import json
import re

import httpx
import pytest

# Beside this file (pytest puts tests/deploy on the path; mypy sees it as deploy.*).
from test_helm_chart import CHART, VALUES, helm, of_kind, render  # type: ignore[import-not-found]

from avrr_events.web.embedded import build_app

__all__ = ["helm"]  # the chart tests' fixture, used here

ENABLED = (
    "monitoring.serviceMonitor.enabled=true",
    "monitoring.prometheusRule.enabled=true",
    "monitoring.grafanaDashboard.enabled=true",
)
# Series Prometheus makes itself (the scrape's own health), not the services.
PROMETHEUS_OWN = {"up"}
_FAMILY = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)
_METRIC = re.compile(r"\b(avrr_[a-z0-9_]+|up)\b")


@pytest.fixture(scope="module")
async def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every series name the four services expose on /metrics."""
    app = build_app(tmp_path_factory.mktemp("metrics"))
    names: set[str] = set()
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://embedded") as client,
    ):
        for service in app.state.runtimes:
            text = (await client.get(f"/{service}/metrics")).text
            for family, kind in _FAMILY.findall(text):
                names.add(family)
                if kind == "counter":
                    names.add(f"{family}_total")
                if kind == "histogram":
                    names |= {f"{family}_bucket", f"{family}_sum", f"{family}_count"}
    assert names, "no metric families exported"
    return names


def named(expr: str) -> set[str]:
    return set(_METRIC.findall(expr))


@pytest.mark.parametrize("values", sorted(VALUES))
def test_the_monitoring_manifests_render(helm: str, values: str) -> None:
    manifests = render(helm, VALUES[values], *ENABLED)
    assert of_kind(manifests, "ServiceMonitor") and of_kind(manifests, "PodMonitor")
    (rule,) = of_kind(manifests, "PrometheusRule").values()
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    # What must wake someone (issue 16): outbox age and backlog, lag, dead letters,
    # job failures, public records withheld, readiness.
    for wanted in (
        "AvrrOutboxStuck",
        "AvrrOutboxBacklog",
        "AvrrConsumerLag",
        "AvrrDeadLetters",
        "AvrrJobFailing",
        "AvrrPublicRecordsWithheld",
        "AvrrNotScraped",
    ):
        assert wanted in alerts
    (dashboard,) = of_kind(manifests, "ConfigMap")["avrr-dashboard"]["data"].values()
    assert json.loads(dashboard)["panels"]
    # Off by default: a cluster without the operator's CRDs installs the chart as before.
    plain = render(helm, VALUES[values])
    assert not of_kind(plain, "PrometheusRule") and not of_kind(plain, "ServiceMonitor")


def test_every_alert_and_panel_names_a_series_the_services_export(
    helm: str, exported: set[str]
) -> None:
    manifests = render(helm, VALUES["production"], *ENABLED)
    (rule,) = of_kind(manifests, "PrometheusRule").values()
    expressions = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    dashboard = json.loads((CHART / "dashboards" / "avrr.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expressions[f"panel {panel['title']}"] = target["expr"]
    unknown = {
        where: sorted(named(expr) - exported - PROMETHEUS_OWN)
        for where, expr in expressions.items()
        if named(expr) - exported - PROMETHEUS_OWN
    }
    assert not unknown, f"series no service exports: {unknown}"
    assert all(named(expr) for expr in expressions.values())


def test_thresholds_come_from_values(helm: str) -> None:
    manifests = render(
        helm, (), *ENABLED, "monitoring.prometheusRule.thresholds.outboxOldestAgeSeconds=42"
    )
    (rule,) = of_kind(manifests, "PrometheusRule").values()
    stuck = next(
        r for g in rule["spec"]["groups"] for r in g["rules"] if r["alert"] == "AvrrOutboxStuck"
    )
    assert stuck["expr"].endswith("> 42")
