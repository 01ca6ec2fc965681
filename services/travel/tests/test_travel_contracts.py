"""Contract checks between travel and its neighbours (docs/events.md).

What eligibility and intake publish must be readable by travel's observed
models, and what travel publishes must be readable by the services that
observe it. The neighbours' own classes are used when they are installed in
this environment (they are, in the monorepo's .venv).
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

import pytest
from travel_fixtures import NOW, TODAY, booking, cleared_payload, opened, ready

from avrr_events import DomainEvent
from avrr_travel import observed
from avrr_travel.main import registry
from avrr_travel.movement import EVENTS


def neighbour(module: str, name: str) -> type[DomainEvent]:
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        pytest.skip(f"{module}.{name} is not installed here")
    assert isinstance(cls, type) and issubclass(cls, DomainEvent)
    return cls


def published(cls: type[DomainEvent], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as the publisher's own class validates and serialises it."""
    return cls.model_validate(data).model_dump(mode="json")


def test_travel_reads_what_eligibility_publishes() -> None:
    cleared = neighbour("avrr_eligibility.assessment", "DueDiligenceCleared")
    suspended = neighbour("avrr_eligibility.destination", "DestinationSuspended")
    reopened = neighbour("avrr_eligibility.destination", "DestinationReopened")
    payload = published(cleared, cleared_payload("case-c"))
    assert observed.DueDiligenceCleared.model_validate(payload).household[1].age_years == 7
    place = {"destination_country": "HN", "destination_region": None}
    observed.DestinationSuspended.model_validate(
        published(
            suspended,
            {**place, "reason": "floods", "suspended_by": "u", "suspended_at": NOW.isoformat()},
        )
    )
    observed.DestinationReopened.model_validate(
        published(reopened, {**place, "reopened_by": "u", "reopened_at": NOW.isoformat()})
    )


def test_travel_reads_what_intake_publishes() -> None:
    withdrawn = neighbour("avrr_intake.case", "CaseWithdrawn")
    payload = published(
        withdrawn,
        {
            "case_id": "case-c",
            "reason": "changed_mind",
            "withdrawn_by": "caseworker-1",
            "withdrawn_at": NOW.isoformat(),
        },
    )
    assert observed.CaseWithdrawn.model_validate(payload).reason == "changed_mind"


def test_reintegration_reads_travels_arrival() -> None:
    arrival = neighbour("avrr_reintegration.observed", "ArrivalConfirmed")
    movement = ready(opened())
    movement.issue_ticket(booking(), TODAY, NOW)
    movement.confirm_departure(NOW)
    movement.confirm_arrival(NOW + timedelta(hours=6), "partner", "org-7")
    event = movement.pending[-1]
    seen = arrival.model_validate(event.model_dump(mode="json"))
    assert seen.model_dump()["programme_id"] == "avr-mesoamerica"


def test_every_event_type_has_a_published_schema() -> None:
    schemas = registry.json_schemas()
    types = {s["title"] for s in schemas.values()}
    assert {cls.event_type for cls in EVENTS} <= types
    assert all(t.startswith("avrr.travel.") for t in (cls.event_type for cls in EVENTS))
    fit = next(s for s in schemas.values() if s["title"] == "avrr.travel.FitForTravelConfirmed")
    assert "health_details" in fit["properties"]
