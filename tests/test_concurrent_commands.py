"""Issue 10: 50 parallel conflicting commands on one case, per service, over HTTP.

The services run as their own OS processes on real PostgreSQL and Kafka
(``service_processes``); the case is brought to the phase that matters by the
journey scenario's steps (tests/journey_steps.py); then 50 requests go at once.

What the API promises (avrr_events.web.http):
- writers that all name the same version in If-Match: exactly one succeeds,
  every other one gets 412 (stale version), whether it saw the new version on
  load or lost the append race;
- writers without If-Match: a lost race is 409 (retry); a retry re-runs the
  command on the latest state and gets the domain's answer. Retrying on 409,
  exactly the commands the rules allow succeed (no more: no overspent budget,
  no second ticket);
- every refusal is problem+json, and afterwards the read model, the event
  store and the published topic agree: one event per success, none lost, none
  twice.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from journey_steps import (
    CASEWORKER,
    DUE_DILIGENCE_CLEARED,
    MEDIC,
    REINTEGRATION_OFFICER,
    SERVICES,
    TRAVEL_OFFICER,
    Case,
    Platform,
    booking,
    case_through,
    clear,
    component,
    open_case,
    plan,
    request_return,
    ticket,
    today,
    travel_home,
)
from sqlalchemy.engine import make_url

from avrr_events import Envelope
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.testing import ServiceProcess, asyncpg_dsn, eventually, read_topic
from avrr_events.web.http import PROBLEM_JSON

PARALLEL = 50
StartProcesses = Callable[..., Awaitable[dict[str, ServiceProcess]]]


class Deployment:
    """The services as processes, an HTTP client each, and what they stored and published."""

    def __init__(self, procs: dict[str, ServiceProcess], kafka: KafkaSettings) -> None:
        self.procs = procs
        self.kafka = kafka
        self.stack = AsyncExitStack()
        self.clients: dict[str, httpx.AsyncClient] = {}

    async def open(self) -> Platform:
        # Idle connections are dropped before uvicorn's 5 s keep-alive ends them: a request
        # sent on a connection the server is closing at that moment fails with ReadError.
        limits = httpx.Limits(
            max_connections=PARALLEL, max_keepalive_connections=PARALLEL, keepalive_expiry=2.0
        )
        for name, proc in self.procs.items():
            self.clients[name] = await self.stack.enter_async_context(
                httpx.AsyncClient(base_url=proc.url, timeout=60.0, limits=limits)
            )
        return Platform(self.clients, self._no_events)

    async def _no_events(self, service: str) -> list[Envelope]:
        raise AssertionError("these tests read the topics through Deployment.published")

    async def stored(self, service: str, case_id: str) -> Counter[str]:
        """The event types in the service's event store for the case (its subject)."""
        conn = await asyncpg.connect(asyncpg_dsn(self.procs[service].database_url))
        try:
            rows = await conn.fetch("SELECT type FROM events WHERE subject = $1", case_id)
        finally:
            await conn.close()
        return Counter(str(r["type"]) for r in rows)

    async def published(self, service: str, case_id: str) -> Counter[str]:
        """The event types the service published on its topic for the case."""
        prefix = make_url(self.procs[service].database_url).database
        assert prefix is not None
        topic = f"{prefix.removesuffix('_' + service)}.{service}.events"
        messages = await read_topic(self.kafka, topic, 10_000, timeout=3.0)
        envelopes = [Envelope.from_message(m) for m in messages]
        return Counter(e.type for e in envelopes if e.subject == case_id)

    async def until_published(self, service: str, case_id: str, expected: Counter[str]) -> None:
        """Wait until the topic carries at least what the store holds, then compare exactly."""
        seen: Counter[str] = Counter()

        async def relayed() -> bool:
            seen.clear()
            seen.update(await self.published(service, case_id))
            return all(seen[t] >= n for t, n in expected.items())

        await eventually(relayed, timeout=60, interval=0.5)
        assert seen == expected, f"published {dict(seen)}, stored {dict(expected)}"


