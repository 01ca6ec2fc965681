"""The REST contract: problem+json, ETag/If-Match (412), Idempotency-Key replay, roles."""

from __future__ import annotations

from reintegration_fixtures import HEADQUARTERS, OFFICER, RunningReintegration, plan


async def test_if_match_idempotency_and_roles(reintegration: RunningReintegration) -> None:
    r = reintegration
    await r.arrive("h1")
    case = await r.http.get("/cases/h1", headers=OFFICER)
    assert case.headers["etag"] == '"1"'

    body = {
        "components": [c.model_dump(mode="json") for c in plan()],
        "agreed_at": "2026-03-20T10:00:00Z",
    }
    stale = await r.http.post("/cases/h1/plan", json=body, headers={**OFFICER, "If-Match": '"7"'})
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    agreed = await r.http.post("/cases/h1/plan", json=body, headers={**OFFICER, "If-Match": '"1"'})
    assert agreed.status_code == 201 and agreed.headers["etag"] == '"2"'

    pay = {
        "kind": "cash",
        "amount": "100.00",
        "currency": "USD",
        "method": "bank_transfer",
        "disbursed_on": "2026-03-25",
    }
    keyed = {**OFFICER, "Idempotency-Key": "pay-h1-1"}
    first = await r.http.post("/cases/h1/disbursements", json=pay, headers=keyed)
    again = await r.http.post("/cases/h1/disbursements", json=pay, headers=keyed)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotency-replayed") == "true"
    assert first.json() == again.json() == {"case_id": "h1", "version": 3}
    assert await r.stream_version("h1") == 3  # one disbursement, not two
    reused = await r.http.post(
        "/cases/h1/disbursements", json={**pay, "amount": "5.00"}, headers=keyed
    )
    assert reused.status_code == 422

    anonymous = await r.http.get("/cases/h1")
    assert anonymous.status_code == 401
    traveller = {"X-AVRR-User": "t", "X-AVRR-Roles": "travel_officer"}
    assert (await r.http.get("/cases/h1", headers=traveller)).status_code == 403
    manager = {"X-AVRR-User": "m", "X-AVRR-Roles": "caseworker", "X-AVRR-Offices": "BR-BSB"}
    assert (
        await r.http.post("/cases/h1/disbursements", json=pay, headers=manager)
    ).status_code == 403

    missing = await r.http.get("/cases/nobody", headers=OFFICER)
    assert missing.status_code == 404 and missing.json()["type"] == "urn:avrr:problem:not-found"
    no_case = await r.post("/cases/nobody/disbursements", pay)
    assert no_case.status_code == 404 and "no reintegration for case" in no_case.json()["detail"]
    future = await r.post("/cases/h1/disbursements", {**pay, "disbursed_on": "2999-01-01"})
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "disbursed_on"


async def test_a_commands_events_correlate_by_the_case_id_and_locate_the_case(
    reintegration: RunningReintegration,
) -> None:
    """The one correlation rule (avrr_events.commands): a REST command's events, on the case
    and on the programme's stream alike, carry the case id; a caller's header does not
    start a correlation of its own."""
    r = reintegration
    await r.arrive("k9")
    await r.agree_plan("k9", plan())
    paid = await r.http.post(
        "/cases/k9/disbursements",
        json={
            "kind": "cash",
            "amount": "100.00",
            "currency": "USD",
            "method": "bank_transfer",
            "disbursed_on": "2026-03-25",
        },
        headers={**HEADQUARTERS, "X-Correlation-Id": "the-callers-own"},
    )
    assert paid.status_code == 201 and paid.headers["location"] == "/cases/k9"
    case = await r.runtime.store.load("reintegration-k9")
    programme = await r.runtime.store.load("programme-test-avr")
    assert case[-1].envelope.type == "avrr.reintegration.AssistanceDisbursed"
    assert {case[-1].envelope.correlationid, programme[-1].envelope.correlationid} == {"k9"}
