"""eligibility: region keys are place keys (avrr_events.places).

``region_key`` of the assessments and suspensions held a region's text without
accents, case or spaces; it now holds the place rule's key (the ISO 3166-2 code
where the text names a subdivision). The rows written before are re-keyed here,
so a case cleared to "HN-AT" and an older suspension of "Atlántida" meet.

Revision ID: eligibility_0004
Revises: eligibility_0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from avrr_events.places import place

revision = "eligibility_0004"
down_revision: str | None = "eligibility_0003"
branch_labels: str | None = None
depends_on: str | None = None

TABLES = {"eligibility_assessments": "case_id", "eligibility_suspensions": "place"}


def upgrade() -> None:
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
    """The older keys are not restored (rebuild the read model from the journal instead)."""
