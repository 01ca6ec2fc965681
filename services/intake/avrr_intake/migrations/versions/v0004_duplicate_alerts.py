"""intake: duplicate alerts, for the supervisors of a case whose person was referred again
at an office that does not see the case.

Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "intake_0004"
down_revision: str | None = "intake_0003"


def upgrade() -> None:
    op.create_table(
        "intake_duplicate_alerts",
        sa.Column("case_id", sa.String(length=100), nullable=False),
        sa.Column("person_id", sa.String(length=100), nullable=False),
        sa.Column("referrals", sa.Integer(), nullable=False),
        sa.Column("last_flagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "person_id"),
    )


def downgrade() -> None:
    op.drop_table("intake_duplicate_alerts")
