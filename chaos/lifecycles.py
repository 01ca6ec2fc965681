"""The lifecycles the chaos run drives, each with the final state it must reach.

The steps are tests/journey_steps.py's (loaded by benchmarks.lifecycle, written
once); what changes is the client underneath: :class:`RetryingClient` sends
every POST with an Idempotency-Key and, while the service is down or answers
503, sends it again with the SAME key, so a command whose first attempt did
commit is replayed, not applied twice. GETs are retried the same way.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.lifecycle import journey_steps

RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
# 409 problems of IdempotencyKeys (libs/events http.py) that ask for the same request again.
_IDEMPOTENCY_WAIT = ("still being processed", "just failed; retry it")
# A command that lost a race for its stream (a reaction wrote it at the same moment):
# nothing was written and the key was released, so the same request may run again.
_CONFLICT = "urn:avrr:problem:concurrency"


@dataclass
class RetryStats:
    """How often the driver had to try again, and why (the run's report prints them)."""

    transport_errors: int = 0
    server_errors: Counter[int] = field(default_factory=Counter)
    in_progress_409: int = 0
    conflicts_409: int = 0
    # 409 idempotency-key-applied: a command committed without its response. Effects
    # and responses commit together (http.IdempotencyKeys), so this should not happen:
    # the step that needed the response fails, and so does the run.
    applied_response_lost: list[str] = field(default_factory=list)
    replayed: int = 0
    # Commands whose key stayed reserved (409 "still being processed") past the
    # bound: sent again with a fresh key. See RetryingClient.post.
    rekeyed: list[str] = field(default_factory=list)
    # 5xx answers no injected fault explains: a 500 (an internal error), or a 502/503/504
    # that is not the platform's "a database or broker is away" (problem type
    # `unavailable` with Retry-After). Each fails the run.
    unexplained_5xx: list[str] = field(default_factory=list)

    def server_error(self, method: str, path: str, response: httpx.Response) -> None:
        """Count a 5xx the driver retries; remember it when no injected fault explains it."""
        self.server_errors[response.status_code] += 1
        away = (
            response.status_code == 503
            and "Retry-After" in response.headers
            and "urn:avrr:problem:unavailable" in response.text
        )
        if not away:
            self.unexplained_5xx.append(
                f"{method} {path}: {response.status_code} {response.text[:200]}"
            )


class RetryingClient:
    """What journey_steps.Platform needs of a client (``post``/``get``), retried across outages.

    ``patience`` bounds one request's retries (seconds); an outage longer than
    that fails the lifecycle, which the report then names.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        stats: RetryStats,
        *,
        patience: float = 240.0,
        stuck_key_after: float = 150.0,
    ) -> None:
        self.client = client
        self.stats = stats
        self.patience = patience
        self.stuck_key_after = stuck_key_after

    async def post(
        self, path: str, *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """POST with one Idempotency-Key for every attempt.

        A key whose first request died with its process stays reserved; once
        the reservation's lease (60 s) has run out, a retry with the same key
        takes it over (a command commits with its response, so a key whose
        process died is either answered or free). Should a reservation outlive
        ``stuck_key_after`` seconds anyway, the command is sent once more with a
        new key and the path recorded in ``stats.rekeyed``: the per-case event
        counts then show whether that applied it twice.
        """
        key = str(uuid.uuid4())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.patience
        stuck_since: float | None = None
        pause = 0.2
        while True:
            sent = {**(headers or {}), "Idempotency-Key": key}
            try:
                response = await self.client.post(path, json=json, headers=sent)
            except httpx.TransportError:
                self.stats.transport_errors += 1
            else:
                if response.headers.get("Idempotency-Replayed") == "true":
                    self.stats.replayed += 1
                if response.status_code == 409 and "idempotency-key-applied" in response.text:
                    self.stats.applied_response_lost.append(path)
                    return response
                if response.status_code in RETRYABLE_STATUS:
                    self.stats.server_error("POST", path, response)
                elif response.status_code == 409 and _CONFLICT in response.text:
                    self.stats.conflicts_409 += 1
                elif response.status_code == 409 and any(
                    marker in response.text for marker in _IDEMPOTENCY_WAIT
                ):
                    self.stats.in_progress_409 += 1
                    now = loop.time()
                    stuck_since = now if stuck_since is None else stuck_since
                    if now - stuck_since > self.stuck_key_after:
                        self.stats.rekeyed.append(path)
                        key, stuck_since = str(uuid.uuid4()), None
                else:
                    return response
            if loop.time() > deadline:
                raise TimeoutError(f"POST {path}: no answer within {self.patience:g}s of retries")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)

    async def get(self, path: str, *, headers: Mapping[str, str] | None = None) -> httpx.Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.patience
        pause = 0.2
        while True:
            try:
                response = await self.client.get(path, headers=dict(headers or {}))
                if response.status_code not in RETRYABLE_STATUS:
                    return response
                self.stats.server_error("GET", path, response)
            except httpx.TransportError:
                self.stats.transport_errors += 1
            if loop.time() > deadline:
                raise TimeoutError(f"GET {path}: no answer within {self.patience:g}s of retries")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


# ------------------------------------------------------------- scenarios --

# A supervisor in the destination country: only they (or headquarters) suspend returns to it.
SUPERVISOR = {
    "X-AVRR-User": "supervisor-1",
    "X-AVRR-Roles": "supervisor",
    "X-AVRR-Offices": "HN-TGU",
}
SUSPENDED_REGION = "Olancho"  # returns there are suspended for the whole run (one suspension)
# No programme assists returns from the United States (no programme's host country).
INELIGIBLE_HOST = {"country": "US", "city": "Houston"}


@dataclass(frozen=True)
class Expected:
    """A field of a service's read of the case must equal ``value``; ``None`` route: a 404."""

    service: str
    route: str  # with {id}
    headers: Mapping[str, str]
    field: str | None = None
    value: Any = None


@dataclass(frozen=True)
class Scenario:
    name: str
    weight: int
    drive: Callable[[Any, int], Awaitable[str]]  # (platform, n) -> case id
    final: tuple[Expected, ...]


def _expect(service: str, field: str | None = None, value: Any = None) -> Expected:
    """The service's view of the case (journey_steps.CASE_VIEWS) shows ``field`` == ``value``."""
    route, headers = journey_steps().CASE_VIEWS[service]
    return Expected(service, route, headers, field, value)


def _absent(service: str) -> Expected:
    """The service never heard of the case (its read answers 404)."""
    return _expect(service, None, 404)


async def _withdraw(p: Any, case_id: str) -> None:
    s = journey_steps()
    body = {"reason": "changed_mind", "note": "Decided to stay."}
    await p.post("intake", f"/cases/{case_id}/withdrawal", body, s.CASEWORKER, expect=200)


async def completed(p: Any, n: int) -> str:
    case = await journey_steps().full_journey(p, n)
    return str(case.case_id)


async def _withdrawn_after(p: Any, n: int, *steps: str) -> str:
    """A case opened (counselled), taken through journey_steps' ``steps``, then withdrawn."""
    s = journey_steps()
    case = await s.open_case(p, n)
    for step in steps:
        await getattr(s, step)(p, case)
    await _withdraw(p, case.case_id)
    return str(case.case_id)


async def withdrawn_after_counselling(p: Any, n: int) -> str:
    return await _withdrawn_after(p, n)


async def withdrawn_after_clearance(p: Any, n: int) -> str:
    return await _withdrawn_after(p, n, "request_return", "clear")


async def withdrawn_after_ticket(p: Any, n: int) -> str:
    return await _withdrawn_after(p, n, "request_return", "clear", "ticket")


async def _request(p: Any, n: int, *, region: str, wanted: str, host: Any = None) -> Any:
    """A household asking to return to HN/``region`` (from ``host``); eligibility's verdict."""
    s = journey_steps()
    body = s.referral(n)
    if host is not None:
        body = {**body, "current_location": host}
    created, _ = await p.post("intake", "/referrals", body, s.CASEWORKER, expect=201)
    case_id = str(created["case_id"])
    people = {m["relationship"]: str(m["person_id"]) for m in created["household"]}
    case = s.Case(case_id, people["principal"], people["child"])
    for consent in (s.consent(case.mother), s.guardian_consent(case)):
        await p.post("intake", f"/cases/{case_id}/consents", consent, s.CASEWORKER, expect=201)
    wish = {"destination_country": "HN", "destination_region": region}
    _, t = await p.post(
        "intake", f"/cases/{case_id}/return-request", wish, s.CASEWORKER, expect=201
    )
    await p.until(
        "eligibility",
        f"/assessments/{case_id}",
        s.status(wanted),
        s.CASEWORKER,
        hop="intake -> eligibility: return requested",
        since=t,
        cross_service=True,
    )
    return case


async def ineligible(p: Any, n: int) -> str:
    case = await _request(
        p, n, region="Francisco Morazán", wanted="ineligible", host=INELIGIBLE_HOST
    )
    return str(case.case_id)


async def destination_suspended(p: Any, n: int) -> str:
    """Due diligence for a suspended region: rejected with the suspension as its reason."""
    s = journey_steps()
    case = await _request(p, n, region=SUSPENDED_REGION, wanted="eligible")
    checked, _ = await p.post(
        "eligibility",
        f"/assessments/{case.case_id}/due-diligence",
        s.DUE_DILIGENCE_CLEARED,
        s.CASEWORKER,
        expect=200,
    )
    assert checked["events"][-1] == "avrr.eligibility.DueDiligenceRejected", checked
    return str(case.case_id)


async def suspend_region(p: Any) -> None:
    """The one suspension every ``destination_suspended`` case runs into (before any case)."""
    body = {
        "destination_country": "HN",
        "destination_region": SUSPENDED_REGION,
        "reason": "flooding on the roads (chaos run)",
    }
    await p.post("eligibility", "/destinations/suspensions", body, SUPERVISOR, expect=201)


def scenarios() -> tuple[Scenario, ...]:
    """The mix of outcomes, with weights (out of 100) and every service's final word."""
    # A withdrawal once eligibility cleared the case: every service that had begun closes.
    withdrawn_once_cleared = (
        _expect("intake", "status", "withdrawn"),
        _expect("eligibility", "status", "closed"),
        _expect("travel", "status", "cancelled"),
        _absent("reintegration"),
    )
    never_travelled = (_absent("travel"), _absent("reintegration"))
    return (
        Scenario(
            "completed",
            50,
            completed,
            (
                _expect("reintegration", "status", "completed"),
                _expect("travel", "status", "arrived"),
                _expect("eligibility", "status", "cleared"),
            ),
        ),
        Scenario(
            "withdrawn after counselling",
            10,
            withdrawn_after_counselling,
            (
                _expect("intake", "status", "withdrawn"),
                _absent("eligibility"),
                _absent("travel"),
                _absent("reintegration"),
            ),
        ),
        Scenario(
            "withdrawn after clearance", 10, withdrawn_after_clearance, withdrawn_once_cleared
        ),
        Scenario("withdrawn after ticket", 10, withdrawn_after_ticket, withdrawn_once_cleared),
        Scenario(
            "ineligible",
            10,
            ineligible,
            (_expect("eligibility", "status", "ineligible"), *never_travelled),
        ),
        Scenario(
            "destination suspended",
            10,
            destination_suspended,
            (_expect("eligibility", "status", "due_diligence_rejected"), *never_travelled),
        ),
    )


def assign(count: int, seed: int) -> list[Scenario]:
    """``count`` scenarios in the mix's proportions, shuffled with ``seed`` (reproducible)."""
    mix = scenarios()
    total = sum(s.weight for s in mix)
    out: list[Scenario] = []
    for s in mix:
        out.extend([s] * (count * s.weight // total))
    while len(out) < count:
        out.append(mix[len(out) % len(mix)])
    random.Random(seed).shuffle(out)
    return out
