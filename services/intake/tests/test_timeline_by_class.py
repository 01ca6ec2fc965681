"""The timeline reads events by their class: every type it shows has a summary and the
classes its tables name are the ones the services publish (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from avrr_intake import timeline
from avrr_intake.timeline import TIMELINE_EVENTS, CaseState, summary_of

AT = datetime(2025, 3, 1, tzinfo=UTC)


def test_every_event_the_timeline_shows_has_its_own_summary() -> None:
    for event_type, cls in TIMELINE_EVENTS.types.items():
        assert cls in timeline._SUMMARIES, event_type


def test_the_timeline_tables_name_only_events_it_follows() -> None:
    followed = set(TIMELINE_EVENTS.types.values())
    for table in (timeline._SUMMARIES, timeline._FOLDS, timeline._ADVANCES, timeline._ENDS):
        assert set(table) <= followed


def test_a_stored_entry_is_folded_by_the_class_its_type_names() -> None:
    state = CaseState()
    state.fold("avrr.travel.MovementHeld", {"at": AT.isoformat()}, AT)
    assert state.movement_status == "held"
    state.fold("avrr.intake.CaseWithdrawn", {"reason": "changed_mind"}, AT)
    assert (state.phase, state.withdrawal_reason, state.events) == ("withdrawn", "changed_mind", 2)


def test_an_entry_of_an_unknown_type_is_counted_and_named_by_its_short_name() -> None:
    state = CaseState()
    state.fold("avrr.other.SomethingNew", {}, AT)
    assert state.events == 1 and state.phase is None
    assert summary_of("avrr.other.SomethingNew", {}) == "SomethingNew"
