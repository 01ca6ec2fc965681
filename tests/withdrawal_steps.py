"""Withdrawals against departures, written once: the four-process race test and ``make bench``.

A lean case (one adult, so one consent, one document, one fitness check)
is brought to a movement that is ``preparing`` or ``ticketed`` through the
public REST APIs (``journey_steps.Platform``). Then either

- ``race``: its withdrawal (intake) and its departure (travel) are sent at
  nearly the same moment, in an order and with a gap drawn at random, and
  what each answered is kept with when it was sent and answered; or
- ``window``: the withdrawal is sent, and from its 200 on a departure is
  sent every ``poll`` seconds until travel refuses it because it learnt of
  the withdrawal (422 with ``movement_status: cancelled``). The movement
  probed is only ``preparing``, so a probe before that moment is refused
  too (``movement_status: preparing``) and never departs the household:
  the probe measures the window without closing it.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from journey_steps import (
    CASEWORKER,
    DUE_DILIGENCE_CLEARED,
    TRAVEL_OFFICER,
    Platform,
    booking,
    consent,
    counselling,
    ready_to_travel,
    referral,
    status,
)

WITHDRAWAL = {"reason": "changed_mind", "note": "Decided to stay."}


async def cleared(p: Platform, n: int) -> str:
    """A one-adult case up to its movement opened in travel (``preparing``); its id."""
    body = referral(n)
    body["household"] = body["household"][:1]
    body.pop("declared_needs", None)  # health data: not needed here (and needs its consent)
    created, _ = await p.post("intake", "/referrals", body, CASEWORKER, expect=201)
    case_id = str(created["case_id"])
    person = str(created["household"][0]["person_id"])
    await p.post("intake", f"/cases/{case_id}/consents", consent(person), CASEWORKER, expect=201)
    session = counselling(topics=["return process"])
    await p.post(
        "intake", f"/cases/{case_id}/counselling-sessions", session, CASEWORKER, expect=201
    )
    destination = {"destination_country": "HN", "destination_region": "Francisco Morazán"}
    _, t = await p.post(
        "intake", f"/cases/{case_id}/return-request", destination, CASEWORKER, expect=201
    )
    await p.case_shows(
        "eligibility",
        case_id,
        status("eligible"),
        hop="intake -> eligibility",
        since=t,
        cross_service=True,
    )
    _, t = await p.post(
        "eligibility",
        f"/assessments/{case_id}/due-diligence",
        DUE_DILIGENCE_CLEARED,
        CASEWORKER,
        expect=200,
    )
    movement = await p.case_shows(
        "travel",
        case_id,
        status("preparing"),
        hop="eligibility -> travel",
        since=t,
        cross_service=True,
    )
    assert [t["person_id"] for t in movement["travellers"]] == [person], movement
    return case_id


async def ticketed(p: Platform, n: int) -> str:
    """A one-adult case whose movement is ticketed for today: a departure would be accepted."""
    case_id = await cleared(p, n)
    movement = await p.get("travel", f"/movements/{case_id}", TRAVEL_OFFICER)
    person = movement.json()["travellers"][0]["person_id"]
    await ready_to_travel(p, case_id, {person: "passport"})
    route = ["Ciudad de Guatemala", "Tegucigalpa"]
    ticket = booking(f"TS-{case_id[-8:]}", route=route, cost=None)
    issued, _ = await p.post(
        "travel", f"/movements/{case_id}/ticket", ticket, TRAVEL_OFFICER, expect=200
    )
    assert issued["status"] == "ticketed", issued
    return case_id


async def prepared(
    p: Platform, count: int, first: int, *, ticket: bool, parallel: int
) -> list[str]:
    """``count`` cases, at most ``parallel`` being set up at a time (two cores, eight people)."""
    gate = asyncio.Semaphore(parallel)

    async def one(n: int) -> str:
        async with gate:
            return await (ticketed(p, n) if ticket else cleared(p, n))

    return list(await asyncio.gather(*(one(first + i) for i in range(count))))


# ------------------------------------------------------------------ the race --


@dataclass
class Attempt:
    """One POST of the race: when it was sent and answered (perf_counter), and the answer."""

    sent: float
    answered: float
    status: int
    body: dict[str, Any]


@dataclass
class Race:
    case_id: str
    departure_first: bool
    gap: float
    withdrawal: Attempt | None = None
    departure: Attempt | None = None

    @property
    def departed(self) -> bool:
        return self.departure is not None and self.departure.status == 200

    @property
    def departure_sent_after_withdrawal_answered(self) -> bool:
        """Certainly later than the withdrawal, whatever the servers did."""
        assert self.withdrawal is not None and self.departure is not None
        return self.departure.sent > self.withdrawal.answered

    @property
    def departure_answered_before_withdrawal_sent(self) -> bool:
        """Certainly earlier than the withdrawal."""
        assert self.withdrawal is not None and self.departure is not None
        return self.departure.answered < self.withdrawal.sent


async def _attempt(p: Platform, service: str, path: str, body: dict[str, Any], who: Any) -> Attempt:
    sent = time.perf_counter()
    response = await p.clients[service].post(path, json=body, headers=dict(who))
    answered = time.perf_counter()
    payload = response.json() if response.content else {}
    return Attempt(sent, answered, response.status_code, payload)


async def race(
    p: Platform, case_ids: list[str], *, seed: int, max_gap: float = 0.03, spread: float = 0.5
) -> list[Race]:
    """Each case's withdrawal and departure, concurrently over all cases, in a random order.

    Case i starts at a random moment within ``spread`` seconds; its two
    commands are ``gap`` (0..``max_gap`` s) apart, departure or withdrawal first
    at random.
    """
    rng = random.Random(seed)
    races = [Race(c, rng.random() < 0.5, rng.uniform(0, max_gap)) for c in case_ids]
    starts = [rng.uniform(0, spread) for _ in races]
    t0 = time.perf_counter()

    async def run(r: Race, start: float) -> None:
        async def withdraw(delay: float) -> None:
            await asyncio.sleep(delay)
            r.withdrawal = await _attempt(
                p, "intake", f"/cases/{r.case_id}/withdrawal", WITHDRAWAL, CASEWORKER
            )

        async def depart(delay: float) -> None:
            await asyncio.sleep(delay)
            r.departure = await _attempt(
                p, "travel", f"/movements/{r.case_id}/departure", {}, TRAVEL_OFFICER
            )

        await asyncio.sleep(max(0.0, t0 + start - time.perf_counter()))
        first, second = (0.0, r.gap)
        await asyncio.gather(
            withdraw(second if r.departure_first else first),
            depart(first if r.departure_first else second),
        )

    await asyncio.gather(*(run(r, s) for r, s in zip(races, starts, strict=True)))
    return races


# ---------------------------------------------------------------- the window --


@dataclass(frozen=True)
class Window:
    """One withdrawal's window, seen from outside: polled, and the wall time of its 200."""

    case_id: str
    polled: float  # seconds from the 200 to the first departure refused for the withdrawal
    answered_at: datetime  # wall clock (UTC) of the 200, to compare with events' times


async def window(p: Platform, case_id: str, *, poll: float = 0.02, timeout: float = 30.0) -> Window:
    """From the withdrawal's 200 at intake until travel refuses a departure for it."""
    await p.post("intake", f"/cases/{case_id}/withdrawal", WITHDRAWAL, CASEWORKER, expect=200)
    answered = time.perf_counter()
    answered_at = datetime.now(UTC)
    deadline = answered + timeout
    while True:
        response = await p.clients["travel"].post(
            f"/movements/{case_id}/departure", json={}, headers=dict(TRAVEL_OFFICER)
        )
        refused_at = time.perf_counter()
        assert response.status_code == 422, f"a probe departed {case_id}: {response.text}"
        if response.json().get("movement_status") == "cancelled":
            return Window(case_id, refused_at - answered, answered_at)
        if refused_at > deadline:
            raise AssertionError(f"travel still accepts commands of {case_id} after {timeout}s")
        await asyncio.sleep(poll)
