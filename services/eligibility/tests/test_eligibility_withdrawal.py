"""CaseWithdrawn from intake closes the assessment; nothing more happens for the case."""

from __future__ import annotations

from datetime import UTC, datetime

from eligibility_fixtures import Eligibility, checklist_json, return_requested


async def test_withdrawal_stops_the_assessment(eligibility: Eligibility) -> None:
    http = eligibility.http
    await eligibility.from_intake("ReturnRequested", return_requested("wd-1"))
    await eligibility.assessment("wd-1", status="eligible")

    withdrawn = {
        "case_id": "wd-1",
        "reason": "changed_mind",
        "withdrawn_at": datetime.now(UTC).isoformat(),
        "withdrawn_by": "caseworker-7",
    }
    await eligibility.from_intake("CaseWithdrawn", withdrawn)
    doc = await eligibility.assessment("wd-1", status="closed")
    assert doc["closed_reason"] == "case withdrawn at intake (changed_mind)"

    # Every command on the closed assessment is a 409 problem, and writes nothing.
    commands = [
        ("/assessments/wd-1/due-diligence", checklist_json()),
        ("/assessments/wd-1/vulnerability-screenings", {"categories": []}),
        (
            "/assessments/wd-1/best-interests-determinations",
            {"person_id": "p1", "outcome": "return_in_best_interests"},
        ),
    ]
    for path, body in commands:
        response = await http.post(path, json=body)
        assert response.status_code in (409, 422), (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    due = await http.post("/assessments/wd-1/due-diligence", json=checklist_json())
    assert due.status_code == 409
    assert "closed" in due.json()["detail"]

    # A duplicate withdrawal and a late request change nothing either.
    await eligibility.from_intake("CaseWithdrawn", withdrawn)
    await eligibility.from_intake("ReturnRequested", return_requested("wd-1", nationality="SV"))
    # A marker case processed after them shows the consumer got past both.
    await eligibility.from_intake("ReturnRequested", return_requested("wd-marker"))
    await eligibility.assessment("wd-marker")

    events = await eligibility.published(5, timeout=10)
    mine = [e.type for e in events if e.subject == "wd-1"]
    assert mine == [
        "avrr.eligibility.AssessmentOpened",
        "avrr.eligibility.EligibilityDecided",
        "avrr.eligibility.AssessmentClosed",
    ]
    assert await eligibility.runtime.store.stream_version("assessment-wd-1") == 3


async def test_withdrawal_before_the_request_arrives_prevents_an_assessment(
    eligibility: Eligibility,
) -> None:
    await eligibility.from_intake(
        "CaseWithdrawn",
        {"case_id": "wd-2", "reason": "left_host_country", "withdrawn_at": "2026-11-20T10:00:00Z"},
    )
    await eligibility.from_intake("ReturnRequested", return_requested("wd-2"))
    await eligibility.from_intake("ReturnRequested", return_requested("wd-marker-2"))
    await eligibility.assessment("wd-marker-2")
    assert (await eligibility.http.get("/assessments/wd-2")).status_code == 404
    assert await eligibility.runtime.store.stream_version("assessment-wd-2") == 1


async def test_withdrawn_processing_consent_closes_the_assessment_other_purposes_do_not(
    eligibility: Eligibility,
) -> None:
    await eligibility.from_intake("ReturnRequested", return_requested("consent-1"))
    await eligibility.assessment("consent-1", status="eligible")
    sharing = {
        "case_id": "consent-1",
        "person_id": "p1",
        "purpose": "share_with_authorities",
        "withdrawn_at": "2026-11-22T09:00:00Z",
        "recorded_by": "caseworker-7",
    }
    await eligibility.from_intake("ConsentWithdrawn", sharing)
    await eligibility.from_intake(
        "ConsentWithdrawn", {**sharing, "purpose": "return_assistance_processing"}
    )
    doc = await eligibility.assessment("consent-1", status="closed")
    assert doc["closed_reason"] == "consent to the processing of the return request withdrawn"
    assert doc["version"] == 3


async def test_consent_given_again_reopens_the_assessment_a_case_withdrawal_never_does(
    eligibility: Eligibility,
) -> None:
    """ReturnResumed (intake: every consent the return needs given again) reopens an
    assessment a withdrawn consent closed, where it stood; one closed by a withdrawal
    of the case stays closed."""
    withdrawn = {
        "case_id": "resume-1",
        "person_id": None,
        "purpose": "return_assistance_processing",
        "withdrawn_at": "2026-11-22T09:00:00Z",
        "recorded_by": "caseworker-7",
        "reason": "safety_concerns",
    }
    resumed = {"case_id": "resume-1", "resumed_at": "2026-11-23T09:00:00Z"}
    await eligibility.from_intake("ReturnRequested", return_requested("resume-1"))
    await eligibility.assessment("resume-1", status="eligible")
    await eligibility.from_intake("ConsentWithdrawn", withdrawn)
    await eligibility.assessment("resume-1", status="closed")
    closed = await eligibility.http.post(
        "/assessments/resume-1/due-diligence", json=checklist_json()
    )
    assert closed.status_code == 409, closed.text

    await eligibility.from_intake("ReturnResumed", resumed)
    doc = await eligibility.assessment("resume-1", status="eligible")
    assert doc["closed_reason"] is None
    cleared = await eligibility.http.post(
        "/assessments/resume-1/due-diligence", json=checklist_json()
    )
    assert cleared.status_code in (200, 201), cleared.text

    # A case withdrawal closes for good: a ReturnResumed after it reopens nothing.
    await eligibility.from_intake(
        "CaseWithdrawn",
        {"case_id": "resume-1", "reason": "changed_mind", "withdrawn_at": "2026-11-24T09:00:00Z"},
    )
    await eligibility.assessment("resume-1", status="closed")
    await eligibility.from_intake("ReturnResumed", resumed)
    await eligibility.from_intake("ReturnRequested", return_requested("resume-marker"))
    await eligibility.assessment("resume-marker")
    assert (await eligibility.assessment("resume-1"))["status"] == "closed"

    events = await eligibility.published(9, timeout=10)
    mine = [(e.type, e.data.get("cause")) for e in events if e.subject == "resume-1"]
    assert mine == [
        ("avrr.eligibility.AssessmentOpened", None),
        ("avrr.eligibility.EligibilityDecided", None),
        ("avrr.eligibility.AssessmentClosed", "consent_withdrawn"),
        ("avrr.eligibility.AssessmentReopened", None),
        ("avrr.eligibility.DueDiligenceChecked", None),
        ("avrr.eligibility.DueDiligenceCleared", None),
        ("avrr.eligibility.AssessmentClosed", "case_withdrawn"),
    ]
