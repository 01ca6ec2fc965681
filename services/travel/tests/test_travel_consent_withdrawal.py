"""Withdrawn consents take effect in travel at once (intake's ConsentWithdrawn on Kafka)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from travel_fixtures import MEDIC, Travel, ticket

from avrr_events import Envelope


async def withdraw_consent(
    travel: Travel, case: str, purpose: str, person_id: str | None = None
) -> Envelope:
    return await travel.withdraw_consent(case, purpose, datetime.now(UTC), person_id=person_id)


async def test_withdrawn_medical_consent_stops_health_details(travel: Travel) -> None:
    case = "case-medical-consent"
    await travel.opened(case)
    await travel.consent_to_medical_data(case, "p-mother", "p-daughter")
    for pid in ("p-mother", "p-daughter"):
        r = await travel.post(
            f"/movements/{case}/fitness",
            {"person_id": pid, "outcome": "fit", "health_details": f"{pid}: asthma, inhaler"},
            MEDIC,
        )
        assert r.status_code == 200, r.text
    await travel.handled(
        await withdraw_consent(travel, case, "medical_data_processing", "p-mother")
    )

    # No new health details for her; the outcome alone is still recorded.
    r = await travel.post(
        f"/movements/{case}/fitness",
        {"person_id": "p-mother", "outcome": "fit", "health_details": "new findings"},
        MEDIC,
    )
    assert r.status_code == 422
    assert "consent" in r.json()["detail"]
    r = await travel.post(
        f"/movements/{case}/fitness", {"person_id": "p-mother", "outcome": "fit"}, MEDIC
    )
    assert r.status_code == 200, r.text
    version = r.json()["version"]
    await travel.wait_for(case, version=version)

    # Her earlier details are no longer shown, her daughter's still are.
    r = await travel.http.get(f"/movements/{case}/medical", headers=MEDIC)
    details = [(rec["person_id"], rec["health_details"]) for rec in r.json()["records"]]
    assert details == [
        ("p-mother", "consent_withdrawn"),
        ("p-daughter", "p-daughter: asthma, inhaler"),
        ("p-mother", None),
    ]


async def test_withdrawn_consent_to_return_processing_cancels_the_movement(
    travel: Travel,
) -> None:
    case = "case-return-consent"
    await travel.opened(case)
    # A purpose travel does not act on changes nothing (and is not dead-lettered).
    ignored = await withdraw_consent(travel, case, "contact_by_programme", "p-mother")
    await travel.handled(ignored)
    assert await travel.stream_version(case) == 1

    await withdraw_consent(travel, case, "return_assistance_processing")
    cancelled = await travel.wait_for(case, status="cancelled")
    assert cancelled["cancellation"]["reason"] == (
        "consent to the processing of the return withdrawn"
    )


def _assessment(case: str, event: str, **data: Any) -> tuple[str, str, dict[str, Any]]:
    return f"avrr.eligibility.{event}", case, {"case_id": case, **data}


async def test_consent_given_again_reinstates_the_movement_it_cancelled(travel: Travel) -> None:
    """Eligibility's AssessmentReopened (the consent given again) reinstates the movement
    where it stood, documents and fitness kept; the voided booking is gone."""
    case = "case-consent-again"
    await travel.opened(case)
    await travel.make_ready(case, ["p-mother", "p-daughter"])
    r = await travel.post(f"/movements/{case}/ticket", ticket())
    assert r.status_code == 200, r.text

    await withdraw_consent(travel, case, "return_assistance_processing")
    await travel.wait_for(case, status="cancelled")
    closed = await travel.publish(
        "eligibility",
        *_assessment(
            case,
            "AssessmentClosed",
            reason="consent to the processing of the return request withdrawn",
            closed_at=datetime.now(UTC).isoformat(),
            cause="consent_withdrawn",
        ),
    )
    await travel.handled(closed)
    reopened = await travel.publish(
        "eligibility",
        *_assessment(
            case, "AssessmentReopened", reopened_at=datetime.now(UTC).isoformat(), cleared=True
        ),
    )
    again = await travel.wait_for(case, status="preparing")
    assert again["booking"] is None and again["cancellation"] is None
    assert {t["travel_document"]["status"] for t in again["travellers"]} == {"obtained"}
    assert again["version"] == await travel.stream_version(case), "the ETag is the stream's"
    await travel.handled(reopened)
    r = await travel.post(f"/movements/{case}/ticket", ticket())
    assert r.status_code == 200, r.text
    types = [e.type for e in await travel.events(subject=case, wanted="avrr.travel.TicketIssued")]
    assert types.count("avrr.travel.MovementCancelled") == 1, "the closure cancelled nothing more"
    assert "avrr.travel.MovementReinstated" in types


async def test_a_clearance_kept_from_opening_by_a_withdrawn_consent_opens_after_it_is_given_again(
    travel: Travel,
) -> None:
    case = "case-consent-before-opening"
    await travel.handled(await withdraw_consent(travel, case, "return_assistance_processing"))
    await travel.handled(await travel.clear(case))  # cleared before eligibility learnt of it
    assert await travel.movement(case) is None
    reopened = await travel.publish(
        "eligibility",
        *_assessment(
            case, "AssessmentReopened", reopened_at=datetime.now(UTC).isoformat(), cleared=False
        ),
    )
    await travel.handled(reopened)
    opened = await travel.opened(case)
    assert opened["version"] == await travel.stream_version(case) == 3


async def test_a_withdrawn_case_is_never_reinstated(travel: Travel) -> None:
    case = "case-withdrawn-not-reinstated"
    await travel.opened(case)
    withdrawn = await travel.withdraw_case(case, datetime.now(UTC))
    await travel.handled(withdrawn)
    await travel.wait_for(case, status="cancelled")
    reopened = await travel.publish(
        "eligibility",
        *_assessment(
            case, "AssessmentReopened", reopened_at=datetime.now(UTC).isoformat(), cleared=True
        ),
    )
    await travel.handled(reopened)
    assert (await travel.movement(case) or {})["status"] == "cancelled"
