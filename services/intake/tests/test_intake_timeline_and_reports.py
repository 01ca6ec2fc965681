"""The case timeline, time travel and the situational reports, fed by every service's events.

Generated histories (generated_cases.py) are published on the four topics the
way the services publish them; the report numbers are then checked against
counts computed straight from the generated plan. The big run uses the
embedded runtime (SQLite + in-process bus) for speed; a smaller one runs on
real Kafka and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from generated_cases import (
    MANAGER,
    envelope,
    expected_returns,
    generate,
    published,
    published_in_process,
    reports_match_the_plan,
)
from intake_fixtures import CASEWORKER, PRINCIPAL_NAME, Intake, consent

from avrr_events import ProjectionRunner
from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.settings import ServiceSettings
from avrr_events.testing import eventually
from avrr_events.web.embedded import build_app
from avrr_events.web.service import ServiceRuntime
from avrr_intake import reports, timeline
from avrr_intake.demo import DEMO_CASES, Demo
from avrr_intake.events import registry
from avrr_intake.main import service


async def test_reports_over_three_hundred_generated_cases_match_independent_counts(
    embedded: tuple[Intake, InProcessBus],
) -> None:
    intake, bus = embedded
    cases = generate(300)
    await published_in_process(intake.runtime, bus, cases)
    await reports_match_the_plan(intake.http, cases, {})

    # The same numbers as CSV, by Accept header and by ?format=csv.
    by_accept = await intake.http.get("/reports/returns", headers={**MANAGER, "Accept": "text/csv"})
    assert by_accept.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(by_accept.text)))
    origin = {r["value"]: int(r["cases"]) for r in rows if r["dimension"] == "origin_country"}
    assert origin == {k: v[0] for k, v in expected_returns(cases)["origin_country"].items()}
    by_param = await intake.http.get("/reports/assistance?format=csv", headers=MANAGER)
    assert by_param.text.splitlines()[0] == "programme_id,kind,currency,disbursements,total"
    phases_csv = await intake.http.get("/reports/phases", params={"format": "csv"})
    assert len(phases_csv.text.splitlines()) == 1 + len(timeline.PHASES)

    # The chart: a self-contained SVG with a bar per month and per country of origin.
    chart = await intake.http.get("/reports/returns.svg", headers=MANAGER)
    assert chart.headers["content-type"].startswith("image/svg+xml")
    assert chart.text.startswith("<svg") and "http://fonts" not in chart.text
    ElementTree.fromstring(chart.text)  # well-formed XML, so any viewer renders it
    returned = [c for c in cases if c.returned]
    months = {c.arrived_at.strftime("%Y-%m") for c in returned if c.arrived_at}
    origins = {c.origin for c in returned}
    assert chart.text.count("<rect x=") == len(months) + len(origins)

    # One office's view counts only that office's cases.
    office = await intake.http.get("/reports/phases?office=PT-LIS", headers=MANAGER)
    assert office.json()["total"] == sum(1 for c in cases if c.office == "PT-LIS")


async def test_rebuilding_the_report_tables_from_the_journal_gives_the_same_numbers(
    embedded: tuple[Intake, InProcessBus],
) -> None:
    intake, bus = embedded
    cases = generate(60, seed=11)
    records = await published_in_process(intake.runtime, bus, cases)
    runner = ProjectionRunner(intake.runtime.db, registry, intake.runtime.group)
    for projection in intake.runtime.projections:
        if isinstance(projection, reports.SituationalReports | timeline.CaseTimeline):
            assert await runner.rebuild(projection) == records
    await reports_match_the_plan(intake.http, cases, {})


async def test_reports_on_kafka_and_postgresql_match_independent_counts(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    cases = generate(40, seed=3, prefix="kafka")
    await published(intake.runtime, kafka_settings, cases)
    await reports_match_the_plan(intake.http, cases, {})


async def _publish(bus: InProcessBus, runtime: ServiceRuntime, events: list[Any]) -> None:
    """Publish other services' events (built by generated_cases' envelope helper)."""
    await bus.publisher().publish(
        [e.to_message(runtime.settings.topic(e.source.rsplit("/", 1)[-1])) for e in events]
    )


async def test_the_timeline_shows_every_service_in_event_time_order_without_personal_data(
    embedded: tuple[Intake, InProcessBus],
) -> None:
    intake, bus = embedded
    created = await intake.open_case()
    case_id = created["case_id"]
    mother, child = intake.person(created, "principal"), intake.person(created, "child")
    for person, extra in ((mother, {}), (child, {"representative_person_id": mother})):
        body = consent(person, **extra)
        if extra:
            body["given_by"] = "guardian"
        r = await intake.http.post(f"/cases/{case_id}/consents", json=body)
        assert r.status_code == 201, r.text
    r = await intake.http.post(
        f"/cases/{case_id}/return-request", json={"destination_country": "BO"}
    )
    assert r.status_code == 201, r.text
    await intake.wait_for(case_id, version=r.json()["version"])

    now = datetime.now(UTC)
    cleared_at = now + timedelta(hours=1)
    arrived_at = now + timedelta(days=20)
    household = [
        {"person_id": mother, "age_years": 35, "sex": "female", "relationship": "principal"},
        {"person_id": child, "age_years": 9, "sex": "male", "relationship": "child"},
    ]
    later = [
        envelope(
            "eligibility",
            "DueDiligenceCleared",
            case_id,
            cleared_at,
            {
                "case_id": case_id,
                "programme_id": "mesoamerica-avrr",
                "office": "GT-GUA",
                "host_country": "GT",
                "destination_country": "BO",
                "transport_mode": "air",
                "household": household,
                "cleared_at": cleared_at.isoformat(),
            },
        ),
        # Arrives before the vulnerability screening below, but happened later.
        envelope(
            "travel",
            "ArrivalConfirmed",
            case_id,
            arrived_at,
            {
                "case_id": case_id,
                "programme_id": "mesoamerica-avrr",
                "office": "GT-GUA",
                "destination_country": "BO",
                "arrived_at": arrived_at.isoformat(),
                "confirmed_by": "receiving_office",
                "confirmer_id": "receiver-7",
            },
        ),
        envelope(
            "eligibility",
            "VulnerabilityAssessed",
            case_id,
            now + timedelta(minutes=30),
            {
                "case_id": case_id,
                "person_id": mother,
                "categories": [{"category": "single_parent_family", "severity": "medium"}],
                "best_interests_determination_done": False,
                "assessed_by": "caseworker-2",
                "assessed_at": (now + timedelta(minutes=30)).isoformat(),
            },
        ),
    ]
    await _publish(bus, intake.runtime, later)

    async def complete() -> bool:
        r = await intake.http.get(f"/cases/{case_id}/timeline")
        return r.status_code == 200 and r.json()["total"] == 7

    await eventually(complete, timeout=30)
    page = (await intake.http.get(f"/cases/{case_id}/timeline")).json()
    types = [i["type"].rsplit(".", 1)[-1] for i in page["items"]]
    assert types == [
        "ReferralReceived",
        "ConsentGiven",
        "ConsentGiven",
        "ReturnRequested",
        "VulnerabilityAssessed",
        "DueDiligenceCleared",
        "ArrivalConfirmed",
    ]
    services = [i["service"] for i in page["items"]]
    assert services == ["intake"] * 4 + ["eligibility", "eligibility", "travel"]
    assert page["items"][0]["actor"] == "caseworker-1"
    assert page["items"][4]["actor"] == "caseworker-2"
    assert page["items"][6]["summary"] == "Arrival confirmed in BO by the receiving office"
    text = str(page)
    for secret in (*PRINCIPAL_NAME.split(), "BO1234567", "maria.quispe", "Casa del Migrante"):
        assert secret not in text
    assert "Ciudad de Guatemala" not in text

    second = (await intake.http.get(f"/cases/{case_id}/timeline?limit=2&offset=5")).json()
    assert [i["type"] for i in second["items"]] == [i["type"] for i in page["items"][5:7]]
    assert second["total"] == 7
    unknown = await intake.http.get("/cases/no-such-case/timeline")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"

    # Time travel: the case at three moments.
    async def phase_at(moment: datetime) -> Any:
        r = await intake.http.get(f"/cases/{case_id}/state", params={"as_of": moment.isoformat()})
        return r.json()

    before = await intake.http.get(
        f"/cases/{case_id}/state", params={"as_of": (now - timedelta(days=1)).isoformat()}
    )
    assert before.status_code == 404
    at_request = await phase_at(now + timedelta(minutes=1))
    assert at_request["phase"] == "return_requested"
    assert at_request["vulnerability_categories"] == []
    assert at_request["destination_country"] == "BO"
    at_clearance = await phase_at(cleared_at + timedelta(minutes=1))
    assert at_clearance["phase"] == "cleared"
    assert at_clearance["programme_id"] == "mesoamerica-avrr"
    assert at_clearance["vulnerability_categories"] == ["single_parent_family"]
    assert at_clearance["arrived_at"] is None
    assert (await phase_at(arrived_at))["phase"] == "arrived"
    current = (await intake.http.get(f"/cases/{case_id}/state")).json()
    assert current["phase"] == "return_requested"  # the arrival lies in the future
    assert current["household_size"] == 2

    # Reports see the same case through the same fold.
    phases = (await intake.http.get("/reports/phases", headers=MANAGER)).json()
    assert {p["phase"]: p["cases"] for p in phases["phases"]}["arrived"] == 1


async def test_demo_data_reaches_every_phase_through_the_four_services_apis(
    tmp_path: Path,
) -> None:
    app = build_app(tmp_path)  # every installed service, as `make run` runs them
    if set(app.state.runtimes) != {"intake", "eligibility", "travel", "reintegration"}:
        pytest.skip(f"the four services are not all installed: {sorted(app.state.runtimes)}")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://avrr") as http,
    ):
        loaded = await Demo(http).load()
        assert sorted(c["phase"] for c in loaded) == sorted(p for _, p in DEMO_CASES)

        async def settled() -> bool:
            r = await http.get("/intake/reports/phases", headers=MANAGER)
            counts = {p["phase"]: p["cases"] for p in r.json()["phases"]}
            return counts == {p: sum(1 for _, q in DEMO_CASES if q == p) for p in timeline.PHASES}

        await eventually(settled, timeout=30)
        done = next(c["case_id"] for c in loaded if c["phase"] == "completed")
        page = (await http.get(f"/intake/cases/{done}/timeline", headers=CASEWORKER)).json()
        assert {i["service"] for i in page["items"]} == {
            "intake",
            "eligibility",
            "travel",
            "reintegration",
        }
        money = (await http.get("/intake/reports/assistance", headers=MANAGER)).json()
        assert money["totals"] == {"USD": {"cash": "250.00", "in_kind": "100.00"}}


async def test_the_demo_route_exists_only_in_development_mode(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AVRR_INTAKE_DUPLICATE_SECRET", "s" * 32)
    settings = ServiceSettings(
        database_url=sqlite_url,
        kafka_bootstrap_servers=None,
        dev=False,
        dev_auth=True,
        master_key="A" * 43 + "=",
    )
    app = ServiceRuntime(service, settings, bus=InProcessBus()).app(lifespan=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://intake", headers=CASEWORKER
    ) as http:
        assert (await http.post("/demo")).status_code == 404
