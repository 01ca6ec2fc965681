"""Builders of reintegration's test data (no infrastructure needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from avrr_reintegration.programmes import Programme, ProgrammeCatalogue, load_catalogue
from avrr_reintegration.reintegration import Arrival, Budget, PlanComponent, Reintegration

ARRIVED = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)


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
