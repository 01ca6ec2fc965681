"""intake: outbox rows the broker refuses for their size are set aside, with the reason.

Create Date: 2026-12-06
"""

from __future__ import annotations

from avrr_events.migration_ops import moved_to_the_platform_line

revision = "intake_0005"
down_revision: str | None = "intake_0004"

upgrade = downgrade = moved_to_the_platform_line
