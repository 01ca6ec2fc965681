"""reintegration: receiving office of handed-over cases (reintegration_handovers).

Revision ID: reintegration_0002
Revises: reintegration_0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "reintegration_0002"
down_revision: str | None = "reintegration_0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "reintegration_handovers",
        sa.Column("case_id", sa.String(length=100), nullable=False),
        sa.Column("receiving_office", sa.String(length=200), nullable=False),
        sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
    )
    with op.batch_alter_table("reintegration_handovers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reintegration_handovers_receiving_office"),
            ["receiving_office"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("reintegration_handovers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reintegration_handovers_receiving_office"))

    op.drop_table("reintegration_handovers")
