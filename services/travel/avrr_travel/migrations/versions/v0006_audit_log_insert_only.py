"""travel: the audit log is insert-only (triggers refuse UPDATE, DELETE, TRUNCATE).

The service's own connection can no longer change or delete audit entries;
what the database owner could still do (drop the triggers) the keyed hashes
and the anchored chain heads show (avrr_events.audit).

Revision ID: travel_0006
Revises: travel_0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from avrr_events.audit import ALLOW_CHANGES_DDL, INSERT_ONLY_DDL

revision = "travel_0006"
down_revision: str | None = "travel_0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    for statement in INSERT_ONLY_DDL.get(op.get_bind().dialect.name, ()):
        op.execute(statement)


def downgrade() -> None:
    for statement in ALLOW_CHANGES_DDL.get(op.get_bind().dialect.name, ()):
        op.execute(statement)
