"""travel: destinations are compared by their place key (avrr_events.places).

Adds ``region_key`` to the movements' destinations and to the suspensions, and
fills it for the rows written before: a suspension recorded then ("HN/Atlántida")
must hold a movement cleared to "atlantida" or "HN-AT" from now on.

Revision ID: travel_0004
Revises: travel_0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from avrr_events.places import place

revision = "travel_0004"
down_revision: str | None = "travel_0003"
branch_labels: str | None = None
depends_on: str | None = None

TABLES = {
    "travel_movement_destinations": "case_id",
    "travel_suspended_destinations": "destination_key",
}


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("region_key", sa.String(length=100), nullable=True))
    op.create_index(
        "travel_movement_destinations_place_idx",
        "travel_movement_destinations",
        ["destination_country", "region_key"],
        unique=False,
    )
    bind = op.get_bind()
    for table, id_column in TABLES.items():
        rows = bind.execute(
            sa.text(
                f"SELECT {id_column} AS id, destination_country, destination_region FROM {table}"
                " WHERE destination_region IS NOT NULL"
            )
        ).all()
        for row in rows:
            key = place(row.destination_country, row.destination_region).region_key
            bind.execute(
                sa.text(f"UPDATE {table} SET region_key = :key WHERE {id_column} = :id"),
                {"key": key, "id": row.id},
            )


def downgrade() -> None:
    op.drop_index(
        "travel_movement_destinations_place_idx", table_name="travel_movement_destinations"
    )
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("region_key")
