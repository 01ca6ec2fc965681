"""Builders of travel's test data: households, clearances, bookings (no infrastructure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from avrr_travel.movement import Booking, Cost, Escort, EscortKind, Movement
from avrr_travel.observed import DueDiligenceCleared, HouseholdMember

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
TODAY = NOW.date()


def member(
    person_id: str, age: int, relationship: str = "principal", **extra: Any
) -> HouseholdMember:
    return HouseholdMember.model_validate(
        {
            "person_id": person_id,
            "age_years": age,
            "sex": "female",
            "relationship": relationship,
            **extra,
        }
    )


def family() -> list[HouseholdMember]:
    """A mother and her daughter."""
    return [member("p-mother", 34), member("p-daughter", 7, "child")]


def cleared(
    case_id: str = "case-1", household: list[HouseholdMember] | None = None, **extra: Any
) -> DueDiligenceCleared:
    data: dict[str, Any] = {
        "case_id": case_id,
        "programme_id": "avr-mesoamerica",
        "office": "GT-GUA",
        "host_country": "GT",
        "destination_country": "HN",
        "destination_region": "Cortes",
        "transport_mode": "land",
        "household": [m.model_dump() for m in (household or family())],
        "cleared_at": NOW.isoformat(),
        **extra,
    }
    return DueDiligenceCleared.model_validate(data)


def booking(
    departure: date | None = None, escorts: tuple[EscortKind, ...] = (), **extra: Any
) -> Booking:
    values: dict[str, Any] = {
        "mode": "land",
        "carrier": "Transportes del Norte",
        "booking_reference": "TDN-4471",
        "departure_date": departure or TODAY + timedelta(days=5),
        "route": ["Guatemala City", "Agua Caliente border", "San Pedro Sula"],
        "cost": Cost(amount=Decimal("85.00"), currency="USD"),
        "escorts": [Escort(kind=k) for k in escorts],
        **extra,
    }
    return Booking(**values)


def opened(case_id: str = "case-1", household: list[HouseholdMember] | None = None) -> Movement:
    movement = Movement(case_id)
    assert movement.open(cleared(case_id, household), NOW)
    return movement


def ready(movement: Movement, outcome: str = "fit") -> Movement:
    """Give every traveller a passport and the fitness ``outcome``."""
    for pid in movement.travellers:
        movement.obtain_document(pid, "passport", TODAY)
        movement.confirm_fitness(pid, outcome, None, None, NOW)  # type: ignore[arg-type]
    return movement
