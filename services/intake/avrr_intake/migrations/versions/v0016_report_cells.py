"""intake: every situational report pre-aggregated, for headquarters and for one office.

Adds to ``intake_report_cases`` the receiving office a case was handed over to (filled from
``intake_handovers``), the office scoping of the cells. Replaces ``intake_report_returns``
(intake_0015: per referral office only, so an office's returns, which include the cases
handed over to it, had to scan the case rows) with one keyed by the SCOPE of
avrr_intake.reports (referral office, receiving office, month of return, month of referral)
and creates the cells of the other reports with the same key: ``intake_report_phases``,
``intake_report_disbursed``, ``intake_report_withdrawn``. Each is filled from the report
tables with the definitions of ``reports.case_cells``, so an existing database answers as
the projection would have counted.

Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from avrr_events.migration_ops import NewTable, create, drop, table
from avrr_intake.migrations.versions import v0015_report_periods

revision = "intake_0016"
down_revision: str | None = "intake_0015"

CASES = "intake_report_cases"


def _scoped(name: str, keys: list[tuple[str, int]], counts: list[str]) -> NewTable:
    """A cell table as this revision creates it: the scope, ``keys``, ``counts``."""
    scope = [("office", 100), ("receiving_office", 200), ("returned_month", 7)]
    scope.append(("referred_month", 7))
    columns = [sa.Column(n, sa.String(length=k), nullable=False) for n, k in scope + keys]
    return table(
        name,
        *columns,
        *(sa.Column(count, sa.BigInteger(), nullable=False) for count in counts),
        sa.PrimaryKeyConstraint(*(n for n, _ in scope + keys)),
    )


RETURNS = _scoped(
    "intake_report_returns", [("dimension", 20), ("value", 100)], ["cases", "returnees"]
)
PHASES = _scoped("intake_report_phases", [("phase", 30)], ["cases"])
DISBURSED = _scoped(
    "intake_report_disbursed",
    [("programme_id", 100), ("kind", 30), ("currency", 3)],
    ["disbursements", "households", "amount_minor"],
)
WITHDRAWN = _scoped(
    "intake_report_withdrawn", [("withdrawn", 60), ("reason", 40)], ["withdrawals", "cases"]
)
CELLS = (RETURNS, PHASES, DISBURSED, WITHDRAWN)
# intake_0015's returns (per referral office), for the downgrade: that revision's own
# declaration, frozen with it.
OLD_RETURNS = v0015_report_periods.AGGREGATE

# The scope of a case row ``c``, grouped on as written ("" for none: key columns).
SCOPE = (
    "COALESCE(c.office, ''), COALESCE(c.receiving_office, ''), "
    "COALESCE(c.returned_month, ''), COALESCE(SUBSTR(c.referred_on, 1, 7), '')"
)
RETURNED = "c.returned_month IS NOT NULL"
# (table, its key columns after the scope and counts, SELECT of them, FROM ... WHERE ...).
FILLS: list[tuple[str, str, str, str]] = [
    (
        "intake_report_phases",
        "phase, cases",
        "c.phase, COUNT(*)",
        f"FROM {CASES} c WHERE c.phase IS NOT NULL GROUP BY {SCOPE}, c.phase",
    ),
    *(
        (
            "intake_report_withdrawn",
            "withdrawn, reason, withdrawals, cases",
            f"{what}, COUNT(*), COUNT(DISTINCT w.case_id)",
            f"FROM intake_report_withdrawals w JOIN {CASES} c ON c.case_id = w.case_id "
            f"GROUP BY {SCOPE}{by}",
        )
        for what, by in (("w.withdrawn, w.reason", ", w.withdrawn, w.reason"), ("'', ''", ""))
    ),
    (
        "intake_report_disbursed",
        "programme_id, kind, currency, disbursements, households, amount_minor",
        "a.programme_id, a.kind, a.currency, COUNT(*), COUNT(DISTINCT a.case_id), "
        "SUM(a.amount_minor)",
        f"FROM intake_report_assistance a JOIN {CASES} c ON c.case_id = a.case_id "
        f"GROUP BY {SCOPE}, a.programme_id, a.kind, a.currency",
    ),
    # Returns: the totals, then each dimension that is a column of the case row.
    *(
        (
            "intake_report_returns",
            "dimension, value, cases, returnees",
            f"'{dimension}', {value}, COUNT(*), COALESCE(SUM(c.returnees), 0)",
            f"FROM {CASES} c WHERE {RETURNED} GROUP BY {SCOPE}{by}",
        )
        for dimension, value, by in (
            ("total", "''", ""),
            ("host_country", "COALESCE(c.host_country, '')", ", COALESCE(c.host_country, '')"),
            (
                "origin_country",
                "COALESCE(c.origin_country, '')",
                ", COALESCE(c.origin_country, '')",
            ),
            ("programme", "COALESCE(c.programme_id, '')", ", COALESCE(c.programme_id, '')"),
            ("month", "COALESCE(c.returned_month, '')", ""),
        )
    ),
    # By sex and age group: a case once per group it has a traveller in, each traveller.
    *(
        (
            "intake_report_returns",
            "dimension, value, cases, returnees",
            f"'{column}', p.{column}, COUNT(DISTINCT p.case_id), COUNT(*)",
            f"FROM intake_report_people p JOIN {CASES} c ON c.case_id = p.case_id "
            f"WHERE {RETURNED} GROUP BY {SCOPE}, p.{column}",
        )
        for column in ("sex", "age_group")
    ),
    # By vulnerability: a case once per category anyone was screened with; else "none".
    (
        "intake_report_returns",
        "dimension, value, cases, returnees",
        "'vulnerability', v.category, COUNT(*), COALESCE(SUM(c.returnees), 0)",
        "FROM (SELECT DISTINCT case_id, category FROM intake_report_vulnerabilities) v "
        f"JOIN {CASES} c ON c.case_id = v.case_id WHERE {RETURNED} GROUP BY {SCOPE}, v.category",
    ),
    (
        "intake_report_returns",
        "dimension, value, cases, returnees",
        "'vulnerability', 'none', COUNT(*), COALESCE(SUM(c.returnees), 0)",
        f"FROM {CASES} c WHERE {RETURNED} AND NOT EXISTS (SELECT 1 FROM "
        f"intake_report_vulnerabilities v WHERE v.case_id = c.case_id) GROUP BY {SCOPE}",
    ),
]
_SCOPE_COLUMNS = "office, receiving_office, returned_month, referred_month"


def upgrade() -> None:
    with op.batch_alter_table(CASES, schema=None) as batch_op:
        batch_op.add_column(sa.Column("receiving_office", sa.String(length=200), nullable=True))
    bind = op.get_bind()
    bind.execute(
        sa.text(
            f"UPDATE {CASES} SET receiving_office = (SELECT h.receiving_office "
            f"FROM intake_handovers h WHERE h.case_id = {CASES}.case_id)"
        )
    )
    drop(OLD_RETURNS)
    create(*CELLS)
    for name, columns, counted, source in FILLS:
        bind.execute(
            sa.text(
                f"INSERT INTO {name} ({_SCOPE_COLUMNS}, {columns}) "
                f"SELECT {SCOPE}, {counted} {source}"
            )
        )


def downgrade() -> None:
    # intake_0015's returns are these summed over the receiving office.
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT office, returned_month, referred_month, dimension, value, "
            "SUM(cases) AS cases, SUM(returnees) AS returnees FROM intake_report_returns "
            "GROUP BY office, returned_month, referred_month, dimension, value"
        )
    ).mappings()
    kept = [dict(r) for r in rows]
    drop(*CELLS)
    create(OLD_RETURNS)
    if kept:
        bind.execute(
            sa.text(
                "INSERT INTO intake_report_returns (office, returned_month, referred_month, "
                "dimension, value, cases, returnees) VALUES (:office, :returned_month, "
                ":referred_month, :dimension, :value, :cases, :returnees)"
            ),
            kept,
        )
    with op.batch_alter_table(CASES, schema=None) as batch_op:
        batch_op.drop_column("receiving_office")
