"""travel: movements, travellers, destinations, medical records, transit notes and return
counts as they first were, and the outbox of public records.

Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa

from avrr_events.migration_ops import (
    JSON,
    case_entries,
    case_table,
    creating,
    destination,
    public_outbox,
    table,
)

revision = "travel_0001"
down_revision: str | None = None

upgrade, downgrade = creating(
    public_outbox(),
    case_entries(
        "travel_medical_records",
        sa.Column("person_id", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("unfit_until", sa.Date(), nullable=True),
        sa.Column("health_details", JSON, nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        number="id",
    ),
    case_table(
        "travel_movement_destinations",
        *destination(),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("correlation_id", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
        sa.Index("travel_movement_destinations_idx", "destination_country"),
    ),
    case_table(
        "travel_movements",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.String(length=100), nullable=False),
        sa.Column("office", sa.String(length=100), nullable=True),
        sa.Column("host_country", sa.String(length=2), nullable=True),
        *destination(),
        sa.Column("transport_mode", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("hold_reason", sa.String(length=1200), nullable=True),
        sa.Column("mode", sa.String(length=10), nullable=True),
        sa.Column("carrier", sa.String(length=200), nullable=True),
        sa.Column("booking_reference", sa.String(length=100), nullable=True),
        sa.Column("departure_date", sa.Date(), nullable=True),
        sa.Column("route", JSON, nullable=True),
        sa.Column("cost", JSON, nullable=True),
        sa.Column("escorts", JSON, nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ticket_issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("departed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("arrival_confirmed_by", sa.String(length=20), nullable=True),
        sa.Column("arrival_confirmer_id", sa.String(length=200), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancellation_reason", sa.String(length=1200), nullable=True),
        sa.PrimaryKeyConstraint("case_id"),
        sa.Index("travel_movements_board_idx", "departure_date", "office"),
    ),
    table(
        "travel_return_counts",
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("programme_id", sa.String(length=100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("movement", sa.String(length=10), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("published_households", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("country", "programme_id", "day", "movement"),
    ),
    table(
        "travel_suspended_destinations",
        sa.Column("destination_key", sa.String(length=110), nullable=False),
        *destination(),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("destination_key"),
    ),
    case_entries(
        "travel_transit_notes",
        sa.Column("point", sa.String(length=100), nullable=False),
        sa.Column("note", JSON, nullable=False),
        sa.Column("noted_at", sa.DateTime(timezone=True), nullable=False),
        number="id",
    ),
    case_table(
        "travel_travellers",
        sa.Column("person_id", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("age_years", sa.Integer(), nullable=False),
        sa.Column("sex", sa.String(length=10), nullable=False),
        sa.Column("relationship", sa.String(length=20), nullable=False),
        sa.Column("unaccompanied_minor", sa.Boolean(), nullable=False),
        sa.Column("document_type", sa.String(length=40), nullable=True),
        sa.Column("document_requested_on", sa.Date(), nullable=True),
        sa.Column("document_obtained_on", sa.Date(), nullable=True),
        sa.Column("fitness_outcome", sa.String(length=20), nullable=True),
        sa.Column("unfit_until", sa.Date(), nullable=True),
        sa.Column("fitness_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("case_id", "person_id"),
    ),
    case_table(
        "travel_withdrawn_medical_consents",
        sa.Column("person_id", sa.String(length=200), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "person_id"),
    ),
)
