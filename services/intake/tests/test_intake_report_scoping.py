"""Reports outside headquarters: only the caller's offices, and no cell of fewer than 5
households (the public counts' rule, avrr_events.small_cells). Bearer JWTs, real PostgreSQL
and Kafka."""

from __future__ import annotations

from typing import Any

from intake_fixtures import Intake, referral
from intake_tokens import bearer

from avrr_events.testing import eventually

HEADQUARTERS = bearer("pm-hq", "auditor", "*")
GUATEMALA = bearer("pm-gt", "auditor", "GT-GUA")
TAPACHULA = bearer("sup-mx", "supervisor", "MX-TAP")


async def _phases(intake: Intake, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = await intake.http.get("/reports/phases", headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _referred(report: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in report["phases"] if p["phase"] == "referred")


async def test_an_office_reads_only_its_own_counts_and_no_small_cell(intake: Intake) -> None:
    for office in ["GT-GUA"] * 2 + ["MX-TAP"] * 6:
        response = await intake.refer(referral(office=office))
        assert response.status_code == 201, response.text

    async def counted() -> bool:
        return bool((await _phases(intake, HEADQUARTERS))["total"] == 8)

    await eventually(counted, timeout=30)

    # Headquarters: every office, counts as they are.
    assert _referred(await _phases(intake, HEADQUARTERS))["cases"] == 8
    # Tapachula: its 6 cases only, shown (not fewer than 5).
    tapachula = await _phases(intake, TAPACHULA)
    assert _referred(tapachula) == {"phase": "referred", "cases": 6}
    assert tapachula["total"] == 6
    # Guatemala: its 2 cases would single the households out: suppressed, total too.
    guatemala = await _phases(intake, GUATEMALA)
    assert _referred(guatemala) == {"phase": "referred", "cases": None, "suppressed": True}
    assert guatemala["total"] is None
    csv = await intake.http.get("/reports/phases", headers=GUATEMALA, params={"format": "csv"})
    assert "referred,\n" in csv.text  # an empty cell, not the count
    # Another office's counts are not theirs to ask for.
    for path in ("/reports/phases", "/reports/returns", "/reports/assistance"):
        response = await intake.http.get(path, headers=GUATEMALA, params={"office": "MX-TAP"})
        assert response.status_code == 403, path
    # Nor do the other reports mix offices: nothing returned anywhere yet, all zero.
    returns = await intake.http.get("/reports/returns", headers=GUATEMALA)
    assert returns.json()["total"] == {"cases": 0, "returnees": 0}
