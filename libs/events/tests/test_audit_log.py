"""The audit log is a hash chain: concurrent appends keep it whole, tampering is detected."""

from __future__ import annotations

import asyncio

from sqlalchemy import delete, update

from avrr_events import Database
from avrr_events.audit import AuditLog, audit_log, metadata


async def test_concurrent_entries_form_one_intact_chain(any_db: Database) -> None:
    await any_db.create_schema(metadata)
    log = AuditLog(any_db)
    await asyncio.gather(
        *(
            log.record(
                actor=f"user-{i % 3}",
                action="read",
                route="/cases/{id}",
                outcome=200,
                case_id=f"case-{i % 5}",
                client="10.0.0.1",
            )
            for i in range(30)
        )
    )
    entries = await log.entries(limit=100)
    assert len(entries) == 30
    assert await log.verify() is None
    assert len(await log.entries(case_id="case-0")) == 6


async def test_editing_or_deleting_an_entry_breaks_the_chain_there(any_db: Database) -> None:
    await any_db.create_schema(metadata)
    log = AuditLog(any_db)
    for i in range(5):
        await log.record(actor="ana", action="write", route="/cases", outcome=201, case_id=f"c{i}")
    entries = await log.entries()
    async with any_db.transaction() as conn:
        await conn.execute(
            update(audit_log).where(audit_log.c.id == entries[2].id).values(actor="mallory")
        )
    assert await log.verify() == entries[2].id

    async with any_db.transaction() as conn:
        await conn.execute(
            update(audit_log).where(audit_log.c.id == entries[2].id).values(actor="ana")
        )
        await conn.execute(delete(audit_log).where(audit_log.c.id == entries[1].id))
    assert await log.verify() == entries[2].id


async def test_a_request_whose_entry_cannot_be_committed_fails_and_later_entries_still_commit(
    any_db: Database,
) -> None:
    # Entries are group-committed: a batch that fails must fail every request in it
    # (no read answered unaudited) and must not wedge the writer for later ones.
    log = AuditLog(any_db)
    results = await asyncio.gather(
        *(
            log.record(actor="ana", action="read", route="/cases/{id}", outcome=200, case_id="c")
            for _ in range(5)
        ),
        return_exceptions=True,
    )
    assert all(isinstance(r, Exception) for r in results)  # no audit table yet

    await any_db.create_schema(metadata)
    await log.record(actor="ana", action="read", route="/cases/{id}", outcome=200, case_id="c")
    assert [e.actor for e in await log.entries()] == ["ana"]
    assert await log.verify() is None


async def test_an_overlong_or_nul_case_id_from_the_path_is_recorded_clipped_not_failing_the_batch(
    any_db: Database,
) -> None:
    # The case id is taken from the path before validation: /cases/<500 chars>/timeline
    # (found by the REST fuzzer) failed its own and its batch-mates' audit commits.
    await any_db.create_schema(metadata)
    log = AuditLog(any_db)
    await asyncio.gather(
        log.record(actor="ana", action="read", route="/cases/{id}", outcome=422, case_id="x" * 500),
        log.record(actor="ana", action="read", route="/cases/{id}", outcome=404, case_id="a\x00b"),
        log.record(actor="ana", action="read", route="/cases/{id}", outcome=200, case_id="c1"),
    )
    case_ids = sorted(e.case_id or "" for e in await log.entries())
    assert case_ids == ["ab", "c1", "x" * 200]
    assert await log.verify() is None
