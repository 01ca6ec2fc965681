"""intake: cases, consents, closures, duplicate keys, hand-overs, the reports, the timeline
and the public outbox, as the service first had them.

Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa

from avrr_events.migration_ops import (
    JSON,
    SERIAL,
    case_table,
    creating,
    handover_table,
    public_outbox,
    table,
)

revision = "intake_0001"
down_revision: str | None = None

upgrade, downgrade = creating(
    case_table(
        "intake_case_closures",
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=200), nullable=True),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("case_id"),
        sa.Index("intake_case_closures_due_idx", "closed_at"),
    ),
    case_table(
        "intake_cases",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("office", sa.String(length=100), nullable=False),
        sa.Column("nationality", sa.String(length=2), nullable=False),
        sa.Column("host_country", sa.String(length=2), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("household_size", sa.Integer(), nullable=False),
        sa.Column("unaccompanied_minor", sa.Boolean(), nullable=False),
        sa.Column("personal_data_erased", sa.Boolean(), nullable=False),
        sa.Column("possible_duplicate", sa.Boolean(), nullable=False),
        sa.Column("referred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("principal", JSON, nullable=True),
        sa.Column("detail", JSON, nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
        sa.Index("intake_cases_list_idx", "office", "status", "referred_at"),
        sa.Index("intake_cases_nationality_idx", "nationality"),
    ),
    case_table(
        "intake_consents",
        sa.Column("person_id", sa.String(length=100), nullable=False),
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("given_on", sa.String(length=10), nullable=True),
        sa.Column("given_by", sa.String(length=30), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("recorded_by", sa.String(length=200), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "person_id", "purpose"),
    ),
    case_table(
        "intake_duplicate_keys",
        sa.Column("person_id", sa.String(length=100), nullable=False),
        sa.Column("match_key", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "person_id"),
        sa.Index("intake_duplicate_keys_match_idx", "match_key"),
    ),
    handover_table("intake_handovers"),
    table(
        "intake_report_assistance",
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("case_id", sa.String(length=100), nullable=False),
        sa.Column("programme_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    ),
    case_table(
        "intake_report_cases",
        sa.Column("phase", sa.String(length=30), nullable=True),
        sa.Column("office", sa.String(length=100), nullable=True),
        sa.Column("host_country", sa.String(length=2), nullable=True),
        sa.Column("origin_country", sa.String(length=2), nullable=True),
        sa.Column("programme_id", sa.String(length=100), nullable=True),
        sa.Column("returned_month", sa.String(length=7), nullable=True),
        sa.Column("returnees", sa.Integer(), nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
        sa.Index("intake_report_cases_month_idx", "returned_month"),
    ),
    case_table(
        "intake_report_people",
        sa.Column("person_id", sa.String(length=200), nullable=False),
        sa.Column("sex", sa.String(length=20), nullable=False),
        sa.Column("age_group", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "person_id"),
    ),
    case_table(
        "intake_report_vulnerabilities",
        sa.Column("screened", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "screened", "category"),
    ),
    table(
        "intake_timeline",
        sa.Column("seq", SERIAL, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("case_id", sa.String(length=100), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service", sa.String(length=50), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("facts", JSON, nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id"),
        sa.Index("intake_timeline_case_idx", "case_id", "occurred_at", "seq"),
    ),
    public_outbox(),
)
