"""travel: outbox rows the broker refuses for their size are set aside, with the reason.

Create Date: 2026-12-06
"""

from __future__ import annotations

from avrr_events.migration_ops import moved_to_the_platform_line

revision = "travel_0008"
down_revision: str | None = "travel_0007"

upgrade = downgrade = moved_to_the_platform_line
