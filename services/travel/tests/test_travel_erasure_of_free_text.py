"""Issue 15: a booking reference and the reasons a travel officer types describe a household;
they rest and travel encrypted under the principal traveller's key, and an erasure shreds them
in the event store, the read models and the topic."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from travel_fixtures import Travel, member, ticket

from avrr_events.testing import database_dump, read_topic

REFERENCE = "QX-71Z4R"
NO_SHOW = "arrested at the checkpoint Zq41"
REBOOKED = "family emergency Zq42"
NEW_REFERENCE = "QX-88Z4S"
CANCELLED = "threatened by a smuggler Zq43"


async def test_erasure_shreds_booking_references_and_the_officers_reasons(
    travel: Travel, database_url: str
) -> None:
    case = "case-free-text"
    await travel.opened(case, [member("p-solo", 40)])
    await travel.make_ready(case, ["p-solo"])
    booked = await travel.post(f"/movements/{case}/ticket", ticket(booking_reference=REFERENCE))
    assert booked.status_code == 200, booked.text
    r = await travel.post(f"/movements/{case}/no-show", {"reason": NO_SHOW})
    assert r.status_code == 200, r.text
    rebooking = {
        "reason": REBOOKED,
        "new_departure_date": str(date.today() + timedelta(days=10)),
        "booking_reference": NEW_REFERENCE,
    }
    assert (await travel.post(f"/movements/{case}/rebooking", rebooking)).status_code == 200
    r = await travel.post(f"/movements/{case}/cancellation", {"reason": CANCELLED})
    assert r.status_code == 200, r.text
    shown = await travel.wait_for(case, version=r.json()["version"])
    assert shown["booking"]["booking_reference"] == NEW_REFERENCE
    assert shown["cancellation"]["reason"] == CANCELLED
    planted = (REFERENCE, NO_SHOW, REBOOKED, NEW_REFERENCE, CANCELLED)

    async def stored() -> bytes:
        records = await read_topic(travel.kafka, travel.topic, 10_000, timeout=5)
        topic = b"".join(r.value for r in records)
        return (await database_dump(database_url)).encode() + topic

    assert [text for text in planted if text.encode() in await stored()] == []
    # The officers' words are shown to the officers while the household is on file.
    assert shown["cancellation"]["reason"] == CANCELLED

    erased = await travel.publish(
        "intake",
        "avrr.intake.PersonalDataErased",
        case,
        {"case_id": case, "person_ids": ["p-solo"], "erased_at": datetime.now(UTC).isoformat()},
    )
    await travel.handled(erased)
    after = await travel.movement(case)
    assert after is not None
    assert after["booking"]["booking_reference"] == "erased"
    assert after["cancellation"]["reason"] == "erased"
    events = await travel.events(subject=case, wanted="avrr.travel.MovementCancelled")
    reasons = {e.type.rsplit(".", 1)[-1]: e.data.get("reason") for e in events}
    assert reasons["NoShowRecorded"] == reasons["MovementCancelled"] == "given_by_travel_office"
