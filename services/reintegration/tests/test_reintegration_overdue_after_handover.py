"""After the hand-over, the overdue lists (monitoring visits, plans) are the receiving
office's: they leave the movement's office's lists and no office of an unrelated country
sees them, whatever its role. Real PostgreSQL and Kafka."""

from __future__ import annotations

from typing import Any

from reintegration_fixtures import OFFICER, RunningReintegration

from avrr_events.testing import eventually
from avrr_events.web.authorization import ROLES

AS_OF = "2026-10-01"  # months 1, 3 and 6 due, no visit; the plan deadline long past
RECEIVER = {**OFFICER, "X-AVRR-User": "poa-officer-1", "X-AVRR-Offices": "BR-POA"}


async def lists(r: RunningReintegration, office: str, headers: dict[str, str]) -> Any:
    """(monitoring case ids, plan case ids) on ``office``'s overdue lists, or the statuses."""
    params = {"office": office, "as_of": AS_OF}
    visits = await r.http.get("/monitoring/overdue", params=params, headers=headers)
    plans = await r.http.get("/plans/overdue", params=params, headers=headers)
    if visits.status_code != 200 or plans.status_code != 200:
        return visits.status_code, plans.status_code
    return (
        sorted({i["case_id"] for i in visits.json()["items"]}),
        sorted({i["case_id"] for i in plans.json()["items"]}),
    )


async def test_the_overdue_lists_move_to_the_receiving_office_with_the_case(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    # The test programme has two places: two granted cases.
    await r.confirm_arrival("od-moved", "receiving_office", "BR-POA")
    await r.confirm_arrival(
        "od-nobody", "receiving_office", "MX-TAP"
    )  # not an office of Brazil: no hand-over

    async def moved() -> bool:
        return bool(await lists(r, "BR-POA", RECEIVER) == (["od-moved"], ["od-moved"]))

    await eventually(moved, timeout=30)
    assert await lists(r, "BR-BSB", OFFICER) == (["od-nobody"], ["od-nobody"])
    item = (
        await r.http.get(
            "/monitoring/overdue", params={"office": "BR-POA", "as_of": AS_OF}, headers=RECEIVER
        )
    ).json()["items"][0]
    assert item["office"] == "BR-POA"

    for role in ROLES:
        # Tapachula (Mexico): an office of an unrelated country, in every role.
        tapachula = {"X-AVRR-User": f"{role}-mx", "X-AVRR-Roles": role, "X-AVRR-Offices": "MX-TAP"}
        own = await lists(r, "MX-TAP", tapachula)
        assert own in (([], []), (403, 403)), role  # its own lists: empty, or not its role
        assert await lists(r, "BR-POA", tapachula) == (403, 403), role
        assert await lists(r, "BR-BSB", tapachula) == (403, 403), role
