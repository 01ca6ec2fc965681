"""The chart's PrometheusRule, checked by Prometheus' own promtool.

``promtool check rules`` parses every expression and template of the rule
groups rendered from the chart (values-production.yaml, monitoring on);
``promtool test rules`` then evaluates each alert on input series named and
labelled exactly as the services export them (taken from the /metrics of the
four services running on the embedded default, as test_monitoring.py does):
each alert fires once its series is past the threshold for the rule's
``for``, stays quiet at the threshold, and renders its summary.

promtool comes from ``$AVRR_PROMTOOL``, else ``$AVRR_CACHE_DIR/bin/promtool``
(built by ``scripts/promtool.sh`` from the Go module proxy; ``make promtool``),
else the PATH. Its build is slow (see scripts/promtool.sh), so without it this
test is skipped, even under ``AVRR_REQUIRE_INFRA=1``, unless
``AVRR_REQUIRE_PROMTOOL=1``; test_monitoring.py checks the series names either way.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from test_helm_chart import (  # type: ignore[import-not-found]
    VALUES,
    find_go_tool,
    helm,
    of_kind,
    render,
)
from test_monitoring import ENABLED  # type: ignore[import-not-found]

from avrr_events.web.embedded import build_app

__all__ = ["helm"]  # the chart tests' fixture, used here

_SAMPLE = re.compile(r"^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? \S+$", re.MULTILINE)
_LABEL = re.compile(r'([a-z_][a-z0-9_]*)="((?:[^"\\]|\\.)*)"')
SERVICE = "intake"
# Prometheus' own series about a scrape; the Operator's PodMonitor names the job namespace/name.
UP_LABELS = {"job": "avrr/avrr", "namespace": "avrr", "pod": "avrr-intake-worker-7c9d-x2x4k"}


@pytest.fixture(scope="module")
def promtool() -> str:
    found: str | None = find_go_tool("promtool")
    if found is None:
        message = "promtool is not built (make promtool, or set AVRR_PROMTOOL)"
        if os.environ.get("AVRR_REQUIRE_PROMTOOL") == "1":
            pytest.fail(f"AVRR_REQUIRE_PROMTOOL=1: {message}", pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
async def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[tuple[str, ...]]]:
    """Series name -> the label names of its samples, as the four services expose them.

    A family with no sample yet (no dead letter, no lag on the in-process
    bus) shows no labels in the exposition; its label names come from the
    collector's family instead, the same object the exposition is written from.
    """
    app = build_app(tmp_path_factory.mktemp("metrics"))
    labels: dict[str, set[tuple[str, ...]]] = {}
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://embedded") as client,
    ):
        for service, runtime in app.state.runtimes.items():
            text = (await client.get(f"/{service}/metrics")).text
            for name, body in _SAMPLE.findall(text):
                labels.setdefault(name, set()).add(
                    tuple(sorted(k for k, _ in _LABEL.findall(body or "")))
                )
            for family in runtime.metrics.registry.collect():
                names = tuple(sorted(getattr(family, "_labelnames", ())))
                if not family.samples and names:
                    suffix = "_total" if family.type == "counter" else ""
                    labels.setdefault(family.name + suffix, set()).add(names)
    assert labels, "no series exported"
    return labels


def selector(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def humanize_duration(seconds: float) -> str:
    """Prometheus' humanizeDuration template function, for the values used here."""
    if seconds < 1:
        return f"{seconds:.4g}s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m {secs}s"
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def expand(template: str, labels: dict[str, str], value: float | None) -> str:
    """The alert's annotation as Prometheus renders it (the three forms the rule uses)."""

    def number(v: float | None) -> str:
        assert v is not None, f"{template!r} shows a value this case does not fix"
        return str(int(v)) if float(v).is_integer() else repr(v)

    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], template)
    text = text.replace("{{ $value | humanizeDuration }}", humanize_duration(value or 0.0))
    if "{{ $value }}" in text:
        text = text.replace("{{ $value }}", number(value))
    assert "{{" not in text, f"a template form this test does not know: {template!r}"
    return text


@dataclass
class Case:
    """One alert: the series it reads, their values at and past the threshold."""

    alert: str
    quiet: list[tuple[str, dict[str, str], str]]  # (series, labels, promtool values)
    firing: list[tuple[str, dict[str, str], str]]
    labels: dict[str, str]  # the alert's labels besides alertname and severity
    value: float | None = None  # the expression's value while firing, where shown
    eval_at: list[int] = field(default_factory=list)  # minutes: quiet before, firing at the last


