"""Contract checks between travel and its neighbours (docs/events.md).

What eligibility and intake publish must be readable by travel's observed
models, and what travel publishes must be readable by the services that
observe it. The neighbours' own classes are used when they are installed in
this environment (they are, in the monorepo's .venv).
"""

from __future__ import annotations

from datetime import timedelta

from travel_fixtures import NOW, TODAY, booking, cleared_payload, opened, ready

from avrr_events.harness import as_published, neighbour_event
from avrr_travel import observed
from avrr_travel.events import registry
from avrr_travel.movement import EVENTS


def test_travel_reads_what_eligibility_publishes() -> None:
    cleared = neighbour_event("avrr_eligibility.assessment", "DueDiligenceCleared")
    suspended = neighbour_event("avrr_eligibility.destination", "DestinationSuspended")
    reopened = neighbour_event("avrr_eligibility.destination", "DestinationReopened")
    payload = as_published(cleared, cleared_payload("case-c"))
    assert observed.DueDiligenceCleared.model_validate(payload).household[1].age_years == 7
    place = {"destination_country": "HN", "destination_region": None}
    observed.DestinationSuspended.model_validate(
        as_published(
            suspended,
            {**place, "reason": "floods", "suspended_by": "u", "suspended_at": NOW.isoformat()},
        )
    )
    observed.DestinationReopened.model_validate(
        as_published(reopened, {**place, "reopened_by": "u", "reopened_at": NOW.isoformat()})
    )


def test_travel_reads_eligibilitys_reopening_of_a_reopened_case() -> None:
    reopened = neighbour_event("avrr_eligibility.assessment", "AssessmentReopened")
    taken_up = {"case_id": "case-c", "reopened_at": NOW.isoformat(), "cleared": False}
    read = observed.AssessmentReopened.model_validate(
        as_published(reopened, {**taken_up, "cause": "case_reopened", "awaits_consent": True})
    )
    assert read.cause == "case_reopened"
    # A consent given again: no cause, as before the reopening of cases.
    again = observed.AssessmentReopened.model_validate(as_published(reopened, taken_up))
    assert again.cause is None


def test_travel_reads_what_intake_publishes() -> None:
    withdrawn = neighbour_event("avrr_intake.case", "CaseWithdrawn")
    payload = as_published(
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
    arrival = neighbour_event("avrr_reintegration.observed", "ArrivalConfirmed")
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
