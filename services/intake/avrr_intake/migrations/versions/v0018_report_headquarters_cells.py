"""intake: headquarters' roll-up of the report cells.

intake_0016 keyed every report cell by the case's referral office and receiving office; a
report of every office then sums each office's cells times each receiving office's (at a
million cases, the returns of a year: 190 ms p99, at the target's edge). Every cell is now
counted once more with "*" as both offices (avrr_intake.reports.HEADQUARTERS), the same
months and keys, which a report of every office reads instead. Filled here by summing the
existing cells over their offices.

Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "intake_0018"
down_revision: str | None = "intake_0017"

# Each cell table: its keys after the scope's months, and its counts.
CELLS = {
    "intake_report_returns": ("dimension, value", ("cases", "returnees")),
    "intake_report_phases": ("phase", ("cases",)),
    "intake_report_disbursed": (
        "programme_id, kind, currency",
        ("disbursements", "households", "amount_minor"),
    ),
    "intake_report_withdrawn": ("withdrawn, reason", ("withdrawals", "cases")),
}


def upgrade() -> None:
    bind = op.get_bind()
    for name, (keys, counts) in CELLS.items():
        grouped = f"returned_month, referred_month, {keys}"
        summed = ", ".join(f"SUM({count})" for count in counts)
        bind.execute(
            sa.text(
                f"INSERT INTO {name} (office, receiving_office, {grouped}, {', '.join(counts)}) "
                f"SELECT '*', '*', {grouped}, {summed} FROM {name} WHERE office <> '*' "
                f"GROUP BY {grouped}"
            )
        )


def downgrade() -> None:
    bind = op.get_bind()
    for name in CELLS:
        bind.execute(sa.text(f"DELETE FROM {name} WHERE office = '*'"))
