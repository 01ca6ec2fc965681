"""travel: the supervisors' list of withdrawal conflicts.

Create Date: 2026-12-06
"""

from __future__ import annotations

from avrr_events.migration_ops import withdrawal_conflicts

revision = "travel_0003"
down_revision: str | None = "travel_0002"

upgrade, downgrade = withdrawal_conflicts("travel_withdrawal_conflicts")
