"""Every read and write of personal data is audited, lists of cases and referrals included.

The audit log once recorded only routes with a case id in their path: who
listed an office's cases, the assessment queue, the day's departures or a
flight manifest (names of everyone on board), or the overdue lists, and who
opened a case by referral, left no trace. A route is now audited when it is
about one case or its rule reaches into offices' cases (``office``), the
caller's own records (``own``) or a check of its own (``handler``); every
other route must be one that shows no one's data, listed here, so a new list
route cannot ship unaudited without a decision.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
from journey_steps import CASEWORKER, OFFICE, REINTEGRATION_OFFICER, TRAVEL_OFFICER, referral

from avrr_events.web.embedded import build_app, discover
from avrr_events.web.middleware import audited_route

# Routes that show no one's data: catalogues, aggregate totals, destinations,
# the demo loader (development only), and the programme-wide waitlist (case ids
# and priorities, no person: reintegration's policy).
NOT_PERSONAL = {
    "eligibility": {
        "GET /programmes",
        "GET /programmes/{programme_id}",
        "GET /destinations/suspensions",
        "POST /destinations/suspensions",
        "POST /destinations/reopenings",
    },
    # The blank notices: the rights and a consent purpose's text, naming no one.
    "intake": {"POST /demo", "GET /notices/rights", "GET /notices/consent-purposes/{purpose}"},
    "travel": {"GET /budgets/{programme_id}"},  # amounts per budget line, no one named
    "reintegration": {
        "GET /programmes",
        "GET /programmes/{programme_id}/totals",
        "GET /programmes/{programme_id}/waitlist",
        "GET /directory",
        "GET /directory/{organisation_id}",
    },
}

AUDITOR = {"X-AVRR-User": "auditor-1", "X-AVRR-Roles": "auditor", "X-AVRR-Offices": "*"}


def test_every_route_left_unaudited_is_one_that_shows_no_ones_data() -> None:
    for service in discover():
        if service.name not in NOT_PERSONAL:
            continue
        assert service.policy is not None
        unaudited = {
            key
            for key, rule in service.policy.rules.items()
            if not audited_route(key.partition(" ")[2], rule)
        }
        assert unaudited == NOT_PERSONAL[service.name], service.name


async def test_lists_of_cases_and_a_referral_are_audited_on_the_embedded_default(
    tmp_path: Path,
) -> None:
    app = build_app(tmp_path / "avrr-data")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://avrr") as http,
    ):
        opened = await http.post("/intake/referrals", json=referral(), headers=CASEWORKER)
        assert opened.status_code == 201, opened.text
        case_id = opened.json()["case_id"]
        reads = [
            ("intake", "/cases", CASEWORKER),
            ("eligibility", "/assessments", CASEWORKER),
            ("travel", f"/departures?on={date.today().isoformat()}", TRAVEL_OFFICER),
            ("travel", f"/manifests/{date.today().isoformat()}", TRAVEL_OFFICER),
            ("reintegration", "/monitoring/overdue", REINTEGRATION_OFFICER),
            ("reintegration", "/plans/overdue", REINTEGRATION_OFFICER),
        ]
        for service, path, headers in reads:
            separator = "&" if "?" in path else "?"
            response = await http.get(
                f"/{service}{path}{separator}office={OFFICE}", headers=headers
            )
            assert response.status_code == 200, (path, response.text)

        def entries_of(service: str) -> list[tuple[str, str, str | None]]:
            return [(e["actor"], e["route"], e["case_id"]) for e in audit[service]]

        audit = {}
        for service in ("intake", "eligibility", "travel", "reintegration"):
            found = await http.get(f"/{service}/audit?limit=1000", headers=AUDITOR)
            assert found.status_code == 200, found.text
            audit[service] = found.json()
        assert ("caseworker-1", "POST /referrals", case_id) in entries_of("intake")
        assert ("caseworker-1", "GET /cases", None) in entries_of("intake")
        assert ("caseworker-1", "GET /assessments", None) in entries_of("eligibility")
        assert ("travel-officer-1", "GET /departures", None) in entries_of("travel")
        assert ("travel-officer-1", "GET /manifests/{day}", None) in entries_of("travel")
        officer = REINTEGRATION_OFFICER["X-AVRR-User"]
        assert (officer, "GET /monitoring/overdue", None) in entries_of("reintegration")
        assert (officer, "GET /plans/overdue", None) in entries_of("reintegration")
        for service in audit:
            verdict = await http.get(f"/{service}/audit/verification", headers=AUDITOR)
            assert verdict.json()["intact"] is True, (service, verdict.text)
