"""reintegration: the audit log is insert-only (triggers refuse UPDATE, DELETE, TRUNCATE).

Create Date: 2026-12-06
"""

from __future__ import annotations

from avrr_events.migration_ops import moved_to_the_platform_line

revision = "reintegration_0005"
down_revision: str | None = "reintegration_0004"

upgrade = downgrade = moved_to_the_platform_line
