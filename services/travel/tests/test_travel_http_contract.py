"""Travel's REST contract: problems, authentication, concurrency, idempotency."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from travel_fixtures import OFFICER, Travel, member, ticket

from avrr_travel import read_models


async def test_bad_input_is_a_422_problem_and_writes_nothing(travel: Travel) -> None:
    case = "case-bad-input"
    await travel.opened(case, [member("p-1", 30)])
    await travel.make_ready(case, ["p-1"])
    version = await travel.stream_version(case)
    for body in (
        ticket(route=["GUA"]),  # no destination
        ticket(mode="sea"),
        ticket(cost={"amount": "-1", "currency": "USD"}),
        {**ticket(), "escorts": [{"kind": "friend"}]},
        ticket(departure_date="tomorrow"),
        {**ticket(), "passenger_name": "not a field"},
    ):
        r = await travel.post(f"/movements/{case}/ticket", body)
        assert r.status_code == 422, body
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"]
    r = await travel.post(f"/movements/{case}/ticket", ticket(days_ahead=-1))
    assert r.status_code == 422 and "past" in r.json()["detail"]
    r = await travel.post(
        f"/movements/{case}/documents",
        {
            "person_id": "p-1",
            "document_type": "passport",
            "obtained_on": str(date.today() + timedelta(days=3)),
        },
    )
    assert r.status_code == 422
    r = await travel.post(
        f"/movements/{case}/document-requests",
        {
            "person_id": "p-stranger",
            "document_type": "laissez_passer",
            "requested_on": "2026-01-02",
        },
    )
    assert r.status_code == 422 and "not a traveller" in r.json()["detail"]
    assert await travel.stream_version(case) == version


async def test_the_movement_detail_is_written_as_fastapis_encoder_writes_it(
    travel: Travel,
) -> None:
    """Its dates, times, decrypted booking reference and the ticket's cost and route read
    byte for byte as ``JSONResponse(jsonable_encoder(detail))`` writes them, though the
    route no longer copies the detail through the encoder first."""
    case = "case-written-as-encoded"
    await travel.opened(case, [member("p-1", 30), member("p-2", 4)])
    await travel.make_ready(case, ["p-1", "p-2"])
    assert (await travel.post(f"/movements/{case}/ticket", ticket())).status_code == 200
    assert (await travel.post(f"/movements/{case}/departure", {})).status_code == 200
    await travel.wait_for(case, status="departed")
    r = await travel.http.get(f"/movements/{case}", headers=OFFICER)
    assert r.status_code == 200, r.text
    detail = await read_models.movement_detail(travel.runtime.db, case)
    revealed = await travel.runtime.cipher.reveal(detail)
    assert revealed["booking"]["booking_reference"] == "AV-7Q2K9"
    assert r.content == JSONResponse(jsonable_encoder(revealed)).body
    assert [t["person_id"] for t in r.json()["travellers"]] == ["p-1", "p-2"]


async def test_unknown_movement_is_404_and_anonymous_is_401(travel: Travel) -> None:
    r = await travel.post("/movements/case-nope/cancellation", {"reason": "x"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (await travel.http.get("/movements/case-nope", headers=OFFICER)).status_code == 404
    assert (await travel.http.get("/movements/case-nope")).status_code == 401
    board = await travel.http.get(
        "/departures", params={"office": "MX-TAP", "on": str(date.today())}, headers=OFFICER
    )
    assert board.status_code == 403  # the officer works for GT-GUA only


async def test_stale_if_match_is_412_and_concurrent_writers_never_lose_an_update(
    travel: Travel,
) -> None:
    case = "case-race"
    await travel.opened(case, [member("p-1", 30)])
    r = await travel.http.post(
        f"/movements/{case}/document-requests",
        json={"person_id": "p-1", "document_type": "passport", "requested_on": "2026-01-02"},
        headers={**OFFICER, "If-Match": '"7"'},
    )
    assert r.status_code == 412
    assert await travel.stream_version(case) == 1

    async def note(i: int) -> int:
        r = await travel.http.post(
            f"/movements/{case}/document-requests",
            json={
                "person_id": "p-1",
                "document_type": "passport",
                "requested_on": str(date(2026, 1, 1) + timedelta(days=i)),
            },
            headers={**OFFICER, "If-Match": '"1"'},
        )
        return r.status_code

    statuses = await asyncio.gather(*(note(i) for i in range(6)))
    # Every writer read version 1: exactly one wins, the others get 409 or 412, none is lost.
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 409, 412}
    assert await travel.stream_version(case) == 2


async def test_idempotency_key_replays_the_ticket_instead_of_issuing_twice(travel: Travel) -> None:
    case = "case-idem"
    await travel.opened(case, [member("p-1", 30)])
    await travel.make_ready(case, ["p-1"])
    headers = {**OFFICER, "Idempotency-Key": "ticket-case-idem-1"}
    first = await travel.http.post(f"/movements/{case}/ticket", json=ticket(), headers=headers)
    again = await travel.http.post(f"/movements/{case}/ticket", json=ticket(), headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotency-Replayed") == "true"
    assert again.json() == first.json()
    events = await travel.events(subject=case, wanted="avrr.travel.TicketIssued")
    assert [e.type for e in events].count("avrr.travel.TicketIssued") == 1
    other = await travel.http.post(
        f"/movements/{case}/ticket", json=ticket(carrier="Copa"), headers=headers
    )
    assert other.status_code == 422
