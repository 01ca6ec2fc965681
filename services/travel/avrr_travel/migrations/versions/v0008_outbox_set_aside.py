"""travel: outbox rows the broker refuses for their size are set aside, with the reason.

Revision ID: travel_0008
Revises: travel_0007
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "travel_0008"
down_revision: str | None = "travel_0007"
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
