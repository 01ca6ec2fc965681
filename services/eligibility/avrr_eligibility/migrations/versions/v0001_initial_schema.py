"""eligibility: the assessments and the destination suspensions, as they first were.

Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa

from avrr_events.migration_ops import case_table, creating, destination, region_key, table

revision = "eligibility_0001"
down_revision: str | None = None

upgrade, downgrade = creating(
    case_table(
        "eligibility_assessments",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("office", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("nationality", sa.String(length=2), nullable=False),
        sa.Column("host_country", sa.String(length=2), nullable=False),
        *destination(),
        region_key(),
        sa.Column("household", sa.JSON(), nullable=False),
        sa.Column("unaccompanied_children", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.String(length=100), nullable=True),
        sa.Column("programmes_version", sa.String(length=50), nullable=True),
        sa.Column("eligible", sa.Boolean(), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("vulnerabilities", sa.JSON(), nullable=False),
        sa.Column("best_interests", sa.JSON(), nullable=False),
        sa.Column("due_diligence_reasons", sa.JSON(), nullable=False),
        sa.Column("destination_suspended", sa.Boolean(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_reason", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("case_id"),
        sa.Index("ix_eligibility_assessments_office", "office"),
    ),
    table(
        "eligibility_suspensions",
        sa.Column("place", sa.String(length=200), nullable=False),
        *destination(),
        region_key(),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("suspended_by", sa.String(length=200), nullable=False),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("place"),
    ),
)
