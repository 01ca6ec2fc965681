"""Intake's CaseReopened lifts the stop of a withdrawn case, on the same stream
(ReintegrationReopened). Withdrawn before its arrival, its arrival then decides as for any
case; withdrawn after it (its place freed), it is admitted again and goes on: the person's
return is theirs to take up again. On real PostgreSQL and Kafka."""

from __future__ import annotations

from reintegration_fixtures import ARRIVED, RunningReintegration, plan

STOPPED = "avrr.reintegration.ReintegrationStopped"
REOPENED = "avrr.reintegration.ReintegrationReopened"
DECIDED = "avrr.reintegration.ReintegrationEligibilityDecided"


async def _from_intake(r: RunningReintegration, event: str, case_id: str, **data: object) -> None:
    await r.publish("intake", f"avrr.intake.{event}", case_id, {"case_id": case_id, **data})


async def reopen(r: RunningReintegration, case_id: str) -> None:
    await _from_intake(
        r,
        "CaseReopened",
        case_id,
        previous_status="withdrawn",
        resumes_return=True,
        reason="person_returned",
        recorded_by="caseworker-7",
        reopened_at=ARRIVED.isoformat(),
    )


async def test_a_case_withdrawn_before_its_arrival_is_decided_on_it_after_the_reopening(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    await r.withdraw_case("ro1", ARRIVED)
    await r.events(subject="ro1", wanted=STOPPED)
    await reopen(r, "ro1")
    await r.events(subject="ro1", wanted=REOPENED)
    await r.arrive("ro1")
    decided = await r.wait_for("ro1", status="granted")
    assert decided["decision"] == "granted"
    await r.agree_plan("ro1", plan())
    assert (await r.disburse("ro1", "50.00")).status_code == 201
    types = [e.envelope.type for e in await r.runtime.store.load("reintegration-ro1")]
    assert types[:3] == [STOPPED, REOPENED, DECIDED], "one stream: the stop, its lifting, on"


async def test_a_case_decided_before_its_withdrawal_goes_on_after_the_reopening(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    await r.arrive("ro2")
    await r.withdraw_case("ro2", ARRIVED)
    await r.wait_for("ro2", status="withdrawn")
    refused = await r.disburse("ro2", "10.00")
    assert refused.status_code == 422 and "withdrawn" in refused.json()["detail"]
    await reopen(r, "ro2")
    again = await r.wait_for("ro2", status="granted")
    assert again["decision"] == "granted" and again["reason"].startswith("case reopened"), again
    await r.agree_plan("ro2", plan())
    assert (await r.disburse("ro2", "10.00")).status_code == 201
    types = [e.envelope.type for e in await r.runtime.store.load("reintegration-ro2")]
    assert types[:4] == [DECIDED, STOPPED, REOPENED, DECIDED], types


async def test_a_withdrawal_after_the_reopening_stops_it_again(
    reintegration: RunningReintegration,
) -> None:
    """Intake settles a reopening racing a withdrawal on the case's stream; whatever order it
    recorded them in reaches reintegration in that order (one partition per case)."""
    r = reintegration
    await r.withdraw_case("ro3", ARRIVED)
    await reopen(r, "ro3")
    await r.withdraw_case("ro3", ARRIVED)
    await r.events(subject="ro3", wanted=STOPPED, count=2)
    await r.arrive("ro3", wait=False)
    await r.taken_in("ro3", "avrr.travel.ArrivalConfirmed", 1)
    assert await r.case("ro3") is None
    types = [e.envelope.type for e in await r.runtime.store.load("reintegration-ro3")]
    assert types == [STOPPED, REOPENED, STOPPED], types
