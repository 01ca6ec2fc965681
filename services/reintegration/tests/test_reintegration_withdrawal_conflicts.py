"""A disbursement that reached reintegration inside its withdrawal window is never silent.

Intake's CaseWithdrawn reaches reintegration on Kafka; a disbursement recorded
after the withdrawal's time (``withdrawn_at``) but before reintegration learnt
of it is flagged when it does (WithdrawalConflictDetected), listed for the
office's supervisors until one resolves it with a code and a reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from reintegration_fixtures import OFFICER, RunningReintegration, plan

from avrr_events.harness import supervisor
from avrr_events.testing import eventually

DETECTED = "avrr.reintegration.WithdrawalConflictDetected"
RESOLVED = "avrr.reintegration.WithdrawalConflictResolved"
DISBURSED = "avrr.reintegration.AssistanceDisbursed"
SUPERVISOR = supervisor("BR-BSB")


async def withdraw(r: RunningReintegration, case_id: str, withdrawn_at: datetime) -> None:
    await r.withdraw_case(case_id, withdrawn_at)
    await r.wait_for(case_id, status="withdrawn")


async def conflicts(r: RunningReintegration, status: str = "open") -> list[dict[str, Any]]:
    return await r.withdrawal_conflicts("BR-BSB", status)


async def test_a_disbursement_after_the_withdrawal_is_flagged_until_resolved(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    await r.arrive("c1")
    await r.agree_plan("c1", plan())
    assert (await r.disburse("c1", "50.00")).status_code == 201  # before: no conflict
    withdrawn_at = datetime.now(UTC)
    late = await r.disburse("c1", "120.00")  # reintegration does not know yet
    assert late.status_code == 201, late.text
    await withdraw(r, "c1", withdrawn_at)

    found = await r.events(subject="c1", wanted=DETECTED)
    paid = [e for e in found if e.type == DISBURSED]
    [flag] = [e for e in found if e.type == DETECTED]
    assert flag.data["command"] == "disbursement"
    assert flag.data["conflicting_event_id"] == paid[1].id  # the 120.00, not the 50.00
    assert datetime.fromisoformat(flag.data["withdrawn_at"]) == withdrawn_at

    async def listed() -> bool:
        return [c["conflict_id"] for c in await conflicts(r)] == [paid[1].id]

    await eventually(listed, timeout=30)
    denied = await r.http.get("/withdrawal-conflicts", params={"office": "BR-BSB"}, headers=OFFICER)
    assert denied.status_code == 403

    # Refused once reintegration knows, like every command: disbursement and plan.
    assert (await r.disburse("c1", "10.00")).status_code == 422
    components = [c.model_dump(mode="json") for c in plan()]
    revised = await r.post(
        "/cases/c1/plan", {"components": components, "agreed_at": datetime.now(UTC).isoformat()}
    )
    assert revised.status_code == 422 and "withdrawn" in revised.json()["detail"], revised.text

    path = f"/cases/c1/withdrawal-conflicts/{paid[1].id}/resolution"
    in_spanish = {**SUPERVISOR, "Accept-Language": "es"}  # the library's refusal, worded
    wrong = await r.post(path, {"resolution": "departure_undone", "reason": "x"}, in_spanish)
    assert wrong.status_code == 422, wrong.text
    assert wrong.headers["content-language"] == "es"
    assert wrong.json()["detail"].startswith(
        "'departure_undone' no resuelve un conflicto de tipo disbursement (uno de: "
    )
    reason = "The transfer was reversed by the mobile money provider."
    done = await r.post(
        path, {"resolution": "disbursement_recovered", "reason": reason}, SUPERVISOR
    )
    assert done.status_code == 200, done.text
    after = await r.events(subject="c1", wanted=RESOLVED)
    [resolution] = [e for e in after if e.type == RESOLVED]
    assert resolution.data["resolution"] == "disbursement_recovered"
    assert "provider" not in str(resolution.data)

    async def resolved() -> bool:
        return await conflicts(r) == []

    await eventually(resolved, timeout=30)
    [item] = await conflicts(r, "resolved")
    assert (item["resolution"], item["reason"]) == ("disbursement_recovered", reason)


async def test_a_disbursement_after_the_return_consent_was_withdrawn_is_flagged(
    reintegration: RunningReintegration,
) -> None:
    """The consent to process the return withdrawn suspends the return: a disbursement
    recorded after it (before reintegration learnt of it) is flagged too."""
    r = reintegration
    await r.arrive("c2")
    await r.agree_plan("c2", plan())
    withdrawn_at = datetime.now(UTC)
    assert (await r.disburse("c2", "80.00")).status_code == 201
    await r.withdraw_consent("c2", "return_assistance_processing", withdrawn_at)
    found = await r.events(subject="c2", wanted=DETECTED)
    [paid] = [e for e in found if e.type == DISBURSED]
    [flag] = [e for e in found if e.type == DETECTED]
    assert (flag.data["withdrawal"], flag.data["conflicting_event_id"]) == (
        "consent_withdrawn",
        paid.id,
    )
    refused = await r.disburse("c2", "10.00")  # suspended from then on
    assert refused.status_code == 422 and "suspended" in refused.json()["detail"]
