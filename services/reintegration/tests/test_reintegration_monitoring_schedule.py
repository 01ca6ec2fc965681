"""Monitoring visits are due 1, 3 and 6 calendar months after the arrival date."""

from __future__ import annotations

from datetime import date

from avrr_reintegration.monitoring import add_months, is_overdue, monitoring_schedule


def test_monitoring_schedule_is_computed_from_the_arrival_date() -> None:
    schedule = monitoring_schedule(date(2026, 3, 15), (1, 3, 6))
    assert [(v.due_month, v.due_on) for v in schedule] == [
        (1, date(2026, 4, 15)),
        (3, date(2026, 6, 15)),
        (6, date(2026, 9, 15)),
    ]


def test_the_months_are_configurable() -> None:
    schedule = monitoring_schedule(date(2026, 1, 10), (2, 12))
    assert [v.due_on for v in schedule] == [date(2026, 3, 10), date(2027, 1, 10)]


def test_a_month_without_the_arrival_day_takes_its_last_day() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)  # leap year
    assert add_months(date(2026, 8, 31), 3) == date(2026, 11, 30)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)  # across the year


def test_a_visit_is_overdue_after_its_due_date_until_it_is_made() -> None:
    due = date(2026, 4, 15)
    assert not is_overdue(due, None, as_of=date(2026, 4, 15))
    assert is_overdue(due, None, as_of=date(2026, 4, 16))
    assert not is_overdue(due, date(2026, 4, 20), as_of=date(2026, 5, 1))
