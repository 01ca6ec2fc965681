"""reintegration: outbox rows the broker refuses for their size are set aside, with the reason.

Revision ID: reintegration_0006
Revises: reintegration_0005
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "reintegration_0006"
down_revision: str | None = "reintegration_0005"
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
