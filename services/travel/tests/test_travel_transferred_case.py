"""A case intake transferred to another office is that office's in travel, whichever came
first: the transfer or the movement (avrr_events.transfers). Real PostgreSQL and Kafka.

Eligibility's clearance names the office its assessment was opened with; a movement it
opens after the transfer is the receiving office's all the same. Withdrawal conflicts
listed before the transfer move with it; those detected after it, whose event names the
movement's first office, are listed for the receiving office.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from travel_fixtures import OFFICER, Travel, ticket

from avrr_events.harness import supervisor
from avrr_events.testing import eventually
from avrr_travel.read_models import case_transfers

TAPACHULA = {**OFFICER, "X-AVRR-User": "officer-mx", "X-AVRR-Offices": "MX-TAP"}


async def to_tapachula(travel: Travel, case_id: str) -> None:
    """Intake's transfer of a Guatemala City case to Tapachula, once travel recorded it."""
    now = datetime.now(UTC)
    await travel.transferred(
        case_id, "MX-TAP", from_office="GT-GUA", at=now, recorded=case_transfers
    )


async def test_a_movement_cleared_after_the_transfer_is_the_receiving_offices(
    travel: Travel,
) -> None:
    """Intake's topic brought the transfer before eligibility's brought the clearance."""
    await to_tapachula(travel, "tr-late")
    await travel.clear("tr-late")  # office GT-GUA, as eligibility's assessment says

    async def tapachulas() -> bool:
        seen = await travel.http.get("/movements/tr-late", headers=TAPACHULA)
        return seen.status_code == 200 and seen.json()["office"] == "MX-TAP"

    await eventually(tapachulas, timeout=30)
    assert (await travel.http.get("/movements/tr-late", headers=OFFICER)).status_code == 403
    # Tapachula works it: documents, fitness and the ticket are its officers' to record.
    document = {"person_id": "p-mother", "document_type": "passport", "obtained_on": "2026-01-05"}
    refused = await travel.post("/movements/tr-late/documents", document, OFFICER)
    assert refused.status_code == 403, refused.text
    taken = await travel.post("/movements/tr-late/documents", document, TAPACHULA)
    assert taken.status_code == 200, taken.text


async def test_withdrawal_conflicts_are_the_receiving_offices_before_and_after_the_transfer(
    travel: Travel,
) -> None:
    """d-before: its conflict, listed for Guatemala City, moves with the transfer;
    d-after: its conflict, detected after the transfer, is listed for Tapachula."""
    cases = ("d-before", "d-after")
    for case_id in cases:
        await travel.opened(case_id)
        await travel.make_ready(case_id, ["p-mother", "p-daughter"])
        issued = await travel.post(f"/movements/{case_id}/ticket", ticket(days_ahead=0))
        assert issued.status_code == 200, issued.text
    withdrawn_at = datetime.now(UTC)
    for case_id in cases:  # after the withdrawal: travel does not know yet
        departed = await travel.post(f"/movements/{case_id}/departure", {})
        assert departed.status_code == 200, departed.text
    await travel.handled(await travel.withdraw_case("d-before", withdrawn_at))

    async def listed(office: str, expected: list[str]) -> bool:
        open_ = await travel.withdrawal_conflicts(office)
        return sorted(c["case_id"] for c in open_) == expected

    await eventually(lambda: listed("GT-GUA", ["d-before"]), timeout=30)
    for case_id in cases:
        await to_tapachula(travel, case_id)
    await eventually(lambda: listed("MX-TAP", ["d-before"]), timeout=30)
    await travel.handled(await travel.withdraw_case("d-after", withdrawn_at))
    await eventually(lambda: listed("MX-TAP", ["d-after", "d-before"]), timeout=30)
    assert await travel.withdrawal_conflicts("GT-GUA") == []

    item: dict[str, Any] = next(
        c for c in await travel.withdrawal_conflicts("MX-TAP") if c["case_id"] == "d-after"
    )
    path = f"/movements/d-after/withdrawal-conflicts/{item['conflict_id']}/resolution"
    body = {"resolution": "departure_undone", "reason": "She stayed with her sister."}
    assert (await travel.post(path, body, supervisor("GT-GUA"))).status_code == 403
    assert (await travel.post(path, body, supervisor("MX-TAP"))).status_code == 200
