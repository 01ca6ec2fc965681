"""intake: situational reports of a period (``GET /reports/*?returned_from=&returned_to=&
referred_from=&referred_to=``, avrr_intake.reports.Period), and the returns pre-aggregated.

Adds to ``intake_report_cases`` the day of return (arrival confirmed) and the day of referral,
each indexed, so that a report of a month or a year reads only its cases; fills them for the
cases folded before: the day of return from the folded state, the day of referral from the
case list (``intake_cases.referred_at``, which is the referral's ``received_at``). Creates
``intake_report_returns`` (cases and returnees per office, month of return, month of
referral, dimension and value) and fills it from the report tables with the definitions of
``reports.returns``.

Create Date: 2026-12-07
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from avrr_events.migration_ops import create, drop, table

revision = "intake_0015"
down_revision: str | None = "intake_0014"

TABLE = "intake_report_cases"
COLUMNS = ("returned_on", "referred_on")
AGGREGATE = table(
    "intake_report_returns",
    sa.Column("office", sa.String(length=100), nullable=False),
    sa.Column("returned_month", sa.String(length=7), nullable=False),
    sa.Column("referred_month", sa.String(length=7), nullable=False),
    sa.Column("dimension", sa.String(length=20), nullable=False),
    sa.Column("value", sa.String(length=100), nullable=False),
    sa.Column("cases", sa.Integer(), nullable=False),
    sa.Column("returnees", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("office", "returned_month", "referred_month", "dimension", "value"),
)
_RETURNED = f"FROM {TABLE} c WHERE c.returned_month IS NOT NULL"
_REFERRED = "SUBSTR(c.referred_on, 1, 7)"
_KEY = f"COALESCE(c.office, ''), c.returned_month, COALESCE({_REFERRED}, '')"
_GROUP = f"GROUP BY c.office, c.returned_month, {_REFERRED}"
# The cells of every returned case, one INSERT ... SELECT per kind of dimension.
_FILL = [
    *(
        f"SELECT {_KEY}, '{dimension}', COALESCE({column}, ''), COUNT(*), "
        f"COALESCE(SUM(c.returnees), 0) {_RETURNED} {_GROUP}{by}"
        for dimension, column, by in (
            ("total", "''", ""),  # PostgreSQL groups by no constant
            *(
                (name, column, f", {column}")
                for name, column in (
                    ("host_country", "c.host_country"),
                    ("origin_country", "c.origin_country"),
                    ("programme", "c.programme_id"),
                    ("month", "c.returned_month"),
                )
            ),
        )
    ),
    *(
        f"SELECT {_KEY}, '{dimension}', p.{column}, COUNT(DISTINCT p.case_id), COUNT(*) "
        f"FROM intake_report_people p JOIN {TABLE} c ON c.case_id = p.case_id "
        f"WHERE c.returned_month IS NOT NULL {_GROUP}, p.{column}"
        for dimension, column in (("sex", "sex"), ("age_group", "age_group"))
    ),
    f"SELECT {_KEY}, 'vulnerability', v.category, COUNT(*), COALESCE(SUM(c.returnees), 0) "
    "FROM (SELECT DISTINCT case_id, category FROM intake_report_vulnerabilities) v "
    f"JOIN {TABLE} c ON c.case_id = v.case_id WHERE c.returned_month IS NOT NULL "
    f"{_GROUP}, v.category",
    f"SELECT {_KEY}, 'vulnerability', 'none', COUNT(*), COALESCE(SUM(c.returnees), 0) "
    f"{_RETURNED} AND NOT EXISTS (SELECT 1 FROM intake_report_vulnerabilities v "
    f"WHERE v.case_id = c.case_id) {_GROUP}",
]
INDEXES = {
    "intake_report_cases_returned_idx": ["returned_on"],
    "intake_report_cases_referred_idx": ["referred_on"],
}


def _day(moment: Any) -> str | None:
    """The UTC day of a timestamp (SQLite hands it back as naive UTC, or as text)."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return str(moment.astimezone(UTC).date().isoformat())


def upgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length=10), nullable=True))
    for name, columns in INDEXES.items():
        op.create_index(name, TABLE, columns, unique=False)
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            f"SELECT r.case_id, r.state, c.referred_at FROM {TABLE} r "
            "LEFT JOIN intake_cases c ON c.case_id = r.case_id"
        )
    ).all()
    for row in rows:
        state = json.loads(row.state) if isinstance(row.state, str) else (row.state or {})
        arrived = state.get("arrived_at")
        bind.execute(
            sa.text(
                f"UPDATE {TABLE} SET returned_on = :returned, referred_on = :referred "
                "WHERE case_id = :case_id"
            ),
            {
                "returned": arrived[:10] if arrived else None,
                "referred": _day(row.referred_at),
                "case_id": row.case_id,
            },
        )
    create(AGGREGATE)
    into = "office, returned_month, referred_month, dimension, value, cases, returnees"
    for cells in _FILL:
        bind.execute(sa.text(f"INSERT INTO intake_report_returns ({into}) {cells}"))


def downgrade() -> None:
    drop(AGGREGATE)
    for name in INDEXES:
        op.drop_index(name, table_name=TABLE)
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
