"""intake: the case list's order has an index, so its first page is a walk that stops
after the page (issue 21; avrr_intake.case_list).

``GET /cases`` lists newest referral first (``referred_at`` descending, ties by case id).
Without an index on ``referred_at`` every page sorted every match: over 1,000,000 cases a
page by phase took a second. With it the database walks the cases in that order and stops
after the page (ties by case id are an incremental sort of the few rows of one instant).

Not ``CREATE INDEX CONCURRENTLY``: an upgrade is one transaction holding the schema's
advisory lock (avrr_events.migrations.upgrade: a second setup waits, then finds the head),
and PostgreSQL refuses CONCURRENTLY inside a transaction. The plain build locks
``intake_cases`` against writes (reads go on) while it runs: 0.8 s for 300,000 cases on
the development machine, a few seconds for a million. An operator of a much larger
database builds it beforehand, outside the upgrade, with
``CREATE INDEX CONCURRENTLY intake_cases_referred_idx ON intake_cases (referred_at)``;
the revision then finds it and leaves it (IF NOT EXISTS).

Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "intake_0017"
down_revision: str | None = "intake_0016"

TABLE = "intake_cases"
INDEX = "intake_cases_referred_idx"


def upgrade() -> None:
    op.create_index(INDEX, TABLE, ["referred_at"], unique=False, if_not_exists=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE, if_exists=True)
