"""The receiving mission, the way users run it: a Honduran household is ticketed in Guatemala
and the offices of Honduras see it coming on intake's incoming list (no other country's office
sees it, in any role); the case list shows its phase from travel's events; once Tegucigalpa
confirms the arrival, the household leaves the incoming list and its overdue plan is on
Tegucigalpa's list in reintegration, not on Guatemala's. Run on four separate processes over
real Kafka and PostgreSQL, and on the embedded default."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from journey_steps import (
    CASEWORKER,
    RECEIVING_OFFICE,
    Platform,
    clear,
    open_case,
    request_return,
    ticket,
    travel_home,
)

from avrr_events.testing import ServiceProcess, eventually
from avrr_events.web.authorization import ROLES

StartProcesses = Callable[..., Awaitable[dict[str, ServiceProcess]]]
FAR_AHEAD = "2099-01-01"  # every plan deadline long past


def user(role: str, office: str) -> dict[str, str]:
    return {"X-AVRR-User": f"{office}-{role}", "X-AVRR-Roles": role, "X-AVRR-Offices": office}


async def coming(p: Platform, headers: dict[str, str]) -> list[str]:
    response = await p.clients["intake"].get("/incoming", headers=headers)
    assert response.status_code == 200, response.text
    return [item["case_id"] for item in response.json()["items"]]


async def plans_overdue(p: Platform, office: str, headers: dict[str, str]) -> Any:
    response = await p.clients["reintegration"].get(
        "/plans/overdue", params={"office": office, "as_of": FAR_AHEAD}, headers=headers
    )
    if response.status_code != 200:
        return response.status_code
    return [item["case_id"] for item in response.json()["items"]]


async def receiving_mission(p: Platform) -> None:
    case = await open_case(p, n=3)
    await request_return(p, case)
    await clear(p, case)
    await ticket(p, case)
    c = case.case_id
    tegucigalpa = user("reintegration_officer", RECEIVING_OFFICE)

    async def on_the_list() -> bool:
        return c in await coming(p, tegucigalpa)

    await eventually(on_the_list, timeout=60)
    item = next(
        i
        for i in (await p.clients["intake"].get("/incoming", headers=tegucigalpa)).json()["items"]
        if i["case_id"] == c
    )
    assert (item["destination_country"], item["household_size"]) == ("HN", 2), item
    assert "Dania" not in str(item) and "Reyes" not in str(item)
    listed = await p.clients["intake"].get(
        "/cases", params={"phase": "ticketed"}, headers=CASEWORKER
    )
    assert c in [i["case_id"] for i in listed.json()["items"]]
    for role in ROLES:
        for office in ("MX-TAP", "PT-LIS"):  # other countries: nothing, whatever the role
            response = await p.clients["intake"].get("/incoming", headers=user(role, office))
            assert response.status_code in (200, 403), (role, office)
            if response.status_code == 200:
                assert response.json()["items"] == [], (role, office)

    await travel_home(p, case)  # Tegucigalpa confirms the arrival: the hand-over

    async def arrived() -> bool:
        return c not in await coming(p, tegucigalpa)

    await eventually(arrived, timeout=60)

    async def on_tegucigalpas_list() -> bool:
        return bool(await plans_overdue(p, RECEIVING_OFFICE, tegucigalpa) == [c])

    await eventually(on_tegucigalpas_list, timeout=60)
    guatemala = user("reintegration_officer", "GT-GUA")
    assert c not in await plans_overdue(p, "GT-GUA", guatemala)
    for role in ROLES:
        assert await plans_overdue(p, RECEIVING_OFFICE, user(role, "MX-TAP")) == 403, role


async def test_the_receiving_mission(platform_on_each_stack: Platform) -> None:
    await receiving_mission(platform_on_each_stack)
