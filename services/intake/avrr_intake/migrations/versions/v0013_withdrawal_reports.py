"""intake: withdrawals by coded reason (avrr_intake.reports, ``GET /reports/withdrawals``): one
row per case or consent withdrawal, what was withdrawn and the code; never the note. Cases
withdrawn before it are counted after ``avrr rebuild intake intake_situational_reports``.

Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa

from avrr_events.migration_ops import creating, table

revision = "intake_0013"
down_revision: str | None = "intake_0012"

upgrade, downgrade = creating(
    table(
        "intake_report_withdrawals",
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("case_id", sa.String(length=100), nullable=False),
        sa.Column("withdrawn", sa.String(length=60), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        sa.Index("intake_report_withdrawals_case_idx", "case_id"),
    ),
)
