"""intake: feedback and complaints, one row per item with its codes, offices and deadlines,
never the person's words (feedback.py).

Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa

from avrr_events.migration_ops import creating, table

revision = "intake_0012"
down_revision: str | None = "intake_0011"

upgrade, downgrade = creating(
    table(
        "intake_feedback",
        sa.Column("feedback_id", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("office", sa.String(length=100), nullable=False),
        sa.Column("routed_to", sa.String(length=20), nullable=False),
        sa.Column("linked_case", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledge_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolve_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=50), nullable=True),
        sa.PrimaryKeyConstraint("feedback_id"),
        sa.Index("intake_feedback_office_idx", "office", "status"),
        sa.Index("intake_feedback_routed_idx", "routed_to", "status"),
    ),
)
