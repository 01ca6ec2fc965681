"""Situational reports of a period: a month or a year of return (arrival confirmed) or of
referral, both ends included (avrr_intake.reports.Period). Generated histories
(generated_cases.py) on the embedded default and on real Kafka and PostgreSQL; each report
is checked against counts made straight from the plan, of the cases in the period."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import httpx
from generated_cases import (
    MANAGER,
    PlannedCase,
    generate,
    published,
    published_in_process,
    report,
    reports_match_the_plan,
)
from intake_fixtures import Intake

from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.adapters.kafka import KafkaSettings


def referred_on(case: PlannedCase) -> date:
    referral = case.events[0]
    assert referral.type.endswith("ReferralReceived")
    return datetime.fromisoformat(referral.data["received_at"]).date()


def returned_on(case: PlannedCase) -> date | None:
    return case.arrived_at.date() if case.returned and case.arrived_at else None


def last_day(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def in_period(case: PlannedCase, params: dict[str, str]) -> bool:
    """Whether the plan puts ``case`` in the period the query parameters name."""
    for name, day in (("returned", returned_on(case)), ("referred", referred_on(case))):
        first, last = params.get(f"{name}_from"), params.get(f"{name}_to")
        if (first or last) and day is None:
            return False
        if first and day is not None and day < date.fromisoformat(first):
            return False
        if last and day is not None and day > date.fromisoformat(last):
            return False
    return True


async def check_period(
    http: httpx.AsyncClient, cases: list[PlannedCase], params: dict[str, str]
) -> list[PlannedCase]:
    """Every report of the period equals the count made from the plan; the cases in it."""
    inside = [c for c in cases if in_period(c, params)]
    await reports_match_the_plan(http, inside, params)
    return inside


async def check_edges(http: httpx.AsyncClient, cases: list[PlannedCase]) -> None:
    """A month of return and of referral, a single day at both edges, a year, an empty range."""
    case = next(c for c in cases if c.returned)
    day = returned_on(case)
    assert day is not None
    month = day.replace(day=1)
    # The month of the case's return, given by its first and last day: the case is in it.
    params = {"returned_from": month.isoformat(), "returned_to": last_day(month).isoformat()}
    assert case in await check_period(http, cases, params)
    # The day it returned is both the first and the last day of a range: in; the day
    # after (or before) it: not.
    assert case in await check_period(
        http, cases, {"returned_from": day.isoformat(), "returned_to": day.isoformat()}
    )
    after = {"returned_from": (day + timedelta(days=1)).isoformat()}
    assert case not in await check_period(http, cases, after)
    before = {"returned_to": (day - timedelta(days=1)).isoformat()}
    assert case not in await check_period(http, cases, before)
    # Referral: the month of the case's referral, and a year (both kinds at once).
    referred = referred_on(case).replace(day=1)
    await check_period(
        http,
        cases,
        {"referred_from": referred.isoformat(), "referred_to": last_day(referred).isoformat()},
    )
    await check_period(
        http,
        cases,
        {
            "referred_from": "2025-01-01",
            "referred_to": "2025-12-31",
            "returned_from": "2025-01-01",
            "returned_to": "2025-12-31",
        },
    )
    # An empty range: nothing in it, every count zero.
    empty = {"returned_from": "2031-01-01", "returned_to": "2031-01-31"}
    assert await check_period(http, cases, empty) == []
    body = await report(http, "/reports/returns", empty)
    assert body["total"] == {"cases": 0, "returnees": 0}
    assert all(rows == [] for rows in body["returns"].values())
    # The chart and the CSV take the period too.
    chart = await http.get("/reports/returns.svg", headers=MANAGER, params=empty)
    assert chart.status_code == 200 and chart.text.count("<rect x=") == 0
    csv = await http.get("/reports/returns", headers=MANAGER, params={**empty, "format": "csv"})
    assert csv.text == "dimension,value,cases,returnees\n"


async def check_refusals(http: httpx.AsyncClient) -> None:
    """From after to: 422 naming the end; a day that is no date: 422 naming it."""
    for path in ("/reports/returns", "/reports/phases", "/reports/returns.svg"):
        for start, end in (("returned_from", "returned_to"), ("referred_from", "referred_to")):
            response = await http.get(
                path, headers=MANAGER, params={start: "2026-03-01", end: "2026-02-28"}
            )
            assert response.status_code == 422, (path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert [e["field"] for e in response.json()["errors"]] == [end], response.text
        wrong = await http.get(path, headers=MANAGER, params={"referred_from": "2026-02-30"})
        assert wrong.status_code == 422, wrong.text
        assert [e["field"] for e in wrong.json()["errors"]] == ["referred_from"]
    # The same day at both ends is a period of one day, not a refusal.
    same = {"returned_from": "2026-02-28", "returned_to": "2026-02-28"}
    assert (await http.get("/reports/phases", headers=MANAGER, params=same)).status_code == 200


async def test_reports_of_a_period_on_the_embedded_default(
    embedded: tuple[Intake, InProcessBus],
) -> None:
    intake, bus = embedded
    cases = generate(150, seed=21)
    await published_in_process(intake.runtime, bus, cases)
    await check_edges(intake.http, cases)
    await check_refusals(intake.http)
    # Without a period, every case: what the reports always answered.
    assert len(await check_period(intake.http, cases, {})) == len(cases)


async def test_reports_of_a_period_on_kafka_and_postgresql(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    cases = generate(40, seed=22, prefix="period")
    await published(intake.runtime, kafka_settings, cases)
    await check_edges(intake.http, cases)
    await check_refusals(intake.http)
