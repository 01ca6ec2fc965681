"""intake: transfers between offices, one row per request and its answer (transfer.py).

Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa

from avrr_events.migration_ops import creating, table

revision = "intake_0007"
down_revision: str | None = "intake_0006"

upgrade, downgrade = creating(
    table(
        "intake_transfers",
        sa.Column("transfer_id", sa.String(length=100), nullable=False),
        sa.Column("case_id", sa.String(length=100), nullable=False),
        sa.Column("from_office", sa.String(length=100), nullable=False),
        sa.Column("to_office", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("transfer_id"),
        sa.Index("intake_transfers_case_idx", "case_id"),
        sa.Index("intake_transfers_due_idx", "status", "expires_at"),
        sa.Index("intake_transfers_to_office_idx", "to_office", "status"),
    ),
)
