"""Contracts (docs/events.md) checked against the neighbours' own models, where installed.

Upstream: what intake writes decodes through eligibility's tolerant readers.
Downstream: what eligibility writes decodes through travel's and
reintegration's. A neighbour that is not installed is skipped, not failed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from eligibility_fixtures import (
    CATALOGUE,
    NOW,
    adult,
    full_checklist,
    opened_assessment,
    unaccompanied_child,
)

from avrr_eligibility.assessment import DueDiligenceCleared, VulnerabilityCategory
from avrr_eligibility.destination import DestinationSafety
from avrr_eligibility.events import registry
from avrr_events import DomainEvent, Envelope, EventRegistry, dataschema_uri


def envelope(event: DomainEvent, subject: str) -> Envelope:
    return Envelope(
        source="/avrr/test",
        type=event.event_type,
        subject=subject,
        dataschema=dataschema_uri(event.event_type, event.event_version),
        dataversion=event.event_version,
        correlationid=subject,
        data=event.model_dump(mode="json"),
    )


def test_intake_events_decode_through_eligibility_readers() -> None:
    case = pytest.importorskip("avrr_intake.case")
    consent = pytest.importorskip("avrr_intake.consent")
    household = [
        case.HouseholdMember(
            person_id="p1",
            age_years=16,
            sex="male",
            relationship="principal",
            unaccompanied_minor=True,
        )
    ]
    written: list[Any] = [
        case.ReturnRequested(
            case_id="c-1",
            office="MX-TAP",
            nationality="HN",
            host_country="MX",
            destination_country="HN",
            destination_region="Cortés",
            programme_hint="mesoamerica-avr",
            household=household,
            requested_at=NOW,
        ),
        case.CaseWithdrawn(
            case_id="c-1", reason="changed_mind", withdrawn_at=NOW, withdrawn_by="cw-1"
        ),
        consent.ConsentWithdrawn(
            case_id="c-1",
            purpose="return_assistance_processing",
            withdrawn_at=NOW,
            recorded_by="cw-1",
        ),
        case.CaseReopened(
            case_id="c-1",
            previous_status="withdrawn",
            resumes_return=True,
            reason="person_returned",
            recorded_by="cw-1",
            reopened_at=NOW,
        ),
    ]
    for event in written:
        read = registry.decode(envelope(event, "c-1"))
        assert type(read).__name__ == type(event).__name__
    request = registry.decode(envelope(written[0], "c-1"))
    assert request.household[0].is_unaccompanied_child  # type: ignore[attr-defined]


def _downstream(module: str) -> EventRegistry:
    observed = pytest.importorskip(module)
    types = [
        v
        for v in vars(observed).values()
        if isinstance(v, type) and issubclass(v, DomainEvent) and hasattr(v, "event_type")
    ]
    return EventRegistry([t for t in types if t.event_type.startswith("avrr.eligibility.")])


def _written() -> list[tuple[DomainEvent, str]]:
    child = opened_assessment(household=[adult("p1"), unaccompanied_child("c1")])
    child.assess_vulnerability(
        "c1",
        [VulnerabilityCategory(category="unaccompanied_or_separated_child", severity="high")],
        "cw-1",
        NOW,
    )
    child.record_best_interests("c1", "return_in_best_interests", "cp-1", NOW)
    child.check_due_diligence(
        full_checklist(family_or_receiving_contact_reached=True), CATALOGUE, [], "cw-1", NOW
    )
    assert isinstance(child.pending[-1], DueDiligenceCleared)
    place = DestinationSafety("HN")
    place.suspend("HN", None, "violence", "sup-1", datetime.now(UTC))
    place.reopen("sup-1", datetime.now(UTC))
    return [(e, child.subject) for e in child.pending] + [(e, place.subject) for e in place.pending]


@pytest.mark.parametrize("module", ["avrr_travel.observed", "avrr_reintegration.observed"])
def test_eligibility_events_decode_through_downstream_readers(module: str) -> None:
    theirs = _downstream(module)
    assert theirs.types, f"{module} reads no eligibility event"
    decoded = 0
    for event, subject in _written():
        if theirs.handles(event.event_type):
            theirs.decode(envelope(event, subject))
            decoded += 1
    assert decoded >= 1
