"""A group movement's manifest the way users get it: a household referred at intake, cleared by
eligibility, ticketed and seated in a convoy by travel; intake's manifest then names the mother
with her passport number (intake holds it; travel never does), and drops the household once it
leaves the group. On the embedded default (SQLite, in-process bus) and on four separate
processes over PostgreSQL and Kafka."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from journey_steps import (
    OFFICE,
    TRAVEL_OFFICER,
    Platform,
    case_through,
    clear,
    embedded_platform,
    request_return,
    ticket,
    today,
)
from test_return_journey import StartProcesses, separate_processes

from avrr_events.testing import eventually


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def _manifest(p: Platform, group_id: str) -> list[dict[str, str]]:
    got = await p.clients["intake"].get(
        f"/groups/{group_id}/manifest", headers={**TRAVEL_OFFICER, "Accept": "text/csv"}
    )
    return _rows(got.text) if got.status_code == 200 else []


async def seated_household_is_named_on_the_manifest(p: Platform) -> None:
    case = await case_through(p, request_return, clear, ticket, n=41)
    plan: dict[str, Any] = {
        "office": OFFICE,
        "mode": "bus",
        "departure_date": today(),
        "route": ["Ciudad de Guatemala", "Agua Caliente", "Tegucigalpa"],
        "capacity": 40,
        "carrier": "Transportes del Sur",
        "escorts": [{"staff_id": "escort-1", "kind": "operational", "may_escort": []}],
    }
    planned, _ = await p.post("travel", "/groups", plan, TRAVEL_OFFICER, expect=201)
    group_id = planned["group_id"]
    seat = {"case_id": case.case_id}
    await p.post("travel", f"/groups/{group_id}/households", seat, TRAVEL_OFFICER, expect=200)

    async def named() -> bool:
        return any(r["document_number"] == "F123456" for r in await _manifest(p, group_id))

    await eventually(named, timeout=60)
    rows = await _manifest(p, group_id)
    assert {(r["family_name"], r["relationship"]) for r in rows} == {
        ("Reyes Cruz", "principal"),
        ("Reyes", "child"),
    }
    removed = await p.clients["travel"].delete(
        f"/groups/{group_id}/households/{case.case_id}", headers=TRAVEL_OFFICER
    )
    assert removed.status_code == 200, removed.text

    async def gone() -> bool:
        return await _manifest(p, group_id) == []

    await eventually(gone, timeout=60)


async def test_the_manifest_names_a_seated_household_on_the_embedded_default(
    tmp_path: Path,
) -> None:
    async with embedded_platform(tmp_path / "avrr-data") as platform:
        await seated_household_is_named_on_the_manifest(platform)


async def test_the_manifest_names_a_seated_household_across_processes(
    service_processes: StartProcesses, kafka_bootstrap: str
) -> None:
    async with separate_processes(service_processes, kafka_bootstrap) as platform:
        await seated_household_is_named_on_the_manifest(platform)
