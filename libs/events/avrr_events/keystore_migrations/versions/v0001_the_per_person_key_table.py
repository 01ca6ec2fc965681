"""keystore: the per-person key table.

Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa

from avrr_events.migration_ops import creating, table

revision = "keystore_0001"
down_revision: str | None = None

upgrade, downgrade = creating(
    table(
        "subject_keys",
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("subject"),
    ),
)
