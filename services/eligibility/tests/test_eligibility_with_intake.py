"""With the real intake upstream (embedded, as ``make run``): a request becomes a decision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from avrr_eligibility.main import service as eligibility_service
from avrr_events.testing import eventually
from avrr_events.web.embedded import build_app

intake_main = pytest.importorskip("avrr_intake.main")

STAFF = {
    "X-AVRR-User": "caseworker-1",
    "X-AVRR-Roles": "caseworker",
    "X-AVRR-Offices": "PT-LIS",
}


def referral() -> dict[str, Any]:
    """A Brazilian mother and child in Lisbon (the names are invented)."""
    return {
        "source": "self_referral",
        "contact_sharing_consented": False,
        "current_location": {"country": "PT", "city": "Lisboa"},
        "nationality": "BR",
        "languages": ["pt"],
        "household": [
            {
                "given_names": "Ana",
                "family_name": "Souza",
                "date_of_birth": "1991-03-02",
                "sex": "female",
                "relationship": "principal",
            },
            {
                "given_names": "Rafael",
                "family_name": "Souza",
                "date_of_birth": "2017-06-10",
                "sex": "male",
                "relationship": "child",
            },
        ],
        "office": "PT-LIS",
    }


async def test_intake_return_request_is_assessed_and_withdrawal_closes_it(
    tmp_path: Path,
) -> None:
    app = build_app(tmp_path, services=[intake_main.service, eligibility_service])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://avrr", headers=STAFF
        ) as http:
            created = await http.post("/intake/referrals", json=referral())
            assert created.status_code == 201, created.text
            case_id = created.json()["case_id"]
            household = {p["relationship"]: p["person_id"] for p in created.json()["household"]}
            for relationship, person_id in household.items():
                consent: dict[str, Any] = {
                    "person_id": person_id,
                    "purposes": ["return_assistance_processing"],
                    "given_on": "2026-11-01",
                    "language": "pt",
                }
                if relationship == "child":  # the mother consents for her son
                    consent["given_by"] = "guardian"
                    consent["representative_person_id"] = household["principal"]
                given = await http.post(f"/intake/cases/{case_id}/consents", json=consent)
                assert given.status_code == 201, given.text
            requested = await http.post(
                f"/intake/cases/{case_id}/return-request", json={"destination_country": "BR"}
            )
            assert requested.status_code == 201, requested.text

            seen: dict[str, Any] = {}

            async def assessed(status: str) -> bool:
                response = await http.get(f"/eligibility/assessments/{case_id}")
                if response.status_code != 200:
                    return False
                seen.update(response.json())
                return bool(seen["status"] == status)

            async def eligible() -> bool:
                return await assessed("eligible")

            await eventually(eligible, timeout=20)
            assert seen["programme_id"] == "arvore"
            assert seen["household_size"] == 2
            assert seen["unaccompanied_children"] == 0

            withdrawn = await http.post(
                f"/intake/cases/{case_id}/withdrawal", json={"reason": "changed_mind"}
            )
            assert withdrawn.status_code == 200, withdrawn.text

            async def closed() -> bool:
                return await assessed("closed")

            await eventually(closed, timeout=20)
