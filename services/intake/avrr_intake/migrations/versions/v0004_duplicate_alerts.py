"""intake: duplicate alerts, for the supervisors of a case whose person was referred again
at an office that does not see the case.

Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa

from avrr_events.migration_ops import case_table, creating

revision = "intake_0004"
down_revision: str | None = "intake_0003"

upgrade, downgrade = creating(
    case_table(
        "intake_duplicate_alerts",
        sa.Column("person_id", sa.String(length=100), nullable=False),
        sa.Column("referrals", sa.Integer(), nullable=False),
        sa.Column("last_flagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "person_id"),
    ),
)
