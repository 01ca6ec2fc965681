"""Issue 18: a case withdrawn once ticketed is reopened when the person comes back and
consents again, and the whole return works again, on one history per service.

Run on both stacks (four processes over PostgreSQL and Kafka, and the embedded default),
through the REST APIs only (tests/journey_steps.py):

- intake's reopening and the child's consent given again resume the return request;
- eligibility takes the assessment up again without its old clearance: the due diligence
  is submitted again (voluntariness confirmed again in a private interview);
- travel's cancelled movement starts over on its stream and opens with the new clearance:
  documents and fitness are recorded again, and a new ticket is issued;
- the household departs and arrives; reintegration, stopped by the withdrawal, decides.

A second case races a reopening against a withdrawal: intake lets one of them win on the
case's stream, and every service ends where intake's case ends.
"""

from __future__ import annotations

import asyncio
from typing import Any

from journey_steps import (
    CASEWORKER,
    REINTEGRATION_OFFICER,
    SERVICES,
    TRAVEL_OFFICER,
    Case,
    Platform,
    at_least,
    case_events,
    clear,
    consent,
    guardian_consent,
    open_case,
    request_return,
    status,
    ticket,
    travel_home,
)

from avrr_events.testing import eventually


def reopening(case: Case) -> dict[str, Any]:
    return {"reason": "person_returned", "consent": consent(case.mother)}


async def withdraw(p: Platform, case: Case, *, ticketed: bool = True) -> None:
    """The household withdraws (once ticketed: its movement is cancelled); every service
    stops."""
    c = case.case_id
    _, t = await p.post(
        "intake", f"/cases/{c}/withdrawal", {"reason": "changed_mind"}, CASEWORKER, expect=200
    )
    if ticketed:
        await p.case_shows("travel", c, status("cancelled"), hop="withdrawal -> travel", since=t)
    await p.case_shows("eligibility", c, status("closed"), hop="withdrawal -> eligibility", since=t)


async def phase(p: Platform, case_id: str) -> str:
    state = await p.get("intake", f"/cases/{case_id}/state", CASEWORKER)
    assert state.status_code == 200, state.text
    return str(state.json()["phase"])


async def reopen_and_resume(p: Platform, case: Case) -> None:
    """The mother comes back and consents again; her son's consent, given by her, resumes
    the return; eligibility assesses it again, travel's movement waits for a new clearance."""
    c = case.case_id
    reopened, t = await p.post(
        "intake", f"/cases/{c}/reopening", reopening(case), CASEWORKER, expect=200
    )
    assert reopened["events"] == ["avrr.intake.CaseReopened", "avrr.intake.ConsentGiven"]
    await p.case_shows("intake", c, at_least(reopened["version"]), hop="reopening", since=t)
    assert await phase(p, c) == "suspended"
    # Eligibility waits for every consent: no clearance of before is taken on trust.
    await p.case_shows(
        "eligibility",
        c,
        lambda d: str(d.get("closed_reason", "")).startswith("case reopened"),
        hop="reopening -> eligibility",
        since=t,
        cross_service=True,
    )
    await p.case_shows(
        "travel", c, status("not_opened"), hop="reopening -> travel", since=t, cross_service=True
    )
    # The old ticket is gone with the cancellation: nothing departs before a new clearance.
    refused = await p.clients["travel"].post(
        f"/movements/{c}/departure", json={}, headers=TRAVEL_OFFICER
    )
    assert refused.status_code == 404, refused.text
    assert refused.headers["content-type"] == "application/problem+json"

    resumed, t = await p.post(
        "intake", f"/cases/{c}/consents", guardian_consent(case), CASEWORKER, expect=201
    )
    assert resumed["events"] == ["avrr.intake.ConsentGiven", "avrr.intake.ReturnResumed"]
    assessed = await p.case_shows(
        "eligibility",
        c,
        lambda d: d.get("status") == "eligible" and d.get("closed_reason") is None,
        hop="resumed -> eligibility",
        since=t,
        cross_service=True,
    )
    assert assessed["cleared_at"] is None, assessed
    assert await phase(p, c) == "eligible"


