"""The Movement aggregate's rules, without any infrastructure."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from pydantic import ValidationError
from travel_fixtures import NOW, TODAY, booking, cleared, member, opened, ready

from avrr_events import Encrypted
from avrr_travel.events import registry
from avrr_travel.movement import (
    CaseWithdrawalNoted,
    Movement,
    MovementCancelled,
    MovementHeld,
    MovementOpened,
    MovementRuleViolation,
    TicketIssued,
)


def requirements(exc: pytest.ExceptionInfo[MovementRuleViolation]) -> set[tuple[str, str | None]]:
    return {(m.requirement, m.person_id) for m in exc.value.missing}


def test_clearance_opens_a_movement_for_the_whole_household() -> None:
    movement = opened()
    (event,) = movement.pending
    assert isinstance(event, MovementOpened)
    assert [t.person_id for t in event.travellers] == ["p-mother", "p-daughter"]
    assert event.office == "GT-GUA" and event.destination_country == "HN"
    assert movement.status == "preparing"


def test_a_clearance_naming_a_person_twice_is_invalid() -> None:
    with pytest.raises(ValidationError, match="twice"):
        cleared(household=[member("p-1", 30), member("p-1", 30)])


def test_a_repeated_clearance_opens_nothing_more() -> None:
    movement = opened()
    assert not movement.open(cleared(), NOW)
    assert len(movement.pending) == 1


def test_ticket_refused_without_documents_or_fitness_names_what_is_missing() -> None:
    movement = opened()
    movement.request_document("p-daughter", "emergency_travel_document", TODAY)
    with pytest.raises(MovementRuleViolation) as exc:
        movement.issue_ticket(booking(), TODAY, NOW)
    assert requirements(exc) == {
        ("travel_document", "p-mother"),
        ("travel_document", "p-daughter"),
        ("fitness_to_travel", "p-mother"),
        ("fitness_to_travel", "p-daughter"),
    }
    assert "emergency_travel_document requested" in exc.value.detail
    assert not any(isinstance(e, TicketIssued) for e in movement.pending)


def test_ticket_refused_while_a_traveller_is_unfit() -> None:
    movement = ready(opened())
    movement.confirm_fitness("p-mother", "unfit", TODAY + timedelta(days=10), None, NOW)
    with pytest.raises(MovementRuleViolation) as exc:
        movement.issue_ticket(booking(), TODAY, NOW)
    assert requirements(exc) == {("fitness_to_travel", "p-mother")}


def test_ticket_issued_when_everyone_is_ready() -> None:
    movement = ready(opened())
    movement.issue_ticket(booking(), TODAY, NOW)
    assert movement.status == "ticketed"
    assert isinstance(movement.pending[-1], TicketIssued)


def test_unaccompanied_child_needs_an_escort() -> None:
    movement = ready(opened(household=[member("p-boy", 15, unaccompanied_minor=True)]))
    with pytest.raises(MovementRuleViolation) as exc:
        movement.issue_ticket(booking(), TODAY, NOW)
    assert requirements(exc) == {("escort", "p-boy")}
    movement.issue_ticket(booking(escorts=("operational",)), TODAY, NOW)
    assert movement.status == "ticketed"


def test_children_without_any_adult_count_as_unaccompanied() -> None:
    household = [member("p-sister", 16), member("p-brother", 12, "sibling")]
    movement = ready(opened(household=household))
    with pytest.raises(MovementRuleViolation) as exc:
        movement.issue_ticket(booking(), TODAY, NOW)
    assert requirements(exc) == {("escort", "p-sister"), ("escort", "p-brother")}


def test_fit_with_escort_needs_a_medical_escort() -> None:
    movement = ready(opened(), outcome="fit_with_escort")
    with pytest.raises(MovementRuleViolation) as exc:
        movement.issue_ticket(booking(escorts=("operational",)), TODAY, NOW)
    assert {r for r, _ in requirements(exc)} == {"medical_escort"}
    movement.issue_ticket(booking(escorts=("medical",)), TODAY, NOW)


def test_unfit_needs_a_future_date_and_fit_takes_none() -> None:
    movement = opened()
    with pytest.raises(MovementRuleViolation):
        movement.confirm_fitness("p-mother", "unfit", None, None, NOW)
    with pytest.raises(MovementRuleViolation):
        movement.confirm_fitness("p-mother", "unfit", TODAY, None, NOW)
    with pytest.raises(MovementRuleViolation):
        movement.confirm_fitness("p-mother", "fit", TODAY + timedelta(days=3), None, NOW)
    with pytest.raises(MovementRuleViolation, match="not a traveller"):
        movement.confirm_fitness("p-stranger", "fit", None, None, NOW)


def test_departure_and_arrival_follow_the_ticket() -> None:
    movement = ready(opened())
    with pytest.raises(MovementRuleViolation):
        movement.confirm_departure(NOW)
    movement.issue_ticket(booking(), TODAY, NOW)
    movement.confirm_departure(NOW)
    with pytest.raises(MovementRuleViolation):
        movement.confirm_arrival(NOW - timedelta(hours=1), "partner", None)
    movement.confirm_arrival(NOW + timedelta(hours=9), "receiving_office", "HN-SPS")
    assert movement.status == "arrived"
    arrival = movement.pending[-1]
    assert arrival.model_dump()["programme_id"] == "avr-mesoamerica"
    assert arrival.model_dump()["office"] == "GT-GUA"


def sealed(text: str) -> Encrypted:
    """A stand-in for a value the commands encrypt (the aggregate never opens it)."""
    return Encrypted(
        subject="p-mother", nonce="bm9uY2U=", ct=base64.b64encode(text.encode()).decode()
    )


def test_no_show_then_rebooking_returns_to_ticketed() -> None:
    movement = ready(opened())
    movement.issue_ticket(booking(), TODAY, NOW)
    movement.record_no_show(sealed("did not come to the bus terminal"), NOW)
    assert movement.status == "no_show"
    with pytest.raises(MovementRuleViolation):
        movement.confirm_departure(NOW)
    movement.rebook(sealed("no-show"), TODAY + timedelta(days=9), None, sealed("TDN-5120"), TODAY)
    assert str(movement.status) == "ticketed"  # str(): mypy narrowed it to "no_show" above
    assert movement.booking is not None
    assert movement.booking.booking_reference == sealed("TDN-5120")
    assert movement.booking.departure_date == TODAY + timedelta(days=9)


def test_held_movement_refuses_ticket_and_departure_until_released() -> None:
    movement = ready(opened())
    movement.issue_ticket(booking(), TODAY, NOW)
    assert movement.hold("destination HN suspended: floods", NOW)
    assert not movement.hold("again", NOW)
    with pytest.raises(MovementRuleViolation, match="held"):
        movement.confirm_departure(NOW)
    assert movement.release("destination HN reopened", NOW)
    movement.confirm_departure(NOW)


def test_withdrawal_cancels_an_open_movement_and_ends_it() -> None:
    movement = ready(opened())
    movement.issue_ticket(booking(), TODAY, NOW)
    assert movement.withdraw("changed their mind", NOW)
    assert isinstance(movement.pending[-1], MovementCancelled)
    assert movement.status == "cancelled"
    assert not movement.withdraw("again", NOW)
    assert not movement.hold("suspended", NOW)
    with pytest.raises(MovementRuleViolation):
        movement.confirm_departure(NOW)
    with pytest.raises(MovementRuleViolation):
        movement.obtain_document("p-mother", "passport", TODAY)


def test_withdrawal_before_clearance_prevents_the_movement() -> None:
    movement = Movement("case-9")
    assert movement.withdraw("changed their mind", NOW)
    assert isinstance(movement.pending[-1], CaseWithdrawalNoted)
    assert not movement.open(cleared("case-9"), NOW)


def test_withdrawal_after_departure_changes_nothing() -> None:
    movement = ready(opened())
    movement.issue_ticket(booking(), TODAY, NOW)
    movement.confirm_departure(NOW)
    assert not movement.withdraw("too late", NOW)
    assert movement.status == "departed"


def test_events_round_trip_through_the_registry() -> None:
    movement = ready(opened())
    movement.confirm_fitness(
        "p-mother", "fit", None, Encrypted(subject="p-mother", nonce="bm9uY2U=", ct="Y3Q="), NOW
    )
    movement.issue_ticket(booking(), TODAY, NOW)
    movement.hold("suspended", NOW)
    replayed = Movement("case-1")
    for event in movement.pending:
        cls = registry.event_class(event.event_type)
        replayed.when(cls.model_validate(event.model_dump(mode="json")))
    assert replayed.status == "ticketed" and replayed.held
    assert isinstance(movement.pending[-1], MovementHeld)
