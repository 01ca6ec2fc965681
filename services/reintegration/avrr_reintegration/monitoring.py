"""Monitoring visits: when they are due, and which are overdue.

Visits fall due a whole number of calendar months after the arrival date (the
programme's ``monitoring_months``, 1, 3 and 6 by default). A month that lacks
the arrival day (arrived 31 January: one month later is 28 or 29 February)
takes its last day, so a visit is never due later than the month it belongs to.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date


def add_months(day: date, months: int) -> date:
    """The same day ``months`` calendar months later, clamped to the end of a short month."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class DueVisit:
    due_month: int
    due_on: date


def monitoring_schedule(arrived_on: date, months: Iterable[int]) -> list[DueVisit]:
    """The visits due after an arrival on ``arrived_on``."""
    return [DueVisit(m, add_months(arrived_on, m)) for m in months]


def is_overdue(due_on: date, visited_on: date | None, as_of: date) -> bool:
    """A visit is overdue once its due date has passed without a visit."""
    return visited_on is None and due_on < as_of
