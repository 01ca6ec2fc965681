"""travel: idempotency reservations record the command's commit.

Create Date: 2026-11-23
"""

from __future__ import annotations

from avrr_events.migration_ops import moved_to_the_platform_line

revision = "travel_0002"
down_revision: str | None = "travel_0001"

upgrade = downgrade = moved_to_the_platform_line
