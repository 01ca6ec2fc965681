"""The aggregates' rules, without infrastructure: places, waitlist, plan, ledger, stop."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from reintegration_fixtures import ARRIVED, granted_case, plan, programme

from avrr_reintegration.allocation import ProgrammeAllocation
from avrr_reintegration.programmes import load_catalogue
from avrr_reintegration.reintegration import (
    AssistanceDisbursed,
    ReintegrationPlanAgreed,
    ReintegrationRuleViolation,
)
from avrr_reintegration.vulnerability import AssessedCategory, case_priority, priority_score


def test_priority_weighs_categories_by_severity() -> None:
    rules = load_catalogue().priority
    # trafficking (weight 3) high (3 points) + elderly (2) medium (2) = 9 + 4 = 13
    assert (
        priority_score(
            [
                AssessedCategory("victim_of_trafficking", "high"),
                AssessedCategory("elderly", "medium"),
            ],
            rules,
        )
        == 13
    )
    assert priority_score([], rules) == 0
    # the case's priority is its most vulnerable member's
    assert case_priority({"mother": 4, "child": 9}) == 9
    assert case_priority({}) == 0


def test_the_n_plus_first_arrival_waits_and_freed_places_go_by_priority() -> None:
    prog = programme(places=2)
    alloc = ProgrammeAllocation("test-avr")
    at = ARRIVED
    assert alloc.admit("a", 1, at, prog) == "granted"
    assert alloc.admit("b", 9, at + timedelta(hours=1), prog) == "granted"
    # places are full: the next ones wait, ordered by priority, then arrival
    assert alloc.admit("c", 4, at + timedelta(hours=2), prog) == "waitlisted"
    assert alloc.admit("d", 6, at + timedelta(hours=3), prog) == "waitlisted"
    assert alloc.admit("e", 6, at + timedelta(hours=4), prog) == "waitlisted"
    assert alloc.waitlist() == ["d", "e", "c"]
    # a completion frees a place: the highest priority waiting (d) gets it, not the first (c)
    assert alloc.release("a", "completed", at, prog) == "d"
    assert alloc.waitlist() == ["e", "c"]
    # leaving the waitlist frees no place
    assert alloc.release("e", "withdrawn", at, prog) is None
    assert alloc.release("b", "withdrawn", at, prog) == "c"
    assert alloc.waitlist() == []
    with pytest.raises(ReintegrationRuleViolation):
        alloc.admit("c", 4, at, prog)


def test_unlimited_places_never_waitlist() -> None:
    prog = programme(places=None)
    alloc = ProgrammeAllocation("test-avr")
    assert all(alloc.admit(f"c{i}", 0, ARRIVED, prog) == "granted" for i in range(50))


def test_a_plan_agreed_after_the_deadline_is_flagged_late() -> None:
    prog = programme()
    on_time = granted_case()
    on_time.agree_plan(plan(), ARRIVED + timedelta(days=30), prog)
    late = granted_case()
    late.agree_plan(plan(), ARRIVED + timedelta(days=31), prog)
    first, second = on_time.pending[-1], late.pending[-1]
    assert isinstance(first, ReintegrationPlanAgreed) and isinstance(
        second, ReintegrationPlanAgreed
    )
    assert (first.days_after_arrival, first.late) == (30, False)
    assert (second.days_after_arrival, second.late) == (31, True)


def test_a_plan_is_checked_against_the_programme() -> None:
    prog = programme(max_plan_budget=Decimal("600.00"))
    case = granted_case()
    with pytest.raises(ReintegrationRuleViolation, match="maximum per plan"):
        case.agree_plan(plan("500.00"), ARRIVED, prog)  # 500 + 100 + 50 = 650
    with pytest.raises(ReintegrationRuleViolation, match="currency EUR, not USD"):
        case.agree_plan(plan(), ARRIVED, programme(currency="EUR"))


def test_the_ledger_refuses_a_disbursement_beyond_the_plan_budget() -> None:
    prog = programme()
    case = granted_case()
    case.agree_plan(plan(), ARRIVED, prog)  # 550 USD
    day = date(2026, 3, 20)
    case.disburse("cash", Decimal("300.00"), "USD", "mobile_money", day, prog)
    case.disburse("in_kind", Decimal("200.00"), "USD", "goods_delivered", day, prog)
    with pytest.raises(ReintegrationRuleViolation, match=r"left of the plan's budget \(50.00"):
        case.disburse("cash", Decimal("50.01"), "USD", "mobile_money", day, prog)
    case.disburse("cash", Decimal("50.00"), "USD", "mobile_money", day, prog)
    disbursed = [e for e in case.pending if isinstance(e, AssistanceDisbursed)]
    assert sum(e.amount for e in disbursed) == Decimal("550.00")
    with pytest.raises(ReintegrationRuleViolation, match="programme's currency"):
        case.disburse("cash", Decimal("1"), "EUR", "mobile_money", day, prog)
    with pytest.raises(ReintegrationRuleViolation, match="not a method of in_kind assistance"):
        case.disburse("in_kind", Decimal("1"), "USD", "mobile_money", day, prog)


def test_a_disbursement_needs_a_plan_and_a_granted_case() -> None:
    prog = programme()
    case = granted_case()
    with pytest.raises(ReintegrationRuleViolation, match="no reintegration plan"):
        case.disburse("cash", Decimal("1"), "USD", "bank_transfer", date(2026, 4, 1), prog)


def test_the_programme_cap_refuses_what_the_plans_would_allow() -> None:
    prog = programme(budget=Decimal("1000.00"))
    alloc = ProgrammeAllocation("test-avr")
    alloc.commit_funds("a", Decimal("600.00"), prog)
    alloc.commit_funds("b", Decimal("400.00"), prog)
    with pytest.raises(ReintegrationRuleViolation, match="programme's remaining budget"):
        alloc.commit_funds("c", Decimal("0.01"), prog)
    assert alloc.disbursed == Decimal("1000.00")


def test_a_stopped_case_takes_no_more_decisions() -> None:
    prog = programme()
    case = granted_case()
    assert case.holds_place
    assert case.stop("withdrawn", ARRIVED)
    assert not case.stop("withdrawn", ARRIVED)  # once
    assert not case.holds_place
    with pytest.raises(ReintegrationRuleViolation, match="withdrawn"):
        case.agree_plan(plan(), ARRIVED, prog)
    assert case.stop("erased", ARRIVED)  # an erasure after the withdrawal still counts
    with pytest.raises(ReintegrationRuleViolation, match="erased"):
        case.record_visit(1, date(2026, 4, 15), None, prog)


def test_visits_follow_the_schedule_and_completion_needs_the_end_survey() -> None:
    prog = programme()
    case = granted_case()
    with pytest.raises(ReintegrationRuleViolation, match="no monitoring visit is due at month 2"):
        case.record_visit(2, date(2026, 5, 15), None, prog)
    case.record_visit(1, date(2026, 4, 15), None, prog)
    with pytest.raises(ReintegrationRuleViolation, match="already recorded"):
        case.record_visit(1, date(2026, 4, 16), None, prog)
    with pytest.raises(ReintegrationRuleViolation, match="baseline"):
        case.record_score("end", 0.5, 0.5, 0.5, 0.5, True, date(2026, 9, 1))
    with pytest.raises(ReintegrationRuleViolation, match="end survey"):
        case.complete(date(2026, 9, 20))
    case.record_score("baseline", 0.3, 0.4, 0.5, 0.4, False, date(2026, 3, 20))
    case.record_score("end", 0.6, 0.7, 0.8, 0.7, True, date(2026, 9, 15))
    case.complete(date(2026, 9, 20))
    assert not case.holds_place


def test_a_later_assessment_moves_a_waiting_case_up_the_waitlist() -> None:
    prog = programme(places=1)
    alloc = ProgrammeAllocation("test-avr")
    alloc.admit("a", 0, ARRIVED, prog)
    alloc.admit("b", 4, ARRIVED + timedelta(hours=1), prog)
    alloc.admit("c", 2, ARRIVED + timedelta(hours=2), prog)
    assert alloc.waitlist() == ["b", "c"]
    alloc.reprioritise("c", 9)
    assert alloc.waitlist() == ["c", "b"]
    with pytest.raises(ReintegrationRuleViolation):
        alloc.reprioritise("a", 9)  # holds a place: nothing to move
