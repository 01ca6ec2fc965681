"""Issue 18: a case transferred between offices is the receiving office's in every service.

The four services in this process, each with its own PostgreSQL database, over real
Kafka (and, for rows created after a transfer, the embedded default too). A Guatemala
City case travels home to Honduras (Tegucigalpa confirms the arrival: the hand-over);
the returnee then moves to San Pedro Sula, so Guatemala City asks San Pedro Sula to take
the case over and it accepts. Eligibility's assessment, travel's movement and
reintegration's case follow intake's TransferAccepted: San Pedro Sula's staff work the
case in every service, Guatemala City's get 403 everywhere, and Tegucigalpa (handed over
at the arrival) keeps it where the hand-over gave it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from journey_steps import (
    CASEWORKER,
    OFFICE,
    REINTEGRATION_OFFICER,
    TRAVEL_OFFICER,
    Case,
    InProcess,
    Platform,
    at_office,
    clear,
    embedded_platform,
    open_case,
    request_return,
    ticket,
    travel_home,
)
from request_fields import documents

from avrr_eligibility.main import service as eligibility
from avrr_events.testing import eventually
from avrr_events.web.authorization import ROLES, Scope
from avrr_events.web.service import Service
from avrr_intake.main import service as intake
from avrr_reintegration.main import service as reintegration
from avrr_travel.main import service as travel

NEW_OFFICE = "HN-SPS"  # San Pedro Sula, a receiving office in Honduras
SERVICES: dict[str, Service] = {
    "intake": intake,
    "eligibility": eligibility,
    "travel": travel,
    "reintegration": reintegration,
}


def staff(role: str, office: str) -> dict[str, str]:
    return {"X-AVRR-User": f"{role}-{office}", "X-AVRR-Roles": role, "X-AVRR-Offices": office}


@pytest.fixture
async def platform(services_in_process: InProcess) -> Platform:
    return await services_in_process(SERVICES)


async def transfer(p: Platform, case: Case, office: str) -> None:
    """The office holding the case asks ``office`` to take it over, and a supervisor there
    accepts: from then on the journey's steps act as ``office``'s staff."""
    c = case.case_id
    ask = {"to_office": office, "reason": "person_moved"}
    holder = at_office(CASEWORKER, case.office)
    requested, _ = await p.post("intake", f"/cases/{c}/transfers", ask, holder, expect=201)
    acceptance = f"/cases/{c}/transfers/{requested['transfer_id']}/acceptance"
    await p.post("intake", acceptance, {}, staff("supervisor", office), expect=200)
    case.office = office


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
    await transfer(platform, case, NEW_OFFICE)

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


# ------------------------------------------------------ rows created after the transfer --

PATH_VALUES = {"day": "2026-01-15", "purpose": "contact_by_iom"}
UNRELATED_OFFICE = "PT-LIS"  # Lisbon: no party to the case


def case_routes(case_id: str) -> list[tuple[str, str, str, Scope]]:
    """(service, method, path, scope of its rule) of every route of the four services'
    OpenAPI documents that names a case, with ``case_id`` and plausible values in its
    other parameters."""

    def concrete(path: str) -> str:
        values = {"case_id": case_id, **PATH_VALUES}
        return re.sub(r"{(\w+)}", lambda m: values.get(m.group(1), "x"), path)

    def scope(service: str, method: str, path: str) -> Scope:
        policy = SERVICES[service].policy
        assert policy is not None, service
        return policy.rules[f"{method} {path}"].scope

    return [
        (service, method.upper(), concrete(path), scope(service, method.upper(), path))
        for service, document in documents().items()
        for path, operations in document["paths"].items()
        if "{case_id}" in path
        for method in operations
    ]


async def versions(p: Platform, case_id: str, office: str) -> dict[str, str]:
    """The case's version (ETag) in each service, as staff of ``office`` read it."""
    seen = {}
    for service, (route, role) in VIEWS.items():
        got = await p.get(service, route.format(id=case_id), staff(role, office))
        assert got.status_code == 200, (service, got.text)
        seen[service] = got.headers["etag"]
    return seen


async def test_rows_created_after_a_transfer_are_the_receiving_offices_in_every_service(
    platform: Platform,
) -> None:
    await rows_created_after_a_transfer(platform)


async def test_rows_created_after_a_transfer_are_the_receiving_offices_on_the_embedded_default(
    tmp_path: Path,
) -> None:
    async with embedded_platform(tmp_path / "avrr-data") as platform:
        await rows_created_after_a_transfer(platform)


async def rows_created_after_a_transfer(platform: Platform) -> None:
    """Guatemala City hands the case to Tapachula once the return was requested: the
    clearance (eligibility's aggregate still names Guatemala City), the movement it opens
    and the reintegration case the arrival opens are Tapachula's; Tapachula's staff clear,
    ticket and send the household home. Guatemala City and an unrelated office, in every
    role, get nothing of the case on any route of the four services."""
    case = await open_case(platform)
    await request_return(platform, case)
    c = case.case_id
    await transfer(platform, case, "MX-TAP")
    # Eligibility learnt of the transfer: its queue is Tapachula's (the clearance may start).
    await platform.until(
        "eligibility",
        f"/assessments/{c}",
        lambda a: a["office"] == "MX-TAP",
        staff("caseworker", "MX-TAP"),
        hop="intake -> eligibility: transfer",
        since=0.0,
    )
    movement = await clear(platform, case)
    assert movement["office"] == "MX-TAP", movement
    await ticket(platform, case)
    await travel_home(platform, case)  # the reintegration case is Tapachula's (it checks)

    before = await versions(platform, c, "MX-TAP")
    for office in (OFFICE, UNRELATED_OFFICE):
        for role in ROLES:
            for service, method, path, scope in case_routes(c):
                got = await platform.clients[service].request(
                    method,
                    path,
                    json={} if method in ("POST", "PUT", "PATCH") else None,
                    headers=staff(role, office),
                )
                seen = (office, role, service, method, path, got.status_code, got.text)
                # A route that checks the office itself (scope "handler") validates the
                # body first: an empty one is a 422 naming fields, before the case is read.
                refused = (403, 404, 422) if scope == "handler" else (403, 404)
                assert got.status_code in refused, seen
    assert await versions(platform, c, "MX-TAP") == before, "nothing was recorded"
