"""intake: the case list by phase walks the phase's cases a day of referral at a time
(issue 21; avrr_intake.case_list.PHASE_ORDER_INDEX).

``GET /cases?phase=`` lists newest referral first. Walking every case in that order
(intake_0017) and keeping those of the phase read 50 rows per 2% phase's match: over
1,000,000 cases a rare phase's first page took 0.3 s. The report row's day of referral is
the UTC day of the case's ``referred_at`` (both from the referral), so an index on
``(phase, referred_on)`` gives the phase's cases in the list's order a day at a time, and
the database sorts only the day it stops in.

Built in the upgrade (avrr_events.migration_ops.add_index: not CONCURRENTLY, IF NOT
EXISTS), it locks ``intake_report_cases`` against writes, the reports' projection waits,
for 1.4 s at 300,000 cases on the development machine. A much larger database gets
``CREATE INDEX CONCURRENTLY intake_report_cases_phase_day_idx ON intake_report_cases
(phase, referred_on)`` before the upgrade.

Create Date: 2026-12-07
"""

from __future__ import annotations

from avrr_events.migration_ops import indexing

revision = "intake_0019"
down_revision: str | None = "intake_0018"

upgrade, downgrade = indexing(
    "intake_report_cases", "intake_report_cases_phase_day_idx", "phase", "referred_on"
)
