"""eligibility: consumer_offsets, where each consumer group is as the database records it.

The consumer resumes from it, so a database restored from a backup reads again
what its backup lacks.

Revision ID: eligibility_0006
Revises: eligibility_0005
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "eligibility_0006"
down_revision: str | None = "eligibility_0005"
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
