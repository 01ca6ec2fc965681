"""intake: the case list by phase walks the phase's cases a day of referral at a time
(issue 21; avrr_intake.case_list.PHASE_ORDER_INDEX).

``GET /cases?phase=`` lists newest referral first. Walking every case in that order
(intake_0017) and keeping those of the phase read 50 rows per 2% phase's match: over
1,000,000 cases a rare phase's first page took 0.3 s. The report row's day of referral is
the UTC day of the case's ``referred_at`` (both from the referral), so an index on
``(phase, referred_on)`` gives the phase's cases in the list's order a day at a time, and
the database sorts only the day it stops in.

Not ``CREATE INDEX CONCURRENTLY``, for the reason intake_0017 gives (the upgrade is one
transaction under the schema's lock): the build locks ``intake_report_cases`` against
writes, the reports' projection waits, for 1.4 s at 300,000 cases on the development
machine. A much larger database gets it beforehand with
``CREATE INDEX CONCURRENTLY intake_report_cases_phase_day_idx ON intake_report_cases
(phase, referred_on)``; the revision then leaves it (IF NOT EXISTS).

Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "intake_0019"
down_revision: str | None = "intake_0018"

TABLE = "intake_report_cases"
INDEX = "intake_report_cases_phase_day_idx"


def upgrade() -> None:
    op.create_index(INDEX, TABLE, ["phase", "referred_on"], unique=False, if_not_exists=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE, if_exists=True)
