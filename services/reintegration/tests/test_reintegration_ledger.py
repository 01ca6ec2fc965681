"""The assistance ledger on real PostgreSQL: budgets hold, under concurrency too."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import pytest
from reintegration_fixtures import OFFICER, RunningReintegration, component, plan

from avrr_events import Cause, ConcurrencyError
from avrr_events.testing import eventually
from avrr_reintegration.commands import ReintegrationCommands, Work

DISBURSED = "avrr.reintegration.AssistanceDisbursed"


async def ledger(r: RunningReintegration, case_id: str) -> dict[str, object]:
    response = await r.http.get(f"/cases/{case_id}/ledger", headers=OFFICER)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def planned(r: RunningReintegration, case_id: str) -> None:
    """``case_id`` arrived, with the plan of 400 + 100 + 50 = 550 USD agreed."""
    await r.arrive(case_id)
    await r.agree_plan(case_id, plan())


async def test_the_ledger_refuses_over_budget_disbursements_and_writes_nothing(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    await planned(r, "l1")
    assert (await r.disburse("l1", "300.00")).status_code == 201
    assert (await r.disburse("l1", "200.00", kind="in_kind")).status_code == 201
    version = await r.stream_version("l1")

    refused = await r.disburse("l1", "50.01")
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == "urn:avrr:problem:domain-rule"
    assert "exceeds what is left of the plan's budget (50.00 of 550.00 USD)" in problem["detail"]
    assert await r.stream_version("l1") == version  # nothing half-written

    # Invalid disbursements are refused before any rule: amount positive, currency, method.
    for bad in (
        {"amount": "-5"},
        {"amount": "0"},
        {"currency": "usd"},
        {"method": "paid to Maria"},
    ):
        body = {
            "kind": "cash",
            "amount": "10.00",
            "currency": "USD",
            "method": "bank_transfer",
            "disbursed_on": "2026-04-01",
            **bad,
        }
        response = await r.post("/cases/l1/disbursements", body)
        assert response.status_code == 422, bad
    assert await r.stream_version("l1") == version

    async def ledger_shows_both() -> bool:
        return (await ledger(r, "l1"))["disbursed"] == "500.00"

    await eventually(ledger_shows_both)
    book = await ledger(r, "l1")
    assert (book["budget"], book["remaining"], book["currency"]) == ("550.00", "50.00", "USD")
    entries = book["entries"]
    assert isinstance(entries, list)
    assert [(e["kind"], e["amount"], e["method"]) for e in entries] == [
        ("cash", "300.00", "mobile_money"),
        ("in_kind", "200.00", "goods_delivered"),
    ]
    events = await r.events(subject="l1", wanted=DISBURSED, count=2)
    assert [e.data["amount"] for e in events if e.type == DISBURSED] == ["300.00", "200.00"]


async def test_the_programme_cap_refuses_what_the_plans_would_allow(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    big = [component("economic", "micro-business", "600.00")]
    await r.arrive("p1")
    await r.arrive("p2")
    await r.agree_plan("p1", big)
    await r.agree_plan("p2", big)
    assert (await r.disburse("p1", "600.00")).status_code == 201
    refused = await r.disburse("p2", "500.00")  # the plan allows it, the 1000 USD cap does not
    assert refused.status_code == 422, refused.text
    assert "programme's remaining budget (400.00 of 1000.00 USD)" in refused.json()["detail"]
    assert (await r.disburse("p2", "400.00")).status_code == 201

    await r.totals_reach(disbursed_total="1000.00", budget_remaining="0.00", disbursements=2)


async def test_concurrent_disbursements_cannot_together_exceed_the_plan_budget(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    await planned(r, "c1")
    version = await r.stream_version("c1")

    responses = await asyncio.gather(*(r.disburse("c1", "200.00") for _ in range(6)))
    statuses = sorted(x.status_code for x in responses)
    assert set(statuses) <= {201, 409, 422}, [x.text for x in responses]
    granted = statuses.count(201)
    # 200 x 2 = 400 fits in 550, a third would not: never more than two.
    assert 1 <= granted <= 2
    assert 409 in statuses  # at least one lost the race on the case's stream
    conflict = next(x for x in responses if x.status_code == 409)
    assert conflict.headers["content-type"] == "application/problem+json"
    assert await r.stream_version("c1") == version + granted

    async def ledger_settled() -> bool:
        return (await ledger(r, "c1"))["disbursed"] == f"{200 * granted}.00"

    await eventually(ledger_settled)


async def test_concurrent_disbursements_of_different_cases_cannot_exceed_the_programme_cap(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    big = [component("economic", "micro-business", "600.00")]
    for case_id in ("k1", "k2"):
        await r.arrive(case_id)
        await r.agree_plan(case_id, big)

    # Each plan allows 600; the programme's 1000 USD cap allows only one of them. The two
    # decisions touch different case streams and collide on the programme's stream: the
    # loser is decided again on the new total and refused by the cap, never a 409 for
    # someone else's case, never both.
    first, second = await asyncio.gather(r.disburse("k1", "600.00"), r.disburse("k2", "600.00"))
    assert sorted([first.status_code, second.status_code]) == [201, 422], [first.text, second.text]
    loser = first if first.status_code == 422 else second
    assert "programme's remaining budget (400.00 of 1000.00 USD)" in loser.json()["detail"]

    stored = Decimal(0)
    for case_id in ("k1", "k2"):
        for e in await r.runtime.store.load(f"reintegration-{case_id}"):
            if e.envelope.type == DISBURSED:
                stored += Decimal(e.envelope.data["amount"])
    assert stored == Decimal("600.00")

    await r.totals_reach(disbursed_total="600.00", budget_remaining="400.00")


async def test_two_disbursements_decided_on_the_same_version_cannot_both_be_written(
    reintegration: RunningReintegration,
) -> None:
    """The interleaving the gather above makes likely, forced: both decide, one commits."""
    r = reintegration
    await planned(r, "i1")
    commands: ReintegrationCommands = r.runtime.commands
    engine = r.runtime.db.engine
    async with engine.connect() as c1, engine.connect() as c2:
        await c1.begin()
        await c2.begin()
        works = [Work(c1, commands), Work(c2, commands)]
        for work in works:  # both see 550 left and decide to pay 400
            case = await work.case("i1")
            prog = commands.programme("test-avr")
            case.disburse("cash", Decimal("400.00"), "USD", "mobile_money", date(2026, 4, 1), prog)
            (await work.allocation("test-avr")).commit_funds("i1", Decimal("400.00"), prog)
        await works[0].save(Cause("first"))
        await c1.commit()
        with pytest.raises(ConcurrencyError):
            await works[1].save(Cause("second"))
        await c2.rollback()
    paid = [
        e.envelope.data["amount"]
        for e in await r.runtime.store.load("reintegration-i1")
        if e.envelope.type == DISBURSED
    ]
    assert paid == ["400.00"]
