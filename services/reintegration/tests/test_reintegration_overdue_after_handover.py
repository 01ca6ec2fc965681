"""After the hand-over, the overdue lists (monitoring visits, plans) are the receiving
office's: they leave the movement's office's lists and no office of an unrelated country
sees them, whatever its role. Real PostgreSQL and Kafka."""

from __future__ import annotations

from reintegration_fixtures import OFFICER, OVERDUE_AS_OF, RunningReintegration

from avrr_events.testing import eventually
from avrr_events.web.authorization import ROLES

RECEIVER = {**OFFICER, "X-AVRR-User": "poa-officer-1", "X-AVRR-Offices": "BR-POA"}


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
        return bool(await r.overdue_lists("BR-POA", RECEIVER) == (["od-moved"], ["od-moved"]))

    await eventually(moved, timeout=30)
    assert await r.overdue_lists("BR-BSB", OFFICER) == (["od-nobody"], ["od-nobody"])
    item = (
        await r.http.get(
            "/monitoring/overdue",
            params={"office": "BR-POA", "as_of": OVERDUE_AS_OF},
            headers=RECEIVER,
        )
    ).json()["items"][0]
    assert item["office"] == "BR-POA"

    for role in ROLES:
        # Tapachula (Mexico): an office of an unrelated country, in every role.
        tapachula = {"X-AVRR-User": f"{role}-mx", "X-AVRR-Roles": role, "X-AVRR-Offices": "MX-TAP"}
        own = await r.overdue_lists("MX-TAP", tapachula)
        assert own in (([], []), (403, 403)), role  # its own lists: empty, or not its role
        assert await r.overdue_lists("BR-POA", tapachula) == (403, 403), role
        assert await r.overdue_lists("BR-BSB", tapachula) == (403, 403), role
