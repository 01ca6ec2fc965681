"""reintegration: the supervisors' list of withdrawal conflicts.

Revision ID: reintegration_0004
Revises: reintegration_0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "reintegration_0004"
down_revision: str | None = "reintegration_0003"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "reintegration_withdrawal_conflicts"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("conflict_id", sa.String(length=100), nullable=False),
        sa.Column("case_id", sa.String(length=100), nullable=False),
        sa.Column("office", sa.String(length=100), nullable=True),
        sa.Column("command", sa.String(length=20), nullable=False),
        sa.Column("conflicting_event_type", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawal", sa.String(length=30), nullable=False),
        sa.Column("withdrawal_event_id", sa.String(length=100), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolution", sa.String(length=60), nullable=True),
        sa.Column(
            "reason",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("conflict_id"),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(f"{TABLE}_case_idx", ["case_id"], unique=False)
        batch_op.create_index(
            f"{TABLE}_office_idx", ["office", "resolved_at", "detected_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(f"{TABLE}_office_idx")
        batch_op.drop_index(f"{TABLE}_case_idx")
    op.drop_table(TABLE)
