"""reintegration: the supervisors' list of withdrawal conflicts.

Create Date: 2026-12-06
"""

from __future__ import annotations

from avrr_events.migration_ops import withdrawal_conflicts

revision = "reintegration_0004"
down_revision: str | None = "reintegration_0003"

upgrade, downgrade = withdrawal_conflicts("reintegration_withdrawal_conflicts")
