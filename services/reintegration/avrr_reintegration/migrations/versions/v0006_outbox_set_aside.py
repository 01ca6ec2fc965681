"""reintegration: outbox rows the broker refuses for their size are set aside, with the reason.

Create Date: 2026-12-06
"""

from __future__ import annotations

from avrr_events.migration_ops import moved_to_the_platform_line

revision = "reintegration_0006"
down_revision: str | None = "reintegration_0005"

upgrade = downgrade = moved_to_the_platform_line
