"""The Assessment aggregate: screening, best interests, due diligence, withdrawal (no infra)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from eligibility_fixtures import (
    CATALOGUE,
    NOW,
    adult,
    full_checklist,
    opened_assessment,
    unaccompanied_child,
)

from avrr_eligibility.assessment import (
    AlreadyCleared,
    AssessmentIsClosed,
    DueDiligenceCleared,
    DueDiligenceRejected,
    EligibilityDecided,
    InvalidCommand,
    Suspension,
    VulnerabilityCategory,
)
from avrr_eligibility.destination import DestinationSafety, DestinationStateError, place_streams


def last(assessment: object, cls: type) -> object:
    events = [e for e in assessment.pending if isinstance(e, cls)]  # type: ignore[attr-defined]
    assert events, f"no {cls.__name__} recorded"
    return events[-1]


def test_opening_records_the_decision_with_its_programme_and_file_version() -> None:
    assessment = opened_assessment(nationality="BR", host="PT")
    decided = last(assessment, EligibilityDecided)
    assert isinstance(decided, EligibilityDecided)
    assert decided.eligible and decided.programme_id == "arvore"
    assert decided.programmes_version == CATALOGUE.version


def test_eligible_adult_with_complete_checklist_is_cleared_with_what_travel_needs() -> None:
    assessment = opened_assessment(nationality="HN", host="MX", region="Cortés")
    reasons = assessment.check_due_diligence(full_checklist(), CATALOGUE, [], "cw1", NOW)
    assert reasons == []
    cleared = last(assessment, DueDiligenceCleared)
    assert isinstance(cleared, DueDiligenceCleared)
    assert cleared.programme_id == "mesoamerica-avr"
    assert cleared.transport_mode == "land"
    assert (cleared.office, cleared.host_country, cleared.destination_country) == (
        "MX-TAP",
        "MX",
        "HN",
    )
    assert cleared.destination_region == "Cortés"
    assert [m.person_id for m in cleared.household] == ["p1"]
    with pytest.raises(AlreadyCleared):
        assessment.check_due_diligence(full_checklist(), CATALOGUE, [], "cw1", NOW)


def test_every_failed_checklist_item_is_a_reason() -> None:
    assessment = opened_assessment()
    reasons = assessment.check_due_diligence(
        full_checklist(
            identity_verified=False,
            voluntariness_confirmed_in_private_interview=False,
            destination_safe=False,
        ),
        CATALOGUE,
        [],
        "cw1",
        NOW,
    )
    assert reasons == [
        "The person's identity has not been verified.",
        "Voluntariness has not been confirmed in a private interview, free of pressure.",
        "The destination has not been confirmed safe for this person.",
    ]
    assert isinstance(last(assessment, DueDiligenceRejected), DueDiligenceRejected)
    # A rejection can be fixed: the next complete checklist clears.
    assert assessment.check_due_diligence(full_checklist(), CATALOGUE, [], "cw1", NOW) == []


def test_ineligible_case_cannot_be_cleared() -> None:
    assessment = opened_assessment(nationality="ES", host="PT")
    reasons = assessment.check_due_diligence(full_checklist(), CATALOGUE, [], "cw1", NOW)
    assert reasons == [
        "The case was found not eligible for a return programme.",
        "ARVoRe is only for nationals of countries outside the European Union, "
        "and Spain is an EU member state.",
    ]


def test_unaccompanied_child_without_best_interests_determination_cannot_be_cleared() -> None:
    assessment = opened_assessment(household=[unaccompanied_child("c1")])
    checklist = full_checklist(family_or_receiving_contact_reached=True)
    reasons = assessment.check_due_diligence(checklist, CATALOGUE, [], "cw1", NOW)
    assert reasons == [
        "No best-interests determination is recorded for unaccompanied or separated child c1: "
        "it is required before a child's return is cleared."
    ]
    assessment.record_best_interests("c1", "return_in_best_interests", "cp1", NOW)
    assert assessment.check_due_diligence(checklist, CATALOGUE, [], "cw1", NOW) == []
    cleared = last(assessment, DueDiligenceCleared)
    assert isinstance(cleared, DueDiligenceCleared)
    # Mesoamerica flew unaccompanied children home rather than sending them by bus.
    assert cleared.transport_mode == "air"


def test_child_flagged_in_screening_also_needs_a_determination_and_family_contact() -> None:
    household = [adult("p1"), adult("c2", age_years=16, relationship="sibling")]
    assessment = opened_assessment(household=household)
    assessment.assess_vulnerability(
        "c2",
        [VulnerabilityCategory(category="unaccompanied_or_separated_child", severity="high")],
        "cw1",
        NOW,
    )
    reasons = assessment.check_due_diligence(full_checklist(), CATALOGUE, [], "cw1", NOW)
    assert reasons == [
        "The family or receiving guardian of the unaccompanied or separated child "
        "has not been reached.",
        "No best-interests determination is recorded for unaccompanied or separated child c2: "
        "it is required before a child's return is cleared.",
    ]


def test_determination_against_return_blocks_clearance() -> None:
    assessment = opened_assessment(household=[unaccompanied_child("c1")])
    assessment.record_best_interests("c1", "return_not_in_best_interests", "cp1", NOW)
    reasons = assessment.check_due_diligence(
        full_checklist(family_or_receiving_contact_reached=True), CATALOGUE, [], "cw1", NOW
    )
    assert reasons == [
        "The best-interests determination found that return is not in the best interests "
        "of child c1."
    ]


def test_suspended_destination_cannot_be_cleared() -> None:
    assessment = opened_assessment()
    suspension = Suspension("HN", None, "armed violence on the return route", NOW)
    reasons = assessment.check_due_diligence(full_checklist(), CATALOGUE, [suspension], "cw", NOW)
    assert reasons == [
        "Returns to Honduras are suspended since 2026-11-22 for safety reasons: "
        "armed violence on the return route"
    ]


def test_commands_on_a_closed_assessment_are_refused() -> None:
    assessment = opened_assessment()
    assert assessment.close("case withdrawn at intake", NOW)
    assert not assessment.close("again", NOW)
    with pytest.raises(AssessmentIsClosed):
        assessment.check_due_diligence(full_checklist(), CATALOGUE, [], "cw1", NOW)
    with pytest.raises(AssessmentIsClosed):
        assessment.assess_vulnerability(None, [], "cw1", NOW)


def test_screening_and_determinations_must_name_people_of_the_household() -> None:
    assessment = opened_assessment()
    with pytest.raises(InvalidCommand, match="not in the household"):
        assessment.assess_vulnerability("nobody", [], "cw1", NOW)
    with pytest.raises(InvalidCommand, match="is for children"):
        assessment.record_best_interests("p1", "return_in_best_interests", "cp1", NOW)
    with pytest.raises(InvalidCommand, match="once"):
        assessment.assess_vulnerability(
            "p1",
            [
                VulnerabilityCategory(category="elderly", severity="low"),
                VulnerabilityCategory(category="elderly", severity="high"),
            ],
            "cw1",
            NOW,
        )


def test_destination_suspend_and_reopen() -> None:
    place = DestinationSafety(place_streams("HN", "Gracias a Dios")[0])
    assert place.subject == "destination:HN/GD"
    when = datetime(2026, 11, 1, tzinfo=UTC)
    place.suspend("HN", "Gracias a Dios", "flooding", "sup1", when)
    assert place.active_suspension is not None
    with pytest.raises(DestinationStateError):
        place.suspend("HN", "Gracias a Dios", "again", "sup1", when)
    place.reopen("sup1", when)
    assert place.active_suspension is None
    with pytest.raises(DestinationStateError):
        place.reopen("sup1", when)


def test_every_spelling_of_a_place_is_one_stream_read_with_its_older_names() -> None:
    """A place's stream is its key (avrr_events.places); the names streams had before
    (the text without accents, case or spaces) are read after it, for older suspensions."""
    for spelling in ("  Cortés ", "CORTES", "cortes", "HN-CR", "cr"):
        assert place_streams("HN", spelling)[0] == "HN/CR"
    assert place_streams("HN", "Gracias  a Dios") == [
        "HN/GD",
        "HN/gracias a dios",
        "HN/hn-gd",
        "HN/gd",
    ]
    assert place_streams("HN", "San Pedro  Sula") == ["HN/san pedro sula"]
    assert place_streams("HN") == place_streams("HN", None) == ["HN"]
