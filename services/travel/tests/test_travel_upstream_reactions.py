"""Travel's reactions to intake's and eligibility's events, fed through real Kafka topics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from travel_fixtures import Travel, member, ticket

from avrr_events.envelope import Envelope
from avrr_events.testing import read_topic

NOW = datetime.now(UTC).isoformat()


async def withdraw(travel: Travel, case: str) -> Envelope:
    # Now, after whatever the test recorded before: a ticket or departure recorded
    # after the withdrawal's time would be a withdrawal conflict.
    return await travel.withdraw_case(case, datetime.now(UTC), reason="decided to stay")


async def ticketed(travel: Travel, case: str) -> None:
    await travel.opened(case, [member(f"{case}-p", 30)])
    await travel.make_ready(case, [f"{case}-p"])
    r = await travel.post(f"/movements/{case}/ticket", ticket())
    assert r.status_code == 200, r.text


async def test_withdrawal_after_ticket_issued_cancels_the_movement(travel: Travel) -> None:
    case = "case-withdrawn"
    await ticketed(travel, case)
    await withdraw(travel, case)

    cancelled = await travel.wait_for(case, status="cancelled")
    assert cancelled["cancellation"]["reason"] == "case withdrawn: decided to stay"
    events = await travel.events(subject=case, wanted="avrr.travel.MovementCancelled")
    assert events[-1].data["reason"] == "case withdrawn: decided to stay"
    assert events[-1].causationid is not None  # caused by intake's CaseWithdrawn

    # Nothing more for that case: commands are refused, a repeated clearance opens nothing.
    r = await travel.post(f"/movements/{case}/departure", {})
    assert r.status_code == 422
    assert "cancelled" in r.json()["detail"]
    version = await travel.stream_version(case)
    again = await travel.clear(case, [member(f"{case}-p", 30)])
    twice = await withdraw(travel, case)  # a second withdrawal (another event id): no change
    await travel.handled(again, twice)
    assert await travel.stream_version(case) == version
    board = await travel.wait_for(case, status="cancelled")
    assert board["version"] == version


async def test_withdrawal_before_clearance_prevents_the_movement(travel: Travel) -> None:
    case = "case-withdrawn-early"
    await withdraw(travel, case)
    await travel.events(subject=case, wanted="avrr.travel.CaseWithdrawalNoted")
    await travel.handled(await travel.clear(case))
    assert await travel.movement(case) is None
    assert await travel.stream_version(case) == 1


async def test_suspension_holds_the_movement_until_the_destination_reopens(
    travel: Travel,
) -> None:
    case = "case-held"
    other = "case-elsewhere"
    await ticketed(travel, case)
    await travel.opened(other)
    r = await travel.post(f"/movements/{other}/cancellation", {"reason": "duplicate case"})
    assert r.status_code == 200
    await travel.suspend_destination("HN")

    held = await travel.wait_for(case, held=True)
    assert "destination HN suspended: hurricane" in held["hold_reason"]
    events = await travel.events(subject=case, wanted="avrr.travel.MovementHeld")
    assert events[-1].data["reason"] == held["hold_reason"]
    r = await travel.post(f"/movements/{case}/departure", {})
    assert r.status_code == 422
    assert "held" in r.json()["detail"]

    # A movement opened while its destination is suspended is held from the start.
    late = "case-opened-while-suspended"
    await travel.clear(late)
    late_view = await travel.wait_for(late, status="preparing", held=True)
    assert late_view["version"] == 2  # MovementOpened, MovementHeld
    # A cancelled movement is not held.
    assert (await travel.wait_for(other, status="cancelled"))["held"] is False

    # A regional reopening does not lift a country-wide suspension.
    await travel.reopen_destination("HN", "Cortes")
    await travel.reopen_destination("HN")
    await travel.wait_for(case, held=False)
    await travel.wait_for(late, held=False)
    released = await travel.events(subject=case, wanted="avrr.travel.MovementReleased")
    assert [e.type for e in released].count("avrr.travel.MovementReleased") == 1
    r = await travel.post(f"/movements/{case}/departure", {})
    assert r.status_code == 200, r.text


async def test_regional_suspension_holds_only_that_region(travel: Travel) -> None:
    cortes = "case-cortes"
    await travel.opened(cortes)  # destination HN / Cortes
    await travel.clear("case-olancho", destination_region="Olancho")
    await travel.wait_for("case-olancho", status="preparing")
    await travel.suspend_destination("HN", "Cortes")
    await travel.wait_for(cortes, held=True)
    await travel.reopen_destination("HN", "Cortes")
    await travel.wait_for(cortes, held=False)
    olancho = await travel.wait_for("case-olancho", status="preparing")
    assert olancho["held"] is False and olancho["version"] == 1


async def test_invalid_or_unknown_version_inbound_events_are_dead_lettered(
    travel: Travel,
) -> None:
    bad = {"case_id": "case-bad", "programme_id": "p", "office": "GT-GUA"}  # no household...
    await travel.publish("eligibility", "avrr.eligibility.DueDiligenceCleared", "case-bad", bad)
    await travel.publish(
        "intake",
        "avrr.intake.CaseWithdrawn",
        "case-v9",
        {"case_id": "case-v9", "reason": "x", "withdrawn_at": NOW},
        version=9,
    )
    records = await read_topic(travel.kafka, travel.dead_letter_topic, 2)
    reasons = sorted(dict(m.headers)["dlq_reason"].decode() for m in records)
    assert reasons == ["invalid_payload", "unsupported_version"]
    assert {Envelope.from_message(m).subject for m in records} == {"case-bad", "case-v9"}
    # ...and the consumer moved on.
    await travel.opened("case-good")
    assert await travel.movement("case-bad") is None


async def test_a_suspension_racing_a_ticket_never_loses_either(travel: Travel) -> None:
    case = "case-race-hold"
    await travel.opened(case, [member(f"{case}-p", 30)])
    await travel.make_ready(case, [f"{case}-p"])

    async def issue() -> int:
        return (await travel.post(f"/movements/{case}/ticket", ticket())).status_code

    status, _ = await asyncio.gather(issue(), travel.suspend_destination("HN"))
    held = await travel.wait_for(case, held=True)
    events = await travel.events(subject=case, wanted="avrr.travel.MovementHeld")
    types = [e.type for e in events]
    if status == 200:  # the ticket won: it stays, and the movement is held after it
        assert held["status"] == "ticketed"
        assert types.index("avrr.travel.TicketIssued") < types.index("avrr.travel.MovementHeld")
    else:  # the hold won: the ticket was refused (or lost the race and must be retried)
        assert status in (409, 422)
        assert held["status"] == "preparing"
        assert "avrr.travel.TicketIssued" not in types
