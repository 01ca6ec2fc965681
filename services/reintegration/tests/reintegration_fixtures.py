"""Builders of reintegration's test data, and a harness around the running service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from avrr_events.harness import RunningService
from avrr_events.testing import eventually
from avrr_reintegration import read_models
from avrr_reintegration.programmes import Programme, ProgrammeCatalogue, load_catalogue
from avrr_reintegration.reintegration import Arrival, Budget, PlanComponent, Reintegration

ARRIVED = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)
# Months 1, 3 and 6 of an ARRIVED case due with no visit, the plan deadline long past.
OVERDUE_AS_OF = "2026-10-01"


def catalogue(**programme: Any) -> ProgrammeCatalogue:
    """The packaged catalogue with ``test-avr`` added: 2 places, 1000 USD cap, 600 per plan."""
    packaged = load_catalogue()
    values: dict[str, Any] = {
        "id": "test-avr",
        "name": "Test programme",
        "currency": "USD",
        "places": 2,
        "budget": Decimal("1000.00"),
        "max_plan_budget": Decimal("600.00"),
        "min_priority": 0,
        "plan_deadline_days": 30,
        "monitoring_months": (1, 3, 6),
        **programme,
    }
    programmes = {**packaged.programmes, "test-avr": Programme(**values)}
    return packaged.model_copy(update={"programmes": programmes})


def programme(**values: Any) -> Programme:
    return catalogue(**values).programmes["test-avr"]


def arrival(programme_id: str = "test-avr", at: datetime = ARRIVED) -> Arrival:
    return Arrival(
        programme_id=programme_id,
        office="BR-BSB",
        destination_country="BR",
        destination_region="MG",
        arrived_at=at,
    )


def component(kind: str, activity: str, amount: str, currency: str = "USD") -> PlanComponent:
    return PlanComponent.model_validate(
        {"kind": kind, "activity": activity, "budget": {"amount": amount, "currency": currency}}
    )


def plan(total_economic: str = "400.00", social: str = "100.00") -> list[PlanComponent]:
    return [
        component("economic", "micro-business: sewing workshop", total_economic),
        component("social", "school enrolment of the children", social),
        component("psychosocial", "counselling sessions", "50.00"),
    ]


def granted_case(case_id: str = "case-1") -> Reintegration:
    case = Reintegration(case_id)
    case.decide(arrival(), "granted", 3, "a place was available", ARRIVED)
    return case


def budget(amount: str, currency: str = "USD") -> Budget:
    return Budget.model_validate({"amount": amount, "currency": currency})


# ------------------------------------------------------ the running service --

OFFICER = {
    "X-AVRR-User": "officer-1",
    "X-AVRR-Roles": "reintegration_officer",
    "X-AVRR-Offices": "BR-BSB",
}
# A reader who does not work the case: sees it, not its monitoring notes.
# The harness reads every office's cases, as a headquarters account may.
HEADQUARTERS = {**OFFICER, "X-AVRR-Offices": "*"}
MANAGER = {"X-AVRR-User": "caseworker-1", "X-AVRR-Roles": "caseworker", "X-AVRR-Offices": "BR-BSB"}

ANSWERS_ALL = {  # the packaged survey's indicators, all at 0.6
    i: 0.6 for dim in load_catalogue().sustainability.indicators.values() for i in dim
}


class RunningReintegration(RunningService):
    """The running service, an HTTP client on its app, and a fake upstream publisher."""

    stream_type = "reintegration"
    view_path = "/cases/{}"
    viewer = HEADQUARTERS
    actor = HEADQUARTERS

    async def assess(self, case_id: str, person_id: str, *categories: tuple[str, str]) -> None:
        """Eligibility assesses a person; wait until the priority is known (topics race)."""
        await self.publish(
            "eligibility",
            "avrr.eligibility.VulnerabilityAssessed",
            case_id,
            {
                "case_id": case_id,
                "person_id": person_id,
                "categories": [{"category": c, "severity": s} for c, s in categories],
                "best_interests_determination_done": False,
                "assessed_by": "assessor-1",
                "assessed_at": ARRIVED.isoformat(),
            },
        )

        async def noted() -> bool:
            async with self.runtime.db.engine.connect() as conn:
                t = read_models.vulnerability_priorities
                row = await conn.scalar(
                    select(t.c.score).where(t.c.case_id == case_id, t.c.person_key == person_id)
                )
            return row is not None

        await eventually(noted)

    async def arrive(
        self,
        case_id: str,
        programme_id: str = "test-avr",
        *,
        office: str = "BR-BSB",
        arrived_at: datetime = ARRIVED,
        wait: bool = True,
        **extra: Any,
    ) -> dict[str, Any]:
        """Travel confirms the arrival (``extra``: more of its fields, e.g. ``languages``);
        wait for the decision's read model."""
        await self.publish(
            "travel",
            "avrr.travel.ArrivalConfirmed",
            case_id,
            {
                "case_id": case_id,
                "programme_id": programme_id,
                "office": office,
                "destination_country": "BR",
                "destination_region": "MG",
                "arrived_at": arrived_at.isoformat(),
                "confirmed_by": "receiving-officer",
                **extra,
            },
        )
        return await self.wait_for(case_id) if wait else {}

    async def confirm_arrival(self, case_id: str, confirmed_by: str, confirmer: str) -> None:
        """Travel confirms the arrival in Brazil as ``confirmed_by`` (``receiving_office``:
        the office ``confirmer``, which takes the case over); wait for the decision."""
        await self.publish(
            "travel",
            "avrr.travel.ArrivalConfirmed",
            case_id,
            {
                "case_id": case_id,
                "programme_id": "test-avr",
                "office": "BR-BSB",
                "destination_country": "BR",
                "arrived_at": ARRIVED.isoformat(),
                "confirmed_by": confirmed_by,
                "confirmer_id": confirmer,
            },
        )
        await self.wait_for(case_id)

    async def overdue_lists(
        self, office: str, headers: dict[str, str] | None = None, as_of: str = OVERDUE_AS_OF
    ) -> Any:
        """(monitoring case ids, plan case ids) on ``office``'s overdue lists as of ``as_of``,
        read as ``headers`` (an officer of ``office``), or the two statuses of a refusal."""
        params = {"office": office, "as_of": as_of}
        headers = headers or {**OFFICER, "X-AVRR-Offices": office}
        visits = await self.http.get("/monitoring/overdue", params=params, headers=headers)
        plans = await self.http.get("/plans/overdue", params=params, headers=headers)
        if visits.status_code != 200 or plans.status_code != 200:
            return visits.status_code, plans.status_code
        return (
            sorted({i["case_id"] for i in visits.json()["items"]}),
            sorted({i["case_id"] for i in plans.json()["items"]}),
        )

    async def case(self, case_id: str) -> dict[str, Any] | None:
        """The case's read model (None while there is none)."""
        return await self.view(case_id)

    async def totals_reach(self, **expected: object) -> None:
        """Wait until the test programme's totals show ``expected`` (field -> value); the
        totals are a read model, eventually consistent with the ledger."""

        async def totals_show_expected() -> bool:
            got = await self.http.get("/programmes/test-avr/totals", headers=OFFICER)
            return {name: got.json()[name] for name in expected} == expected

        await eventually(totals_show_expected)

    async def agree_plan(
        self, case_id: str, components: list[PlanComponent], days: int = 10
    ) -> None:
        agreed = ARRIVED + timedelta(days=days)
        r = await self.post(
            f"/cases/{case_id}/plan",
            {
                "components": [c.model_dump(mode="json") for c in components],
                "agreed_at": agreed.isoformat(),
            },
        )
        assert r.status_code == 201, r.text

    async def disburse(self, case_id: str, amount: str, kind: str = "cash") -> httpx.Response:
        return await self.post(
            f"/cases/{case_id}/disbursements",
            {
                "kind": kind,
                "amount": amount,
                "currency": "USD",
                "method": "mobile_money" if kind == "cash" else "goods_delivered",
                "disbursed_on": "2026-04-01",
            },
        )

    async def score(self, case_id: str, stage: str, scored_on: str) -> None:
        r = await self.post(
            f"/cases/{case_id}/sustainability-scores",
            {"stage": stage, "answers": ANSWERS_ALL, "scored_on": scored_on},
        )
        assert r.status_code == 201, r.text

    async def complete(self, case_id: str) -> None:
        await self.score(case_id, "baseline", "2026-03-20")
        await self.score(case_id, "end", "2026-09-16")
        r = await self.post(f"/cases/{case_id}/completion", {"completed_on": "2026-09-20"})
        assert r.status_code == 201, r.text
