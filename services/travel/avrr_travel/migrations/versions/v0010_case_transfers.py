"""travel: the office each transferred case is with (travel_case_transfers).

Rows created after intake's transfer was accepted are filed under the receiving office.
A database upgraded from before has the table empty: ``avrr rebuild travel
travel_movement_views`` replays the transfers into it (rows that existed at the transfer
moved then already).

Create Date: 2026-12-07
"""

from __future__ import annotations

from avrr_events.migration_ops import case_transfers

revision = "travel_0010"
down_revision: str | None = "travel_0009"

upgrade, downgrade = case_transfers("travel_case_transfers")