@pytest.fixture
async def deploy(
    service_processes: StartProcesses, kafka_bootstrap: str
) -> AsyncIterator[Callable[[int], Awaitable[tuple[Deployment, Platform]]]]:
    """``await deploy(n)``: the first n services of the journey, started (intake first)."""
    deployments: list[Deployment] = []

    async def start(n: int) -> tuple[Deployment, Platform]:
        procs = await service_processes("intake")
        if n > 1:
            procs.update(await service_processes(*SERVICES[1:n]))
        deployment = Deployment(procs, KafkaSettings(kafka_bootstrap))
        deployments.append(deployment)
        return deployment, await deployment.open()

    yield start
    for deployment in deployments:
        await deployment.stack.aclose()


def assert_refusals(responses: list[httpx.Response], allowed: set[int]) -> None:
    for response in responses:
        if response.status_code < 300:
            continue
        assert response.status_code in allowed, (response.status_code, response.text)
        assert response.headers["content-type"] == PROBLEM_JSON, response.headers
        body = response.json()
        assert body["status"] == response.status_code and body["type"] and body["title"], body


def assert_answers(responses: list[httpx.Response], statuses: dict[int, int]) -> None:
    """Exactly these statuses (status -> how many), every refusal among them problem+json."""
    answered = Counter(r.status_code for r in responses)
    assert answered == statuses, answered
    assert_refusals(responses, {s for s in statuses if s >= 300})


async def assert_cleared_once(d: Deployment, case: Case) -> Counter[str]:
    """Eligibility stored and published one due diligence check and one clearance; what it
    stored for the case."""
    stored = await d.stored("eligibility", case.case_id)
    assert stored["avrr.eligibility.DueDiligenceChecked"] == 1, stored
    assert stored["avrr.eligibility.DueDiligenceCleared"] == 1, stored
    await d.until_published("eligibility", case.case_id, stored)
    return stored


async def together(
    bodies: list[dict[str, Any]], send: Callable[[dict[str, Any]], Awaitable[httpx.Response]]
) -> list[httpx.Response]:
    """``send`` every body at the same moment (all in flight before any answer); the answers."""
    start = asyncio.Event()

    async def one(body: dict[str, Any]) -> httpx.Response:
        await start.wait()
        return await send(body)

    tasks = [asyncio.create_task(one(b)) for b in bodies]
    await asyncio.sleep(0)
    start.set()
    return list(await asyncio.gather(*tasks))


async def at_once(
    client: httpx.AsyncClient,
    path: str,
    bodies: list[dict[str, Any]],
    headers: Mapping[str, str],
) -> list[httpx.Response]:
    """POST every body at the same moment (all requests in flight before any answer)."""
    return await together(bodies, lambda body: client.post(path, json=body, headers=dict(headers)))


async def until_not_conflicting(
    client: httpx.AsyncClient,
    path: str,
    bodies: list[dict[str, Any]],
    headers: Mapping[str, str],
) -> tuple[list[httpx.Response], list[httpx.Response]]:
    """POST every body at once; each writer retries on 409 (as the API says to) until it
    gets another answer. Returns (every response seen, the final answer of each writer)."""
    seen: list[httpx.Response] = []

    async def writer(body: dict[str, Any]) -> httpx.Response:
        for _ in range(500):
            response = await client.post(path, json=body, headers=dict(headers))
            seen.append(response)
            if response.status_code != 409:
                return response
            await asyncio.sleep(random.uniform(0, 0.05))
        raise AssertionError(f"{path}: still 409 after 500 retries")

    final = await together(bodies, writer)
    return seen, final


async def retried_until_decided(
    d: Deployment,
    service: str,
    case_id: str,
    path: str,
    bodies: list[dict[str, Any]],
    headers: Mapping[str, str],
    *,
    statuses: dict[int, int],
    refusal: str,
    added: Counter[str],
) -> list[httpx.Response]:
    """POST every body at once, each retried on 409, to ``service``'s ``path``; the final
    answers are exactly ``statuses``, each 422 says ``refusal``, the store gained exactly
    ``added`` and the topic carries what the store holds. The final answers."""
    before = await d.stored(service, case_id)
    seen, final = await until_not_conflicting(d.clients[service], path, bodies, headers)
    assert_refusals(seen, {409, 422})
    assert_answers(final, statuses)
    for refused in (r for r in final if r.status_code == 422):
        assert refusal in refused.json()["detail"], refused.text
    stored = await d.stored(service, case_id)
    assert stored - before == added, stored
    await d.until_published(service, case_id, stored)
    return final


