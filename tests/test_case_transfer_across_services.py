"""Issue 18: a case transferred between offices is the receiving office's in every service.

The four services in this process, each with its own PostgreSQL database, over
real Kafka. A Guatemala City case travels home to Honduras (Tegucigalpa
confirms the arrival: the hand-over); the returnee then moves to San Pedro
Sula, so Guatemala City asks San Pedro Sula to take the case over and it
accepts. Eligibility's assessment, travel's movement and reintegration's case
follow intake's TransferAccepted: San Pedro Sula's staff work the case in
every service, Guatemala City's get 403 everywhere, and Tegucigalpa (handed
over at the arrival) keeps it where the hand-over gave it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest
from journey_steps import (
    CASEWORKER,
    REINTEGRATION_OFFICER,
    TRAVEL_OFFICER,
    Platform,
    clear,
    in_process,
    open_case,
    request_return,
    ticket,
    travel_home,
)

from avrr_eligibility.main import service as eligibility
from avrr_events.testing import eventually
from avrr_intake.main import service as intake
from avrr_reintegration.main import service as reintegration
from avrr_travel.main import service as travel

NEW_OFFICE = "HN-SPS"  # San Pedro Sula, a receiving office in Honduras


def staff(role: str, office: str) -> dict[str, str]:
    return {"X-AVRR-User": f"{role}-{office}", "X-AVRR-Roles": role, "X-AVRR-Offices": office}


@pytest.fixture
async def platform(
    fresh_database: Callable[[], Awaitable[str]],
    kafka_bootstrap: str,
    topic_name: Callable[[str], str],
) -> AsyncIterator[Platform]:
    services = {
        "intake": intake,
        "eligibility": eligibility,
        "travel": travel,
        "reintegration": reintegration,
    }
    async with AsyncExitStack() as stack:
        yield await in_process(stack, services, fresh_database, kafka_bootstrap, topic_name("avrr"))


# Where each service shows the case, and who of an office reads it there.
VIEWS = {
    "intake": ("/cases/{id}", "caseworker"),
    "eligibility": ("/assessments/{id}", "caseworker"),
    "travel": ("/movements/{id}", "travel_officer"),
    "reintegration": ("/cases/{id}", "reintegration_officer"),
}


async def test_an_accepted_transfer_moves_the_case_to_the_receiving_office_everywhere(
    platform: Platform,
) -> None:
    case = await open_case(platform)
    await request_return(platform, case)
    await clear(platform, case)
    await ticket(platform, case)
    await travel_home(platform, case)
    c = case.case_id

    requested, _ = await platform.post(
        "intake",
        f"/cases/{c}/transfers",
        {"to_office": NEW_OFFICE, "reason": "person_moved"},
        CASEWORKER,
        expect=201,
    )
    acceptance = f"/cases/{c}/transfers/{requested['transfer_id']}/acceptance"
    await platform.post("intake", acceptance, {}, staff("supervisor", NEW_OFFICE), expect=200)

    async def everywhere(office: str, expected: int) -> bool:
        for service, (route, role) in VIEWS.items():
            got = await platform.get(service, route.format(id=c), staff(role, office))
            if got.status_code != expected:
                return False
        return True

    async def moved() -> bool:
        return await everywhere(NEW_OFFICE, 200) and await everywhere("GT-GUA", 403)

    await eventually(moved, timeout=60)
    for headers in (CASEWORKER, TRAVEL_OFFICER, REINTEGRATION_OFFICER):
        for service, (route, _role) in VIEWS.items():
            got = await platform.get(service, route.format(id=c), headers)
            assert got.status_code == 403, (service, headers, got.text)
    # The hand-over at the arrival still stands where it gave the case to Tegucigalpa.
    got = await platform.get(
        "reintegration", f"/cases/{c}", staff("reintegration_officer", "HN-TGU")
    )
    assert got.status_code == 200, got.text