async def reopened_journey(p: Platform, n: int) -> Case:
    case = await open_case(p, n)
    await request_return(p, case)
    await clear(p, case)
    await ticket(p, case)
    await withdraw(p, case)
    assert await phase(p, case.case_id) == "withdrawn"
    gone = await p.get("reintegration", f"/cases/{case.case_id}", REINTEGRATION_OFFICER)
    assert gone.status_code == 404, gone.text

    await reopen_and_resume(p, case)
    await clear(p, case)  # screened and cleared again
    await ticket(p, case)  # documents and fitness again, a new ticket
    await travel_home(p, case)  # departure, arrival: reintegration decides

    async def arrived() -> bool:
        return await phase(p, case.case_id) == "arrived"

    await eventually(arrived, timeout=p.timeout)
    return case


async def assert_one_history(p: Platform, case: Case) -> None:
    """Each service's events of the case: the withdrawal's end, the reopening, the return."""
    c = case.case_id
    wanted = {
        "intake": ["CaseWithdrawn", "CaseReopened", "ReturnResumed"],
        "eligibility": [
            "DueDiligenceCleared",
            "AssessmentClosed",
            "AssessmentReopened",
            "AssessmentReopened",
            "EligibilityDecided",
            "DueDiligenceCleared",
        ],
        "travel": [
            "MovementOpened",
            "TicketIssued",
            "MovementCancelled",
            "MovementReinstated",
            "MovementOpened",
            "TicketIssued",
            "DepartureConfirmed",
            "ArrivalConfirmed",
        ],
        "reintegration": [
            "ReintegrationStopped",
            "ReintegrationReopened",
            "ReintegrationEligibilityDecided",
        ],
    }
    seen: dict[str, list[str]] = {}

    async def published() -> bool:
        found = await case_events(p, c)
        seen.update({s: [t.rsplit(".", 1)[-1] for t in found[s]] for s in SERVICES})
        return all(_in_order(seen[s], wanted[s]) for s in SERVICES)

    try:
        await eventually(published, timeout=p.timeout, interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"events of the reopened case {c}: {seen}") from e


def _in_order(published: list[str], expected: list[str]) -> bool:
    remaining = iter(published)
    return all(any(t == wanted for t in remaining) for wanted in expected)


async def race_reopening_and_withdrawal(p: Platform, n: int) -> None:
    """A reopening and another withdrawal at the same moment: one wins on intake's stream
    (the loser gets a 409 or 422 problem, never a lost update), and every service follows
    the case as intake ended it."""
    case = await open_case(p, n)
    await request_return(p, case)
    await withdraw(p, case, ticketed=False)
    c = case.case_id
    client = p.clients["intake"]
    reopened, withdrawn = await asyncio.gather(
        client.post(f"/cases/{c}/reopening", json=reopening(case), headers=CASEWORKER),
        client.post(f"/cases/{c}/withdrawal", json={"reason": "changed_mind"}, headers=CASEWORKER),
    )
    assert reopened.status_code in (200, 409), reopened.text
    assert withdrawn.status_code in (200, 409, 422), withdrawn.text
    for response in (reopened, withdrawn):
        if response.status_code != 200:
            assert response.headers["content-type"] == "application/problem+json"
    if reopened.status_code == 409:  # lost to nothing but a concurrent write: retried once
        reopened = await client.post(
            f"/cases/{c}/reopening", json=reopening(case), headers=CASEWORKER
        )
    # The answers say which came last on the case's stream: a withdrawal is accepted only on
    # a case the reopening had opened again (on a withdrawn case it is refused with 422).
    # The case's status is a projection and may show the case as it was for a moment.
    final = "withdrawn" if withdrawn.status_code == 200 else "suspended_by_consent"

    async def settled() -> bool:
        case_file = await client.get(f"/cases/{c}", headers=CASEWORKER)
        return bool(case_file.json()["status"] == final)

    await eventually(settled, timeout=p.timeout)
    if final == "withdrawn":
        # The withdrawal came after the reopening: everything stops again.
        async def stopped() -> bool:
            doc = await p.get("eligibility", f"/assessments/{c}", CASEWORKER)
            return str(doc.json().get("closed_reason", "")).startswith("case withdrawn")

        await eventually(stopped, timeout=p.timeout)
    else:
        await p.case_shows(
            "eligibility",
            c,
            lambda d: str(d.get("closed_reason", "")).startswith("case reopened"),
            hop="race -> eligibility",
            since=0.0,
        )


async def test_a_reopened_case_returns_home(platform_on_each_stack: Platform) -> None:
    case = await reopened_journey(platform_on_each_stack, n=1)
    await assert_one_history(platform_on_each_stack, case)
    await race_reopening_and_withdrawal(platform_on_each_stack, n=2)
