"""reintegration: the office each transferred case is with (reintegration_case_transfers).

Rows created after intake's transfer was accepted are filed under the receiving office.
A database upgraded from before has the table empty: ``avrr rebuild reintegration
reintegration_views`` replays the transfers into it (rows that existed at the transfer
moved then already).

Create Date: 2026-12-07
"""

from __future__ import annotations

from avrr_events.migration_ops import case_transfers

revision = "reintegration_0008"
down_revision: str | None = "reintegration_0007"

upgrade, downgrade = case_transfers("reintegration_case_transfers")
