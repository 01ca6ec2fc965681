"""A case withdrawn after its arrival, then reopened: reintegration goes on (voluntariness).

The household arrived and reintegration granted it a place; then it withdrew (the stop
freed the place) and came back: intake's reopening, with the consents given again. The
person's return is theirs to take up again, after the arrival too:

- reintegration lifts the withdrawal's stop (ReintegrationReopened) and admits the case
  again with its arrival's facts: a place if one is free (here: granted again), and the
  plan of its reintegration can be agreed;
- travel's movement stays arrived: nothing starts over for a household already home.

Run on both stacks (four processes over PostgreSQL and Kafka, and the embedded default),
through the REST APIs only (tests/journey_steps.py).
"""

from __future__ import annotations

from journey_steps import (
    CASEWORKER,
    REINTEGRATION_OFFICER,
    TRAVEL_OFFICER,
    Case,
    Platform,
    case_events,
    case_through,
    clear,
    component,
    guardian_consent,
    plan,
    request_return,
    status,
    ticket,
    travel_home,
)
from test_case_reopening_across_services import phase, reopening

from avrr_events.testing import eventually


async def withdrawn_after_arrival(p: Platform, n: int) -> Case:
    """The household arrived (reintegration granted a place), then withdrew: reintegration
    stops, travel's movement stays arrived."""
    case = await case_through(p, request_return, clear, ticket, travel_home, n=n)
    c = case.case_id
    _, t = await p.post(
        "intake", f"/cases/{c}/withdrawal", {"reason": "changed_mind"}, CASEWORKER, expect=200
    )
    await p.case_shows(
        "reintegration", c, status("withdrawn"), hop="withdrawal -> reintegration", since=t
    )
    assert await phase(p, c) == "withdrawn"
    return case


async def reopened_goes_on(p: Platform, case: Case) -> None:
    """The mother comes back and consents again (and for her son): reintegration takes the
    case up where it stood, with its place again; the movement is still the arrived one."""
    c = case.case_id
    _, t = await p.post("intake", f"/cases/{c}/reopening", reopening(case), CASEWORKER, expect=200)
    await p.post("intake", f"/cases/{c}/consents", guardian_consent(case), CASEWORKER, expect=201)
    again = await p.case_shows(
        "reintegration",
        c,
        status("granted"),
        hop="reopening -> reintegration",
        since=t,
        cross_service=True,
    )
    assert again["decision"] == "granted", again
    assert str(again["reason"]).startswith("case reopened"), again
    agreed = plan(component("economic", "micro-business: tortillería", "300.00"))
    await p.post("reintegration", f"/cases/{c}/plan", agreed, REINTEGRATION_OFFICER, expect=201)
    movement = await p.get("travel", f"/movements/{c}", TRAVEL_OFFICER)
    assert movement.status_code == 200, movement.text
    assert movement.json()["status"] == "arrived", movement.json()

    wanted = [
        "ReintegrationEligibilityDecided",
        "ReintegrationStopped",
        "ReintegrationReopened",
        "ReintegrationEligibilityDecided",
        "ReintegrationPlanAgreed",
    ]
    seen: list[str] = []

    async def published() -> bool:
        found = await case_events(p, c)
        seen[:] = [e.rsplit(".", 1)[-1] for e in found["reintegration"]]
        remaining = iter(seen)
        return all(any(e == w for e in remaining) for w in wanted)

    try:
        await eventually(published, timeout=p.timeout, interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"reintegration's events of the reopened case {c}: {seen}") from e


async def test_a_case_reopened_after_arrival_goes_on(platform_on_each_stack: Platform) -> None:
    case = await withdrawn_after_arrival(platform_on_each_stack, n=3)
    await reopened_goes_on(platform_on_each_stack, case)
