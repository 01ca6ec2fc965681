"""travel: the consents to medical data processing travel saw given (health details need one).

Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa

from avrr_events.migration_ops import case_table, creating

revision = "travel_0005"
down_revision: str | None = "travel_0004"

upgrade, downgrade = creating(
    case_table(
        "travel_given_medical_consents",
        sa.Column("person_id", sa.String(length=200), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "person_id"),
    ),
)
