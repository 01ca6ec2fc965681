"""reintegration: idempotency reservations record the command's commit.

Revision ID: reintegration_0003
Revises: reintegration_0002
Create Date: 2026-11-23
"""

from __future__ import annotations

revision = "reintegration_0003"
down_revision: str | None = "reintegration_0002"
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
