"""reintegration: its cases, the assistance ledger, service referrals, monitoring visits,
sustainability scores and programme totals, as when it got migrations.

Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa

from avrr_events.migration_ops import case_entries, case_table, creating, destination, table

revision = "reintegration_0001"
down_revision: str | None = None

upgrade, downgrade = creating(
    case_table(
        "reintegration_cases",
        sa.Column("programme_id", sa.String(length=100), nullable=False),
        sa.Column("office", sa.String(length=100), nullable=True),
        *destination(nullable=True),
        sa.Column("arrived_on", sa.Date(), nullable=True),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=True),
        sa.Column("plan_total", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("plan_currency", sa.String(length=3), nullable=True),
        sa.Column("plan_agreed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("plan_days_after_arrival", sa.Integer(), nullable=True),
        sa.Column("plan_late", sa.Boolean(), nullable=True),
        sa.Column("disbursed_total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("case_id"),
    ),
    case_table(
        "reintegration_consent_withdrawals",
        sa.Column("purpose", sa.String(length=100), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "purpose"),
    ),
    case_entries(
        "reintegration_ledger",
        sa.Column("programme_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("method", sa.String(length=100), nullable=False),
        sa.Column("disbursed_on", sa.Date(), nullable=False),
        number="entry_no",
        event_id=True,
    ),
    case_table(
        "reintegration_monitoring_visits",
        sa.Column("due_month", sa.Integer(), nullable=False),
        sa.Column("office", sa.String(length=100), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("visited_on", sa.Date(), nullable=True),
        sa.Column("notes", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("case_id", "due_month"),
        sa.Index("ix_reintegration_monitoring_visits_office", "office"),
    ),
    table(
        "reintegration_programme_totals",
        sa.Column("programme_id", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("granted", sa.Integer(), nullable=False),
        sa.Column("waitlisted", sa.Integer(), nullable=False),
        sa.Column("not_offered", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("withdrawn", sa.Integer(), nullable=False),
        sa.Column("plans_agreed", sa.Integer(), nullable=False),
        sa.Column("plans_late", sa.Integer(), nullable=False),
        sa.Column("disbursements", sa.Integer(), nullable=False),
        sa.Column("disbursed_total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("cash_total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("in_kind_total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.PrimaryKeyConstraint("programme_id"),
    ),
    case_entries(
        "reintegration_referrals",
        sa.Column("organisation_id", sa.String(length=100), nullable=False),
        sa.Column("service", sa.String(length=50), nullable=False),
        sa.Column("referred_on", sa.Date(), nullable=False),
        number="entry_no",
        event_id=True,
    ),
    case_table(
        "reintegration_sustainability_scores",
        sa.Column("stage", sa.String(length=10), nullable=False),
        sa.Column("economic", sa.Float(), nullable=False),
        sa.Column("social", sa.Float(), nullable=False),
        sa.Column("psychosocial", sa.Float(), nullable=False),
        sa.Column("composite", sa.Float(), nullable=False),
        sa.Column("sustainable", sa.Boolean(), nullable=False),
        sa.Column("scored_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "stage"),
    ),
    case_table(
        "reintegration_vulnerability_priorities",
        sa.Column("person_key", sa.String(length=100), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "person_key"),
    ),
)
