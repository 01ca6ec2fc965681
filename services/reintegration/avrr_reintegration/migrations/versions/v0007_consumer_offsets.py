"""reintegration: consumer_offsets, where each consumer group is as the database records it.

Create Date: 2026-12-06
"""

from __future__ import annotations

from avrr_events.migration_ops import moved_to_the_platform_line

revision = "reintegration_0007"
down_revision: str | None = "reintegration_0006"

upgrade = downgrade = moved_to_the_platform_line
