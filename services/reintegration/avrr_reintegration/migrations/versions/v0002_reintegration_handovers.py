"""reintegration: receiving office of handed-over cases (reintegration_handovers).

Create Date: 2026-11-23
"""

from __future__ import annotations

from avrr_events.migration_ops import handovers

revision = "reintegration_0002"
down_revision: str | None = "reintegration_0001"

upgrade, downgrade = handovers("reintegration_handovers")
