"""intake: the case list's order has an index, so its first page is a walk that stops
after the page (issue 21; avrr_intake.case_list).

``GET /cases`` lists newest referral first (``referred_at`` descending, ties by case id).
Without an index on ``referred_at`` every page sorted every match: over 1,000,000 cases a
page by phase took a second. With it the database walks the cases in that order and stops
after the page (ties by case id are an incremental sort of the few rows of one instant).

Built in the upgrade (avrr_events.migration_ops.add_index: not CONCURRENTLY, IF NOT
EXISTS), it locks ``intake_cases`` against writes for its build: 0.8 s for 300,000 cases
on the development machine, a few seconds for a million. A much larger database gets
``CREATE INDEX CONCURRENTLY intake_cases_referred_idx ON intake_cases (referred_at)``
before the upgrade.

Create Date: 2026-12-07
"""

from __future__ import annotations

from avrr_events.migration_ops import indexing

revision = "intake_0017"
down_revision: str | None = "intake_0016"

upgrade, downgrade = indexing("intake_cases", "intake_cases_referred_idx", "referred_at")
