"""intake: the case list filters by phase, destination region and departure date, and the
receiving offices' incoming list reads ticketed movements (avrr_intake.case_list).

Adds to ``intake_report_cases`` the destination's region key, the ticketed departure date
and the movement status, with the two indexes the lists use, and fills them for the cases
folded before: the departure date and movement status from the folded state, the region
from the return request in the case file (its text also goes into the folded state, so
that the next event of the case keeps it).

Create Date: 2026-12-07
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from avrr_events.migration_ops import JSON
from avrr_events.places import place

revision = "intake_0009"
down_revision: str | None = "intake_0008"

TABLE = "intake_report_cases"
COLUMNS = (
    ("destination_region", 100),
    ("departure_date", 10),
    ("movement_status", 20),
)
INDEXES = {
    "intake_report_cases_phase_idx": ["phase", "origin_country"],
    "intake_report_cases_incoming_idx": ["origin_country", "movement_status", "departure_date"],
}


def _json(value: Any) -> Any:
    """A JSON column's value as Python (JSONB arrives decoded, SQLite's JSON as text)."""
    return json.loads(value) if isinstance(value, str) else value


def upgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        for name, length in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=True))
    for name, columns in INDEXES.items():
        op.create_index(name, TABLE, columns, unique=False)
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            f"SELECT r.case_id, r.state, c.detail FROM {TABLE} r "
            "LEFT JOIN intake_cases c ON c.case_id = r.case_id"
        )
    ).all()
    for row in rows:
        state = _json(row.state) or {}
        detail = _json(row.detail) or {}
        request = detail.get("return_request") or {}
        region = request.get("destination_region")
        country = state.get("destination_country")
        if country != request.get("destination_country"):
            region = None  # cleared to another country than requested: not that region
        state["destination_region"] = region
        key = place(country, region).region_key if country and region else None
        bind.execute(
            sa.text(
                f"UPDATE {TABLE} SET destination_region = :region, departure_date = :departure,"
                " movement_status = :movement, state = :state WHERE case_id = :case_id"
            ).bindparams(sa.bindparam("state", type_=JSON)),
            {
                "region": key,
                "departure": state.get("departure_date"),
                "movement": state.get("movement_status"),
                "state": state,
                "case_id": row.case_id,
            },
        )


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name=TABLE)
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        for name, _length in reversed(COLUMNS):
            batch_op.drop_column(name)
