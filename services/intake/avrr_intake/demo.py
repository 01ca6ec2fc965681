"""Demo data for the embedded default: a handful of cases at different phases, via the real APIs.

``POST /intake/demo`` (development mode only: ``AVRR_DEV=1``, which ``make
run`` sets) drives the four services' public REST APIs exactly as their
frontends would, so every event is written by the real commands and every
hop between services goes through the bus: nothing is inserted behind the
services' backs. The cases run concurrently; each one polls the next
service's read model before its next command, as a caseworker would reload
the page. The people are invented.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

OFFICE = "GT-GUA"
# Who refers the demo's households, from where: Honduran families met by a migrants'
# shelter in Guatemala City (the platform's tests refer theirs the same way).
REFERRED_BY_NGO: dict[str, Any] = {
    "source": "ngo",
    "referrer": {"name": "Equipo de Protección", "organisation": "Casa del Migrante"},
    "contact_sharing_consented": False,
    "current_location": {"country": "GT", "city": "Ciudad de Guatemala"},
    "nationality": "HN",
    "languages": ["es"],
}
CASEWORKER = {
    "X-AVRR-User": "demo-caseworker",
    "X-AVRR-Roles": "caseworker",
    "X-AVRR-Offices": OFFICE,
}
TRAVEL_OFFICER = {
    "X-AVRR-User": "demo-travel-officer",
    "X-AVRR-Roles": "travel_officer",
    "X-AVRR-Offices": OFFICE,
}
MEDIC = {"X-AVRR-User": "demo-doctor", "X-AVRR-Roles": "medical", "X-AVRR-Offices": OFFICE}
# The receiving office in the country of origin confirms the arrival: the handover.
RECEIVING_OFFICE = "HN-TGU"
RECEIVER = {
    "X-AVRR-User": "demo-receiver",
    "X-AVRR-Roles": "reintegration_officer",
    "X-AVRR-Offices": RECEIVING_OFFICE,
}
REINTEGRATION_OFFICER = {
    "X-AVRR-User": "demo-reintegration-officer",
    "X-AVRR-Roles": "reintegration_officer",
    "X-AVRR-Offices": OFFICE,
}
MONITOR = {
    "X-AVRR-User": "demo-monitor",
    "X-AVRR-Roles": "reintegration_officer",
    "X-AVRR-Offices": OFFICE,
}
# The packaged reintegration survey's indicators (services/reintegration programmes.yaml).
SURVEY = (
    "income_source",
    "employment_or_business",
    "food_security",
    "debt_to_spending",
    "access_to_credit",
    "adequate_housing",
    "access_to_health_care",
    "access_to_education",
    "identity_documentation",
    "access_to_safe_water",
    "sense_of_belonging",
    "no_signs_of_distress",
    "support_network",
    "feeling_of_safety",
    "no_discrimination",
)

# (invented name, phase the demo takes the case to); Honduran households in Guatemala.
DEMO_CASES = (
    ("Ana Lucía Pérez", "referred"),
    ("Carlos Mejía", "counselled"),
    ("Rosa Elena Díaz", "closed"),
    ("Marvin Castillo", "eligible"),
    ("Gloria Ramos", "cleared"),
    ("Wilmer Flores", "ticketed"),
    ("Sandra Aguilar", "withdrawn"),
    ("Dania Reyes", "arrived"),
    ("Josefina Cruz", "completed"),
)
ORDER = ("referred", "counselled", "eligible", "cleared", "ticketed", "arrived", "completed")


class DemoFailed(RuntimeError):
    pass


class Demo:
    """One platform reached over HTTP; ``client`` has the platform's root as base URL."""

    def __init__(self, client: httpx.AsyncClient, *, timeout: float = 60.0) -> None:
        self.http = client
        self.timeout = timeout

    async def post(
        self, path: str, body: dict[str, Any], headers: Mapping[str, str]
    ) -> dict[str, Any]:
        r = await self.http.post(path, json=body, headers=dict(headers))
        if r.status_code >= 300:
            raise DemoFailed(f"POST {path}: {r.status_code} {r.text[:300]}")
        result: dict[str, Any] = r.json()
        return result

    async def until(
        self, path: str, check: Callable[[dict[str, Any]], bool], headers: Mapping[str, str]
    ) -> dict[str, Any]:
        """Poll a read model until ``check`` holds (the services are eventually consistent)."""
        deadline = asyncio.get_running_loop().time() + self.timeout
        while True:
            r = await self.http.get(path, headers=dict(headers))
            if r.status_code == 200:
                doc: dict[str, Any] = r.json()
                if check(doc):
                    return doc
            if asyncio.get_running_loop().time() > deadline:
                raise DemoFailed(f"GET {path} did not reach the expected state")
            await asyncio.sleep(0.2)

    async def case(self, n: int, name: str, phase: str) -> dict[str, str]:
        """Take one household to ``phase`` through the real commands; its id and phase."""
        given, family = name.rsplit(" ", 1)
        today = date.today()
        referral = {
            **REFERRED_BY_NGO,
            "household": [
                {
                    "given_names": given,
                    "family_name": family,
                    "date_of_birth": (date(1985, 1, 1) + timedelta(days=400 * n)).isoformat(),
                    "sex": "female" if n % 2 == 0 else "male",
                    "relationship": "principal",
                },
                {
                    "given_names": "Niño",
                    "family_name": family,
                    "date_of_birth": (date(2016, 1, 1) + timedelta(days=100 * n)).isoformat(),
                    "sex": "male",
                    "relationship": "child",
                },
            ],
            "office": OFFICE,
        }
        created = await self.post("/intake/referrals", referral, CASEWORKER)
        cid = created["case_id"]
        people = {m["relationship"]: m["person_id"] for m in created["household"]}
        mother, child = people["principal"], people["child"]
        result = {"case_id": cid, "phase": phase}
        await self.until(f"/intake/cases/{cid}", lambda d: True, CASEWORKER)
        if phase == "referred":
            return result
        session = {
            "held_on": today.isoformat(),
            "office": OFFICE,
            "language": "es",
            "topics": ["return process"],
            "outcome": "decided_not_to_apply" if phase == "closed" else "decided_to_apply",
        }
        if phase != "closed":
            consent = {
                "purposes": ["return_assistance_processing"],
                "given_on": today.isoformat(),
                "language": "es",
            }
            await self.post(
                f"/intake/cases/{cid}/consents", {**consent, "person_id": mother}, CASEWORKER
            )
            await self.post(
                f"/intake/cases/{cid}/consents",
                {
                    **consent,
                    "person_id": child,
                    "given_by": "guardian",
                    "representative_person_id": mother,
                },
                CASEWORKER,
            )
        await self.post(f"/intake/cases/{cid}/counselling-sessions", session, CASEWORKER)
        if phase in ("counselled", "closed"):
            return result
        await self.post(
            f"/intake/cases/{cid}/return-request", {"destination_country": "HN"}, CASEWORKER
        )
        await self.until(
            f"/eligibility/assessments/{cid}", lambda d: d.get("status") == "eligible", CASEWORKER
        )
        if phase == "eligible":
            return result
        await self.post(
            f"/eligibility/assessments/{cid}/vulnerability-screenings",
            {
                "person_id": mother,
                "categories": [{"category": "single_parent_family", "severity": "medium"}],
            },
            CASEWORKER,
        )
        await self.post(
            f"/eligibility/assessments/{cid}/due-diligence",
            {
                "identity_verified": True,
                "nationality_verified": True,
                "voluntariness_confirmed_in_private_interview": True,
                "no_legal_impediment": True,
                "family_or_receiving_contact_reached": True,
                "destination_safe": True,
            },
            CASEWORKER,
        )
        await self.until(
            f"/travel/movements/{cid}", lambda d: d.get("status") == "preparing", TRAVEL_OFFICER
        )
        if phase == "cleared":
            return result
        for person, kind in ((mother, "passport"), (child, "emergency_travel_document")):
            await self.post(
                f"/travel/movements/{cid}/documents",
                {"person_id": person, "document_type": kind, "obtained_on": today.isoformat()},
                TRAVEL_OFFICER,
            )
            await self.post(
                f"/travel/movements/{cid}/fitness", {"person_id": person, "outcome": "fit"}, MEDIC
            )
        await self.post(
            f"/travel/movements/{cid}/ticket",
            {
                "mode": "land",
                "carrier": "Transportes del Sur",
                "booking_reference": f"DEMO-{n}",
                "departure_date": today.isoformat(),
                "route": ["Ciudad de Guatemala", "Agua Caliente", "Tegucigalpa"],
                "cost": {"amount": "96.00", "currency": "USD"},
                "escorts": [],
            },
            TRAVEL_OFFICER,
        )
        if phase == "ticketed":
            return result
        if phase == "withdrawn":
            await self.post(
                f"/intake/cases/{cid}/withdrawal", {"reason": "changed_mind"}, CASEWORKER
            )
            return result
        await self.post(f"/travel/movements/{cid}/departure", {}, TRAVEL_OFFICER)
        await self.until(
            f"/travel/movements/{cid}", lambda d: d.get("status") == "departed", TRAVEL_OFFICER
        )
        await self.post(
            f"/travel/movements/{cid}/arrival",
            {"confirmed_by": "receiving_office", "confirmer_id": RECEIVING_OFFICE},
            RECEIVER,
        )
        await self.until(
            f"/reintegration/cases/{cid}",
            lambda d: d.get("decision") == "granted",
            REINTEGRATION_OFFICER,
        )
        if phase == "arrived":
            return result
        await self.reintegrate(cid)
        return result

    async def reintegrate(self, cid: str) -> None:
        today = date.today().isoformat()
        plan = {
            "components": [
                {
                    "kind": "economic",
                    "activity": "micro-business",
                    "budget": {"amount": "300.00", "currency": "USD"},
                },
                {
                    "kind": "social",
                    "activity": "school enrolment",
                    "budget": {"amount": "100.00", "currency": "USD"},
                },
            ],
            "agreed_at": datetime.now(UTC).isoformat(),
        }
        await self.post(f"/reintegration/cases/{cid}/plan", plan, REINTEGRATION_OFFICER)
        for kind, amount in (("cash", "250.00"), ("in_kind", "100.00")):
            await self.post(
                f"/reintegration/cases/{cid}/disbursements",
                {
                    "kind": kind,
                    "amount": amount,
                    "currency": "USD",
                    "method": "mobile_money" if kind == "cash" else "goods_delivered",
                    "disbursed_on": today,
                },
                REINTEGRATION_OFFICER,
            )
        await self.post(
            f"/reintegration/cases/{cid}/monitoring-visits",
            {"due_month": 1, "visited_on": today},
            MONITOR,
        )
        for stage in ("baseline", "end"):
            await self.post(
                f"/reintegration/cases/{cid}/sustainability-scores",
                {"stage": stage, "answers": dict.fromkeys(SURVEY, 0.6), "scored_on": today},
                MONITOR,
            )
        await self.post(
            f"/reintegration/cases/{cid}/completion", {"completed_on": today}, REINTEGRATION_OFFICER
        )

    async def load(self) -> list[dict[str, str]]:
        """Every demo case, concurrently; their ids and phases."""
        return list(
            await asyncio.gather(
                *(self.case(n, name, phase) for n, (name, phase) in enumerate(DEMO_CASES))
            )
        )
