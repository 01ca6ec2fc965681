"""eligibility: the office each transferred case is with (eligibility_case_transfers).

Rows created after intake's transfer was accepted are filed under the receiving office.
A database upgraded from before has the table empty: ``avrr rebuild eligibility
eligibility_assessment_queue`` replays the transfers into it (rows that existed at the
transfer moved then already).

Create Date: 2026-12-07
"""

from __future__ import annotations

from avrr_events.migration_ops import case_transfers

revision = "eligibility_0007"
down_revision: str | None = "eligibility_0006"

upgrade, downgrade = case_transfers("eligibility_case_transfers")
