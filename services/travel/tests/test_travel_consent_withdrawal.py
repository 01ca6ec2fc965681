"""Withdrawn consents take effect in travel at once (intake's ConsentWithdrawn on Kafka)."""

from __future__ import annotations

from datetime import UTC, datetime

from travel_fixtures import MEDIC, Travel

from avrr_events import Envelope


async def withdraw_consent(
    travel: Travel, case: str, purpose: str, person_id: str | None = None
) -> Envelope:
    return await travel.publish(
        "intake",
        "avrr.intake.ConsentWithdrawn",
        case,
        {
            "case_id": case,
            "person_id": person_id,
            "purpose": purpose,
            "withdrawn_at": datetime.now(UTC).isoformat(),
            "recorded_by": "caseworker-1",
        },
    )


async def test_withdrawn_medical_consent_stops_health_details(travel: Travel) -> None:
    case = "case-medical-consent"
    await travel.opened(case)
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
