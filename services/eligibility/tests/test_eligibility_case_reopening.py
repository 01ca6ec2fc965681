"""Intake's CaseReopened takes a withdrawn case's assessment up again, on its own stream:
without the clearance or best-interests determinations of before (the person is cleared
again, and a destination suspended meanwhile refuses it), waiting for ReturnResumed when it
had a request, or for the next ReturnRequested when it had none. On real PostgreSQL and
Kafka (the ``eligibility`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eligibility_fixtures import (
    SUPERVISOR,
    Eligibility,
    adult,
    checklist_json,
    household_json,
    return_requested,
    unaccompanied_child,
)


def _at() -> str:
    return datetime.now(UTC).isoformat()


def _withdrawn(case_id: str) -> dict[str, Any]:
    return {"case_id": case_id, "reason": "changed_mind", "withdrawn_at": _at()}


def _reopened(case_id: str, *, resumes_return: bool) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "previous_status": "withdrawn",
        "resumes_return": resumes_return,
        "reason": "person_returned",
        "recorded_by": "caseworker-7",
        "reopened_at": _at(),
    }


async def test_a_reopened_case_is_assessed_again_and_cleared_afresh(
    eligibility: Eligibility,
) -> None:
    http, c = eligibility.http, "reopen-1"
    household = household_json(adult("p1"), unaccompanied_child("c1"))
    await eligibility.from_intake("ReturnRequested", return_requested(c, household=household))
    await eligibility.assessment(c, status="eligible")
    bid = {"person_id": "c1", "outcome": "return_in_best_interests"}
    assert (
        await http.post(f"/assessments/{c}/best-interests-determinations", json=bid)
    ).status_code == 201
    checklist = checklist_json(family_or_receiving_contact_reached=True)
    cleared = await http.post(f"/assessments/{c}/due-diligence", json=checklist)
    assert cleared.status_code == 200, cleared.text
    await eligibility.assessment(c, status="cleared")

    await eligibility.from_intake("CaseWithdrawn", _withdrawn(c))
    await eligibility.assessment(c, status="closed")

    # Reopened at intake: the return waits for every member's consent, and so does this.
    await eligibility.from_intake("CaseReopened", _reopened(c, resumes_return=True))
    waiting = await eligibility.assessment(
        c, closed_reason="case reopened at intake: waits for every member's consent"
    )
    assert waiting["status"] == "closed" and waiting["best_interests_determinations"] == {}
    refused = await http.post(f"/assessments/{c}/due-diligence", json=checklist)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"

    # Every consent given again: decided again, and cleared afresh (nothing resurrected).
    await eligibility.from_intake("ReturnResumed", {"case_id": c, "resumed_at": _at()})
    doc = await eligibility.assessment(c, status="eligible")
    assert doc["closed_reason"] is None and doc["cleared_at"] is None
    missing_bid = await http.post(f"/assessments/{c}/due-diligence", json=checklist)
    assert missing_bid.status_code == 200, missing_bid.text
    assert missing_bid.json()["events"][-1] == "avrr.eligibility.DueDiligenceRejected"
    assert any("best-interests" in r for r in missing_bid.json()["reasons"]), missing_bid.text

    # A destination suspended since the old clearance refuses the new one.
    suspension = {"destination_country": "HN", "reason": "floods on the return route"}
    suspended = await http.post("/destinations/suspensions", json=suspension, headers=SUPERVISOR)
    assert suspended.status_code == 201, suspended.text
    assert (
        await http.post(f"/assessments/{c}/best-interests-determinations", json=bid)
    ).status_code == 201
    held = await http.post(f"/assessments/{c}/due-diligence", json=checklist)
    assert held.status_code == 200 and any("suspended" in r for r in held.json()["reasons"])
    reopening = {**suspension, "reason": "the road is open again"}
    reopened = await http.post("/destinations/reopenings", json=reopening, headers=SUPERVISOR)
    assert reopened.status_code == 200, reopened.text
    again = await http.post(f"/assessments/{c}/due-diligence", json=checklist)
    assert again.status_code == 200, again.text
    assert again.json()["events"][-1] == "avrr.eligibility.DueDiligenceCleared"
    await eligibility.assessment(c, status="cleared")

    # 16 events of the case, a suspension and a reopening of its destination.
    events = await eligibility.published(18, timeout=10)
    mine = [
        (e.type.removeprefix("avrr.eligibility."), e.data.get("cause"))
        for e in events
        if e.subject == c
    ]
    reopened_at = mine.index(("AssessmentReopened", "case_reopened"))
    assert mine[reopened_at - 1] == ("AssessmentClosed", "case_withdrawn"), mine
    assert mine[reopened_at + 1 : reopened_at + 3] == [
        ("AssessmentReopened", None),
        ("EligibilityDecided", None),
    ], mine
    assert mine.count(("DueDiligenceCleared", None)) == 2 and mine[-1][0] == "DueDiligenceCleared"
    streams = {e.subject for e in events if e.type.endswith("AssessmentReopened")}
    assert streams == {c}, "one history: the same stream goes on"
    [taken_up] = [e for e in events if e.data.get("cause") == "case_reopened"]
    assert taken_up.data["cleared"] is False and taken_up.data["awaits_consent"] is True


async def test_a_case_reopened_before_it_applied_is_assessed_on_its_first_request(
    eligibility: Eligibility,
) -> None:
    c = "reopen-2"
    await eligibility.from_intake("CaseWithdrawn", _withdrawn(c))
    await eligibility.from_intake("CaseReopened", _reopened(c, resumes_return=False))
    await eligibility.from_intake("ReturnRequested", return_requested(c))
    doc = await eligibility.assessment(c, status="eligible")
    assert doc["version"] == 2, "the assessment's own events: opened, decided"
    types = [
        e.type.removeprefix("avrr.eligibility.")
        for e in await eligibility.published(4, timeout=10)
        if e.subject == c
    ]
    assert types == [
        "AssessmentClosed",
        "AssessmentReopened",
        "AssessmentOpened",
        "EligibilityDecided",
    ], types


async def test_a_reopening_then_a_withdrawal_at_once_end_withdrawn(
    eligibility: Eligibility,
) -> None:
    """Intake settles the race (one of the two commands wins on the case's stream); what
    reaches eligibility is then in order: a withdrawal after the reopening closes it again,
    and a ReturnResumed of before it reopens nothing."""
    c = "reopen-3"
    await eligibility.from_intake("ReturnRequested", return_requested(c))
    await eligibility.assessment(c, status="eligible")
    await eligibility.from_intake("CaseWithdrawn", _withdrawn(c))
    await eligibility.from_intake("CaseReopened", _reopened(c, resumes_return=True))
    await eligibility.from_intake("CaseWithdrawn", _withdrawn(c))
    await eligibility.from_intake("ReturnResumed", {"case_id": c, "resumed_at": _at()})
    # The marker shares the case's key, so its partition: read after every event above.
    await eligibility.from_intake("ReturnRequested", return_requested("reopen-3-marker"), subject=c)
    await eligibility.assessment("reopen-3-marker")
    doc = await eligibility.assessment(c, status="closed")
    assert doc["closed_reason"].startswith("case withdrawn at intake"), doc
    due = await eligibility.http.post(f"/assessments/{c}/due-diligence", json=checklist_json())
    assert due.status_code == 409, due.text
