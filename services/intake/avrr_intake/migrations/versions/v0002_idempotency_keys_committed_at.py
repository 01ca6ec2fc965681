"""intake: idempotency reservations record the command's commit.

Revision ID: intake_0002
Revises: intake_0001
Create Date: 2026-11-23
"""

from __future__ import annotations

revision = "intake_0002"
down_revision: str | None = "intake_0001"
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