def minutes(duration: str) -> int:
    """A rule's ``for`` in whole minutes (rounded up): 10m, 1h, 90s."""
    number, unit = int(duration[:-1]), duration[-1]
    return {"s": -(-number // 60), "m": number, "h": number * 60}[unit]


def cases(rules: dict[str, dict[str, Any]]) -> list[Case]:
    """At and past each threshold, read from the rendered expressions."""

    def threshold(alert: str) -> int:
        match = re.search(r"(?:>|==) (\d+)$", rules[alert]["expr"])
        assert match, rules[alert]["expr"]
        return int(match.group(1))

    def hold(alert: str) -> int:
        return minutes(rules[alert].get("for", "0s"))

    service = {"service": SERVICE}
    built: list[Case] = []
    for alert, series in (
        ("AvrrOutboxStuck", "avrr_outbox_oldest_age_seconds"),
        ("AvrrOutboxBacklog", "avrr_outbox_backlog"),
        ("AvrrOutboxRecordsSetAside", "avrr_outbox_set_aside"),
    ):
        n = threshold(alert)
        built.append(
            Case(
                alert,
                quiet=[(series, service, f"{n}x90")],
                firing=[(series, service, f"{n + 1}x90")],
                labels=service,
                value=n + 1,
            )
        )
    n = threshold("AvrrConsumerLag")  # summed over the partitions
    partitions = [
        {"service": SERVICE, "topic": "avrr.eligibility.events", "partition": str(p)}
        for p in (0, 1)
    ]
    built.append(
        Case(
            "AvrrConsumerLag",
            quiet=[
                ("avrr_consumer_lag", partitions[0], f"{n // 2}x90"),
                ("avrr_consumer_lag", partitions[1], f"{n - n // 2}x90"),
            ],
            firing=[
                ("avrr_consumer_lag", partitions[0], f"{n // 2}x90"),
                ("avrr_consumer_lag", partitions[1], f"{n - n // 2 + 1}x90"),
            ],
            labels=service,
            value=n + 1,
        )
    )
    for alert, series, extra in (
        ("AvrrDeadLetters", "avrr_dead_letters_total", {"reason": "handler_failed"}),
        ("AvrrJobFailing", "avrr_job_failures_total", {"job": "retention"}),
        ("AvrrPublicRecordsWithheld", "avrr_public_withheld_total", {}),
        ("AvrrPublicRecordsUnrenderable", "avrr_public_unrenderable_total", {}),
    ):
        n = threshold(alert) if re.search(r"> \d+$", rules[alert]["expr"]) else 0
        labels = {**service, **extra}
        # a counter: flat at 7, or a step below / past the threshold at minute 10
        below = f"7x10 {7 + n // 2}x80"
        built.append(
            Case(
                alert,
                quiet=[(series, labels, below)],
                firing=[(series, labels, f"7x10 {7 + n + 1}x80")],
                labels=labels,
            )
        )
    built.append(
        Case(
            "AvrrNotScraped",
            quiet=[("up", UP_LABELS, "1x90")],
            firing=[("up", UP_LABELS, "0x90")],
            labels=UP_LABELS,
            value=0,
        )
    )
    for case in built:
        counter = case.firing[0][0].endswith("_total")
        start = 11 if counter else 0  # the step of a counter is at minute 10
        held = hold(case.alert)
        case.eval_at = [start + held - 1, start + held + 1] if held else [start + 1]
    return built


def unit_tests(rules: dict[str, dict[str, Any]], rule_file: str) -> dict[str, Any]:
    tests = []
    for case in cases(rules):
        rule = rules[case.alert]
        expected = {
            "exp_labels": {**case.labels, **rule["labels"]},
            "exp_annotations": {
                k: expand(v, {**case.labels, **rule["labels"]}, case.value)
                for k, v in rule.get("annotations", {}).items()
            },
        }
        for kind, series in (("quiet", case.quiet), ("firing", case.firing)):
            checks: list[dict[str, Any]] = [
                {"eval_time": f"{t}m", "alertname": case.alert, "exp_alerts": []}
                for t in case.eval_at[:-1]
            ]
            checks.append(
                {
                    "eval_time": f"{case.eval_at[-1]}m",
                    "alertname": case.alert,
                    "exp_alerts": [expected] if kind == "firing" else [],
                }
            )
            if kind == "quiet":  # and quiet long after, too
                checks.append({"eval_time": "80m", "alertname": case.alert, "exp_alerts": []})
            tests.append(
                {
                    "name": f"{case.alert} {kind}",
                    "interval": "1m",
                    "input_series": [
                        {"series": selector(name, labels), "values": values}
                        for name, labels, values in series
                    ],
                    "alert_rule_test": checks,
                }
            )
    return {"rule_files": [rule_file], "evaluation_interval": "1m", "tests": tests}


def run_promtool(promtool: str, *args: str, cwd: Path) -> str:
    done = subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_rules_pass_promtool_on_the_series_the_services_export(
    helm: str, promtool: str, exported: dict[str, set[tuple[str, ...]]], tmp_path: Path
) -> None:
    (rule,) = of_kind(render(helm, VALUES["production"], *ENABLED), "PrometheusRule").values()
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    assert "SUCCESS" in run_promtool(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)

    rules = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    built = cases(rules)
    assert {c.alert for c in built} == set(rules), "an alert without a promtool case"
    # every input series is named and labelled as a service exports it (up: Prometheus')
    for case in built:
        for name, labels, _ in [*case.quiet, *case.firing]:
            if name == "up":
                continue
            assert name in exported, f"{case.alert}: no service exports {name}"
            assert tuple(sorted(labels)) in exported[name], (
                f"{case.alert}: {name} is exported with labels {exported[name]}, "
                f"not {sorted(labels)}"
            )
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(unit_tests(rules, "rules.yaml")))
    out = run_promtool(promtool, "test", "rules", "tests.yaml", cwd=tmp_path)
    assert "SUCCESS" in out, out
