"""intake: the answers to the satisfaction question of the monitoring visits, one row per
answered visit (case, visit month, score; satisfaction.py), for the feedback report.

Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa

from avrr_events.migration_ops import creating, table

revision = "intake_0014"
down_revision: str | None = "intake_0013"

upgrade, downgrade = creating(
    table(
        "intake_satisfaction",
        sa.Column("case_id", sa.String(length=100), nullable=False),
        sa.Column("due_month", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "due_month"),
    ),
)