async def etag_of(client: httpx.AsyncClient, path: str, headers: Mapping[str, str]) -> str:
    response = await client.get(path, headers=dict(headers))
    assert response.status_code == 200, response.text
    return str(response.headers["etag"])


# -------------------------------------------------------------------- intake --


async def test_fifty_withdrawals_with_one_etag_withdraw_the_case_once_and_the_rest_get_412(
    deploy: Callable[[int], Awaitable[tuple[Deployment, Platform]]],
) -> None:
    d, p = await deploy(1)
    case = await open_case(p)
    intake = d.clients["intake"]
    tag = await etag_of(intake, f"/cases/{case.case_id}", CASEWORKER)
    before = await d.stored("intake", case.case_id)

    bodies = [{"reason": "changed_mind"} for _ in range(PARALLEL)]
    responses = await at_once(
        intake, f"/cases/{case.case_id}/withdrawal", bodies, {**CASEWORKER, "If-Match": tag}
    )

    assert_answers(responses, {200: 1, 412: PARALLEL - 1})
    [won] = [r for r in responses if r.status_code == 200]
    assert won.headers["etag"] == f'"{int(tag.strip(chr(34))) + 1}"', won.headers
    stored = await d.stored("intake", case.case_id)
    assert stored - before == Counter({"avrr.intake.CaseWithdrawn": 1}), stored

    async def withdrawn() -> bool:
        doc = (await intake.get(f"/cases/{case.case_id}", headers=CASEWORKER)).json()
        return bool(doc["status"] == "withdrawn" and f'"{doc["version"]}"' == won.headers["etag"])

    await eventually(withdrawn)
    await d.until_published("intake", case.case_id, stored)


# --------------------------------------------------------------- eligibility --


async def screened_assessment(
    deploy: Callable[[int], Awaitable[tuple[Deployment, Platform]]],
) -> tuple[Deployment, Case, httpx.Response]:
    """A case whose return was requested and whose mother was screened: due diligence next."""
    d, p = await deploy(3)
    case = await case_through(p, request_return)
    screening = {
        "person_id": case.mother,
        "categories": [{"category": "single_parent_family", "severity": "medium"}],
    }
    screened = await d.clients["eligibility"].post(
        f"/assessments/{case.case_id}/vulnerability-screenings",
        json=screening,
        headers=CASEWORKER,
    )
    assert screened.status_code == 201, screened.text
    return d, case, screened


async def fifty_clearances(
    d: Deployment, case: Case, headers: Mapping[str, str]
) -> list[httpx.Response]:
    """Fifty due diligence checklists that clear the case, sent at once with ``headers``."""
    return await at_once(
        d.clients["eligibility"],
        f"/assessments/{case.case_id}/due-diligence",
        [DUE_DILIGENCE_CLEARED] * PARALLEL,
        headers,
    )


async def test_fifty_due_diligence_decisions_clear_the_case_once_and_open_one_movement(
    deploy: Callable[[int], Awaitable[tuple[Deployment, Platform]]],
) -> None:
    d, case, screened = await screened_assessment(deploy)

    responses = await fifty_clearances(
        d, case, {**CASEWORKER, "If-Match": screened.headers["etag"]}
    )

    assert_answers(responses, {200: 1, 412: PARALLEL - 1})
    stored = await assert_cleared_once(d, case)

    # Without If-Match the decision is still taken once: the others are told it was.
    again = await fifty_clearances(d, case, CASEWORKER)
    assert_answers(again, {409: PARALLEL})
    assert await d.stored("eligibility", case.case_id) == stored

    async def one_movement() -> bool:
        movement = await d.clients["travel"].get(
            f"/movements/{case.case_id}", headers=TRAVEL_OFFICER
        )
        return movement.status_code == 200 and movement.json()["status"] == "preparing"

    await eventually(one_movement)
    assert (await d.stored("travel", case.case_id))["avrr.travel.MovementOpened"] == 1


