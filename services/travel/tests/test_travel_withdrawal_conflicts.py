"""A ticket or departure that reached travel inside its withdrawal window is never silent.

Intake's withdrawal reaches travel on Kafka; a command accepted in between is
flagged (WithdrawalConflictDetected) when travel learns of it, listed for the
office's supervisors until one resolves it with a code and a reason; once
travel knows of the withdrawal it refuses what the withdrawal forbids. The
withdrawal's time is the event's ``withdrawn_at`` (set here, as intake does).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from travel_fixtures import OFFICER, RECEIVING_OFFICE, Travel, ticket

from avrr_events import Envelope
from avrr_events.harness import supervisor
from avrr_events.testing import eventually

DETECTED = "avrr.travel.WithdrawalConflictDetected"
RESOLVED = "avrr.travel.WithdrawalConflictResolved"
SUPERVISOR = supervisor("GT-GUA")


async def withdraw_case(travel: Travel, case: str, withdrawn_at: datetime) -> Envelope:
    envelope = await travel.withdraw_case(case, withdrawn_at)
    await travel.handled(envelope)
    return envelope


async def ticketed(travel: Travel, case: str) -> None:
    await travel.opened(case)
    await travel.make_ready(case, ["p-mother", "p-daughter"])
    r = await travel.post(f"/movements/{case}/ticket", ticket(days_ahead=0))
    assert r.status_code == 200, r.text


async def conflicts(travel: Travel, status: str = "open") -> list[dict[str, Any]]:
    return await travel.withdrawal_conflicts("GT-GUA", status)


async def test_a_departure_recorded_after_the_withdrawal_is_flagged_until_resolved(
    travel: Travel,
) -> None:
    case = "case-late-departure"
    await ticketed(travel, case)
    withdrawn_at = datetime.now(UTC)  # intake records the withdrawal ...
    departed = await travel.post(f"/movements/{case}/departure", {})  # ... travel knows nothing
    assert departed.status_code == 200 and departed.json()["status"] == "departed", departed.text
    withdrawal = await withdraw_case(travel, case, withdrawn_at)

    found = await travel.events(subject=case, wanted=DETECTED)
    departure = next(e for e in found if e.type == "avrr.travel.DepartureConfirmed")
    [flag] = [e for e in found if e.type == DETECTED]
    assert flag.data["command"] == "departure"
    assert flag.data["conflicting_event_id"] == departure.id
    assert flag.data["withdrawal_event_id"] == withdrawal.id
    assert datetime.fromisoformat(flag.data["withdrawn_at"]) == withdrawn_at
    assert datetime.fromisoformat(flag.data["recorded_at"]) > withdrawn_at
    # The household is on its way: travel does not pretend otherwise.
    assert (await travel.movement(case) or {})["status"] == "departed"

    # On the office's supervisors' list until resolved; no other role sees the list.
    async def listed() -> bool:
        return [c["conflict_id"] for c in await conflicts(travel)] == [departure.id]

    await eventually(listed, timeout=30)
    [item] = await conflicts(travel)
    assert (item["case_id"], item["command"], item["office"]) == (case, "departure", "GT-GUA")
    officer = await travel.http.get(
        "/withdrawal-conflicts", params={"office": "GT-GUA"}, headers=OFFICER
    )
    assert officer.status_code == 403

    # The same withdrawal again (redelivered, or the consent withdrawn too) flags nothing new.
    again = await travel.withdraw_consent(case, "return_assistance_processing", withdrawn_at)
    await travel.handled(again)

    path = f"/movements/{case}/withdrawal-conflicts/{departure.id}/resolution"
    wrong = await travel.post(path, {"resolution": "ticket_cancelled", "reason": "x"}, SUPERVISOR)
    assert wrong.status_code == 422 and "departure" in wrong.json()["detail"], wrong.text
    unknown = await travel.post(
        f"/movements/{case}/withdrawal-conflicts/no-such-event/resolution",
        {"resolution": "departure_undone", "reason": "x"},
        SUPERVISOR,
    )
    assert unknown.status_code == 404, unknown.text
    by_officer = await travel.post(path, {"resolution": "departure_undone", "reason": "x"})
    assert by_officer.status_code == 403
    reason = "She got off the bus at the border and went back to her sister's."
    resolved = await travel.post(
        path, {"resolution": "departure_undone", "reason": reason}, SUPERVISOR
    )
    assert resolved.status_code == 200, resolved.text
    twice = await travel.post(path, {"resolution": "departure_undone", "reason": "y"}, SUPERVISOR)
    assert twice.status_code == 422 and "already resolved" in twice.json()["detail"]

    after = await travel.events(subject=case, wanted=RESOLVED)
    assert [e.type for e in after].count(DETECTED) == 1
    [resolution] = [e for e in after if e.type == RESOLVED]
    assert resolution.data["resolution"] == "departure_undone"
    assert resolution.data["resolved_by"] == "supervisor-1"
    assert "sister" not in str(resolution.data)  # the reason is personal: encrypted

    async def off_the_list() -> bool:
        return await conflicts(travel) == []

    await eventually(off_the_list, timeout=30)
    [done] = await conflicts(travel, "resolved")
    assert (done["resolution"], done["reason"], done["resolved_by"]) == (
        "departure_undone",
        reason,
        "supervisor-1",
    )


async def test_a_departure_before_the_withdrawal_is_no_conflict(travel: Travel) -> None:
    case = "case-early-departure"
    await ticketed(travel, case)
    departed = await travel.post(f"/movements/{case}/departure", {})
    assert departed.status_code == 200, departed.text
    await withdraw_case(travel, case, datetime.now(UTC))

    found = await travel.events(subject=case)
    assert DETECTED not in [e.type for e in found]
    assert (await travel.movement(case) or {})["status"] == "departed"
    assert await conflicts(travel, "all") == []


async def test_a_ticket_issued_after_the_withdrawal_is_cancelled_and_flagged(
    travel: Travel,
) -> None:
    case = "case-late-ticket"
    await travel.opened(case)
    await travel.make_ready(case, ["p-mother", "p-daughter"])
    withdrawn_at = datetime.now(UTC)
    issued = await travel.post(f"/movements/{case}/ticket", ticket())
    assert issued.status_code == 200, issued.text
    await withdraw_case(travel, case, withdrawn_at)

    found = await travel.events(subject=case, wanted=DETECTED)
    types = [e.type for e in found]
    assert types[-2:] == ["avrr.travel.MovementCancelled", DETECTED], types
    issued_event = next(e for e in found if e.type == "avrr.travel.TicketIssued")
    assert found[-1].data["command"] == "ticket"
    assert found[-1].data["conflicting_event_id"] == issued_event.id


async def test_once_travel_knows_of_the_withdrawal_it_refuses_ticket_departure_and_arrival(
    travel: Travel,
) -> None:
    preparing, booked = "case-known-1", "case-known-2"
    await travel.opened(preparing)
    await travel.make_ready(preparing, ["p-mother", "p-daughter"])
    await ticketed(travel, booked)
    for case in (preparing, booked):
        await withdraw_case(travel, case, datetime.now(UTC))
        version = await travel.stream_version(case)
        arrival = {"confirmed_by": "receiving_office", "confirmer_id": "HN-SPS"}
        for path, body, who in (
            ("ticket", ticket(), OFFICER),
            ("departure", {}, OFFICER),
            ("arrival", arrival, RECEIVING_OFFICE),
        ):
            r = await travel.post(f"/movements/{case}/{path}", body, who)
            assert r.status_code == 422, (case, path, r.text)
            assert r.json()["movement_status"] == "cancelled", r.text
        assert await travel.stream_version(case) == version  # nothing written
        assert DETECTED not in [e.type for e in await travel.events(subject=case)]
