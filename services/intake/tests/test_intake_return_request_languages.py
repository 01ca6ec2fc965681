"""Issue 19: the return request tells eligibility (and through it travel) the languages the
household reads, so that the notices they give the person are in one of them."""

from __future__ import annotations

from intake_fixtures import Intake


async def test_the_return_request_carries_the_referrals_languages(intake: Intake) -> None:
    case_id, _mother, _child = await intake.return_requested()
    [requested] = [
        r.envelope
        for r in await intake.runtime.store.load(f"case-{case_id}")
        if r.envelope.type == "avrr.intake.ReturnRequested"
    ]
    assert requested.data["languages"] == ["es", "qu"]  # the referral's, in its order
