"""travel: destinations are compared by their place key (avrr_events.places).

Adds ``region_key`` to the movements' destinations and to the suspensions, and
fills it for the rows written before: a suspension recorded then ("HN/Atlántida")
must hold a movement cleared to "atlantida" or "HN-AT" from now on.

Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from avrr_events.migration_ops import region_key, rekey_places

revision = "travel_0004"
down_revision: str | None = "travel_0003"

TABLES = {
    "travel_movement_destinations": "case_id",
    "travel_suspended_destinations": "destination_key",
}


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(region_key())
    op.create_index(
        "travel_movement_destinations_place_idx",
        "travel_movement_destinations",
        ["destination_country", "region_key"],
        unique=False,
    )
    rekey_places(TABLES)


def downgrade() -> None:
    op.drop_index(
        "travel_movement_destinations_place_idx", table_name="travel_movement_destinations"
    )
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("region_key")
