"""A return request amended before clearance is assessed again; after clearance it is refused.

Intake's ReturnRequestAmended (another destination, region or programme hint)
reaches the assessment through Kafka. Before due diligence cleared the return,
eligibility re-assesses the request for the new destination (AssessmentAmended,
EligibilityDecided) and a suspension of returns to the new region holds it;
after clearance it records AmendmentRefused naming the destination cleared. A
clearance raced with an amendment is settled on the assessment's stream: never
a clearance for a destination the request no longer names.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from eligibility_fixtures import SUPERVISOR, Eligibility, checklist_json, return_requested

from avrr_events.testing import eventually

CLEARED = "avrr.eligibility.DueDiligenceCleared"
AMENDED = "avrr.eligibility.AssessmentAmended"
REFUSED = "avrr.eligibility.AmendmentRefused"


def amendment(case_id: str, region: str | None, **more: Any) -> dict[str, Any]:
    """intake's ReturnRequestAmended as published (with a field eligibility ignores)."""
    return {
        "case_id": case_id,
        "amendment_id": str(uuid.uuid4()),
        "destination_country": "HN",
        "destination_region": region,
        "programme_hint": None,
        "changed": ["destination_region"],
        "reason": "family_situation",
        "amended_by": "caseworker-1",
        "amended_at": datetime.now(UTC).isoformat(),
        **more,
    }


async def assessed_to_cortes(eligibility: Eligibility) -> str:
    """A new case whose return to Cortés intake requested and eligibility assessed; its id."""
    case_id = f"amend-{uuid.uuid4()}"
    await eligibility.from_intake("ReturnRequested", return_requested(case_id, region="Cortés"))
    await eligibility.assessment(case_id)
    return case_id


async def stream(eligibility: Eligibility, case_id: str) -> list[Any]:
    return [r.envelope for r in await eligibility.runtime.store.load(f"assessment-{case_id}")]


async def until_recorded(eligibility: Eligibility, case_id: str, event_type: str) -> list[Any]:
    """The assessment's events once one of ``event_type`` is among them."""
    found: list[Any] = []

    async def recorded() -> bool:
        found[:] = await stream(eligibility, case_id)
        return any(e.type == event_type for e in found)

    await eventually(recorded, timeout=30)
    return found


async def test_an_amended_region_is_assessed_again_and_its_suspension_holds_the_clearance(
    eligibility: Eligibility,
) -> None:
    case_id = await assessed_to_cortes(eligibility)
    suspension = {
        "destination_country": "HN",
        "destination_region": "Atlántida",
        "reason": "flooding closed the roads",
    }
    r = await eligibility.http.post(
        "/destinations/suspensions", json=suspension, headers=SUPERVISOR
    )
    assert r.status_code == 201, r.text

    await eligibility.from_intake("ReturnRequestAmended", amendment(case_id, "HN-AT"))
    events = await until_recorded(eligibility, case_id, AMENDED)
    # Assessed again: a new decision follows the amendment.
    types = [e.type for e in events]
    assert types[types.index(AMENDED) + 1] == "avrr.eligibility.EligibilityDecided", types
    row = await eligibility.assessment(case_id, destination_region="HN-AT")
    assert row["destination_country"] == "HN"

    # The suspension of the new region holds the case; the old region's would not have.
    r = await eligibility.http.post(f"/assessments/{case_id}/due-diligence", json=checklist_json())
    assert r.status_code == 200, r.text
    assert r.json()["events"][-1] == "avrr.eligibility.DueDiligenceRejected", r.text
    reopening = {
        "destination_country": "HN",
        "destination_region": "Atlántida",
        "reason": "roads open",
    }
    r = await eligibility.http.post("/destinations/reopenings", json=reopening, headers=SUPERVISOR)
    assert r.status_code == 200, r.text


async def test_an_amendment_after_clearance_is_refused_naming_the_destination_cleared(
    eligibility: Eligibility,
) -> None:
    case_id = await assessed_to_cortes(eligibility)
    r = await eligibility.http.post(f"/assessments/{case_id}/due-diligence", json=checklist_json())
    assert r.json()["events"][-1] == CLEARED, r.text

    await eligibility.from_intake("ReturnRequestAmended", amendment(case_id, "Atlántida"))
    events = await until_recorded(eligibility, case_id, REFUSED)
    refused = next(e for e in events if e.type == REFUSED)
    assert refused.data["destination_country"] == "HN"
    assert refused.data["destination_region"] == "Cortés"
    assert AMENDED not in [e.type for e in events]
    row = await eligibility.assessment(case_id, status="cleared")
    assert row["destination_region"] == "Cortés"


async def test_a_clearance_raced_with_an_amendment_never_clears_a_destination_no_longer_asked(
    eligibility: Eligibility,
) -> None:
    """Each case: the checklist and the amendment at the same moment. Whichever the
    assessment's stream takes first, the other follows from it: the clearance names the
    amended region, or the amendment is refused, or the clearance fails with 409 (its
    state moved on) and nothing of it is written."""
    cases = [f"race-{uuid.uuid4()}" for _ in range(6)]
    for case_id in cases:
        await eligibility.from_intake("ReturnRequested", return_requested(case_id, region="Cortés"))
    for case_id in cases:
        await eligibility.assessment(case_id)

    async def clear(case_id: str) -> int:
        r = await eligibility.http.post(
            f"/assessments/{case_id}/due-diligence", json=checklist_json()
        )
        assert r.status_code in (200, 409), r.text
        return r.status_code

    answers = await asyncio.gather(
        *(clear(c) for c in cases),
        *(
            eligibility.from_intake("ReturnRequestAmended", amendment(c, "Atlántida"))
            for c in cases
        ),
    )
    codes = dict(zip(cases, answers[: len(cases)], strict=True))

    async def settled(case_id: str) -> list[Any]:
        found: list[Any] = []

        async def done() -> bool:
            found[:] = await stream(eligibility, case_id)
            return any(e.type in (AMENDED, REFUSED) for e in found)

        await eventually(done, timeout=30)
        return found

    for case_id in cases:
        events = await settled(case_id)
        types = [e.type for e in events]
        region = "Cortés"
        for e in events:
            if e.type == AMENDED:
                region = e.data["destination_region"]
            if e.type == CLEARED:
                assert e.data["destination_region"] == region, types
        if REFUSED in types:
            assert types.index(CLEARED) < types.index(REFUSED), types
            assert AMENDED not in types, types
        else:
            assert AMENDED in types, types
            assert (CLEARED in types) == (codes[case_id] == 200), (codes[case_id], types)
