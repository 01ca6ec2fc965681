"""intake: consumer_offsets, where each consumer group is as the database records it.

Create Date: 2026-12-06
"""

from __future__ import annotations

from avrr_events.migration_ops import moved_to_the_platform_line

revision = "intake_0006"
down_revision: str | None = "intake_0005"

upgrade = downgrade = moved_to_the_platform_line
