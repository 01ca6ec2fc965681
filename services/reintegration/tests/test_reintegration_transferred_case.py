"""A case intake transferred to another office is that office's in reintegration, whichever
came first: the transfer or the rows (avrr_events.transfers). Real PostgreSQL and Kafka.

The case (its row, its visits), its withdrawal conflicts (listed already, or detected
after the transfer, whose event still names the movement's office) and its overdue lists
(after the hand-over too, when the transfer came later) are the receiving office's; the
office that handed it over lists and reads none of it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reintegration_fixtures import ARRIVED, OFFICER, RunningReintegration, plan

from avrr_events.harness import supervisor
from avrr_events.testing import eventually
from avrr_reintegration.read_models import case_transfers

DETECTED = "avrr.reintegration.WithdrawalConflictDetected"
SAO_PAULO = {**OFFICER, "X-AVRR-User": "gru-officer-1", "X-AVRR-Offices": "BR-GRU"}


async def to_sao_paulo(r: RunningReintegration, case_id: str, at: datetime) -> None:
    """Intake's transfer of a Brasília case to São Paulo, once reintegration recorded it."""
    await r.transferred(case_id, "BR-GRU", from_office="BR-BSB", at=at, recorded=case_transfers)


async def test_a_case_arriving_after_its_transfer_is_the_receiving_offices(
    reintegration: RunningReintegration,
) -> None:
    """Intake's topic brought the transfer before travel's brought the arrival (the
    topics race): the case opens under São Paulo although the arrival names Brasília."""
    r = reintegration
    await to_sao_paulo(r, "tr-late", datetime.now(UTC))
    case = await r.arrive("tr-late", office="BR-BSB")
    assert case["office"] == "BR-GRU", case
    assert (await r.http.get("/cases/tr-late", headers=SAO_PAULO)).status_code == 200
    assert (await r.http.get("/cases/tr-late", headers=OFFICER)).status_code == 403
    assert await r.overdue_lists("BR-GRU") == (["tr-late"], ["tr-late"])
    assert await r.overdue_lists("BR-BSB") == ([], [])


async def test_withdrawal_conflicts_are_the_receiving_offices_before_and_after_the_transfer(
    reintegration: RunningReintegration,
) -> None:
    """c-before: its conflict listed for Brasília moves with the transfer; c-after: its
    conflict, detected after the transfer, names Brasília and is listed for São Paulo."""
    r = reintegration
    for case_id in ("c-before", "c-after"):
        await r.arrive(case_id, office="BR-BSB")
        await r.agree_plan(case_id, plan())
    withdrawn_at = datetime.now(UTC)
    for case_id in ("c-before", "c-after"):
        assert (await r.disburse(case_id, "120.00")).status_code == 201  # after the withdrawal
    await r.withdraw_case("c-before", withdrawn_at)

    async def listed(office: str, expected: list[str]) -> bool:
        return sorted(c["case_id"] for c in await r.withdrawal_conflicts(office)) == expected

    await eventually(lambda: listed("BR-BSB", ["c-before"]), timeout=30)
    now = datetime.now(UTC)
    await to_sao_paulo(r, "c-before", now)
    await to_sao_paulo(r, "c-after", now)
    await eventually(lambda: listed("BR-GRU", ["c-before"]), timeout=30)
    await r.withdraw_case("c-after", withdrawn_at)
    await eventually(lambda: listed("BR-GRU", ["c-after", "c-before"]), timeout=30)
    assert await r.withdrawal_conflicts("BR-BSB") == []
    found = await r.events(subject="c-after", wanted=DETECTED)
    [flag] = [e for e in found if e.type == DETECTED]
    assert flag.data["office"] == "BR-BSB"  # the aggregate's office: the list corrects it
    # Brasília's supervisor resolves none of them any more.
    [item] = [c for c in await r.withdrawal_conflicts("BR-GRU") if c["case_id"] == "c-after"]
    path = f"/cases/c-after/withdrawal-conflicts/{item['conflict_id']}/resolution"
    body = {"resolution": "disbursement_recovered", "reason": "Returned by the provider."}
    assert (await r.post(path, body, supervisor("BR-BSB"))).status_code == 403
    assert (await r.post(path, body, supervisor("BR-GRU"))).status_code == 200


async def test_the_overdue_lists_go_to_whoever_took_the_case_over_last(
    reintegration: RunningReintegration,
) -> None:
    """od-moved: handed over to Porto Alegre at the arrival, then transferred to São Paulo
    (the household moved on): São Paulo's lists. od-earlier: transferred to São Paulo
    before the arrival Porto Alegre confirmed: Porto Alegre's lists."""
    r = reintegration
    await r.confirm_arrival("od-moved", "receiving_office", "BR-POA")
    assert await r.overdue_lists("BR-POA") == (["od-moved"], ["od-moved"])
    await to_sao_paulo(r, "od-moved", datetime.now(UTC))
    earlier = ARRIVED - timedelta(days=3)
    await to_sao_paulo(r, "od-earlier", earlier)
    await r.confirm_arrival("od-earlier", "receiving_office", "BR-POA")
    assert await r.overdue_lists("BR-GRU") == (["od-moved"], ["od-moved"])
    assert await r.overdue_lists("BR-POA") == (["od-earlier"], ["od-earlier"])
    assert await r.overdue_lists("BR-BSB") == ([], [])
