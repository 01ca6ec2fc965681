"""Every service's migrated database keeps its audit log insert-only.

The services' own database connection may add audit entries and read them,
never change, delete or truncate them: the platform line's first revision
(shared by every service) installs the triggers that refuse it (what the owner
could still do, the keyed hashes and anchored chain heads show;
libs/events/tests/test_audit_log.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, update

from avrr_events.adapters.database import Database
from avrr_events.audit import AuditLog, audit_log
from avrr_events.migrations import apply, service_line
from avrr_events.testing import assert_audit_log_insert_only
from avrr_events.web.embedded import discover

KEY = b"a test audit key of 32 bytes ..."


@pytest.mark.parametrize("dialect", ["postgres", "sqlite"])
async def test_each_services_connection_can_only_insert_into_its_audit_log(
    dialect: str, fresh_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    services = discover()
    assert {s.name for s in services} >= {"intake", "eligibility", "travel", "reintegration"}
    for service in services:
        line = service_line(service)
        assert line is not None
        url = (
            await fresh_database()
            if dialect == "postgres"
            else f"sqlite+aiosqlite:///{tmp_path / service.name}.db"
        )
        db = Database(url)
        try:
            await apply(service, db, db)  # the platform line (shared tables) and its own
            log = AuditLog(db, KEY)
            await log.record(
                actor="ana", action="read", route="GET /x", outcome=200, at=datetime.now(UTC)
            )
            await assert_audit_log_insert_only(
                db, update(audit_log).values(actor="eve"), delete(audit_log)
            )
            assert [e.actor for e in await log.entries()] == ["ana"], service.name
            assert (await log.verify()).intact
        finally:
            await db.dispose()