async def test_fifty_due_diligence_decisions_without_if_match_one_clears_the_rest_get_409(
    deploy: Callable[[int], Awaitable[tuple[Deployment, Platform]]],
) -> None:
    # The issue's case: conflicting commands that send no version. Whether a loser lost
    # the append race (concurrency conflict) or loaded the case after the winner
    # cleared it (already decided), it gets 409 and the case is cleared once.
    d, case, _ = await screened_assessment(deploy)

    responses = await fifty_clearances(d, case, CASEWORKER)

    assert_answers(responses, {200: 1, 409: PARALLEL - 1})
    await assert_cleared_once(d, case)


# -------------------------------------------------------------------- travel --


async def test_fifty_ticket_issuances_for_one_movement_issue_exactly_one_ticket(
    deploy: Callable[[int], Awaitable[tuple[Deployment, Platform]]],
) -> None:
    d, p = await deploy(3)
    case = await case_through(p, request_return, clear)
    c = case.case_id
    for person, kind in ((case.mother, "passport"), (case.child, "emergency_travel_document")):
        document = {"person_id": person, "document_type": kind, "obtained_on": today()}
        await p.post("travel", f"/movements/{c}/documents", document, TRAVEL_OFFICER, expect=200)
    for person in (case.mother, case.child):
        await p.post(
            "travel",
            f"/movements/{c}/fitness",
            {"person_id": person, "outcome": "fit"},
            MEDIC,
            expect=200,
        )

    # Fifty officers book at once, each with a booking of their own, none naming a version.
    final = await retried_until_decided(
        d,
        "travel",
        c,
        f"/movements/{c}/ticket",
        [booking(f"TS-{n:04d}") for n in range(PARALLEL)],
        TRAVEL_OFFICER,
        statuses={200: 1, 422: PARALLEL - 1},
        refusal="already issued",
        added=Counter({"avrr.travel.TicketIssued": 1}),
    )

    [won] = [r for r in final if r.status_code == 200]
    movement = await p.case_shows(
        "travel", c, lambda doc: doc.get("status") == "ticketed", hop="travel: ticket", since=0.0
    )
    assert won.json()["version"] == movement["version"], (won.text, movement)


# ------------------------------------------------------------- reintegration --


async def test_fifty_disbursements_beyond_the_budget_pay_exactly_what_the_plan_allows(
    deploy: Callable[[int], Awaitable[tuple[Deployment, Platform]]],
) -> None:
    d, p = await deploy(4)
    case = await case_through(p, request_return, clear, ticket, travel_home)
    reintegration = d.clients["reintegration"]
    c = case.case_id
    tortilleria = plan(component("economic", "micro-business: tortillería", "200.00"))
    agreed = await reintegration.post(
        f"/cases/{c}/plan", json=tortilleria, headers=REINTEGRATION_OFFICER
    )
    assert agreed.status_code == 201, agreed.text

    # 50 x 10 USD against a 200 USD plan: exactly 20 fit.
    disbursement = {
        "kind": "cash",
        "amount": "10.00",
        "currency": "USD",
        "method": "mobile_money",
        "disbursed_on": today(),
    }
    await retried_until_decided(
        d,
        "reintegration",
        c,
        f"/cases/{c}/disbursements",
        [disbursement] * PARALLEL,
        REINTEGRATION_OFFICER,
        statuses={201: 20, 422: PARALLEL - 20},
        refusal="exceeds what is left",
        added=Counter({"avrr.reintegration.AssistanceDisbursed": 20}),
    )

    async def ledger_settled() -> bool:
        doc = (await reintegration.get(f"/cases/{c}", headers=REINTEGRATION_OFFICER)).json()
        return Decimal(str(doc.get("disbursed_total") or 0)) == Decimal("200")

    await eventually(ledger_settled)
