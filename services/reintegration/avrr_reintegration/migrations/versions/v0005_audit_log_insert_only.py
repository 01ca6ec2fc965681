"""reintegration: the audit log is insert-only (triggers refuse UPDATE, DELETE, TRUNCATE).

The service's own connection can no longer change or delete audit entries;
what the database owner could still do (drop the triggers) the keyed hashes
and the anchored chain heads show (avrr_events.audit).

Revision ID: reintegration_0005
Revises: reintegration_0004
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "reintegration_0005"
down_revision: str | None = "reintegration_0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # The shared tables moved to the platform line (avrr_events/platform_migrations):
    # kept, empty, so that databases at this revision keep their history.
    pass


def downgrade() -> None:
    # The shared tables moved to the platform line (avrr_events/platform_migrations):
    # kept, empty, so that databases at this revision keep their history.
    pass
