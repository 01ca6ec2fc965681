"""The audit log is a keyed hash chain, anchored outside its database, insert-only:
concurrent appends keep it whole, tampering (the database owner's included) is detected."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sample_service import open_db
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from avrr_events import Database, migrations
from avrr_events.adapters.audit_anchor import AuditAnchoring, AuditChainBroken, InProcessAnchorLog
from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.audit import (
    _LOCK,
    GENESIS,
    Anchor,
    AuditLog,
    _fields,
    audit_log,
    entry_hash,
    metadata,
    unkeyed_entry_hash,
)
from avrr_events.testing import (
    assert_audit_log_insert_only,
    rewrite_audit_log_as_owner,
    tamper_with_audit_log_as_owner,
)

KEY = b"a test audit key of 32 bytes ..."


@pytest.fixture
async def log(any_db: Database) -> AuditLog:
    """An audit log keyed with KEY, its table created in the test's database."""
    await any_db.create_schema(metadata)
    return AuditLog(any_db, KEY)


async def test_concurrent_entries_form_one_intact_chain(log: AuditLog) -> None:
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
    assert (await log.verify()).intact
    assert len(await log.entries(case_id="case-0")) == 6


async def test_two_replicas_appending_at_once_keep_one_chain(any_db_url: str) -> None:
    """Two processes' logs on one database (replicas): the lock taken with BEGIN serialises
    their batches, so each one's entries follow the other's last committed hash."""
    first, second = await open_db(any_db_url), await open_db(any_db_url)
    try:
        await first.create_schema(metadata)
        logs = (AuditLog(first, KEY), AuditLog(second, KEY))
        await asyncio.gather(
            *(
                logs[i % 2].record(
                    actor=f"user-{i}", action="read", route="/cases/{id}", outcome=200
                )
                for i in range(40)
            )
        )
        assert len(await logs[0].entries(limit=100)) == 40
        assert (await logs[1].verify()).intact
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_batch_follows_what_another_replica_appended_since_its_last_one(
    any_db_url: str,
) -> None:
    """A log chains its next batch after the head it last committed, and the database
    inserts it only if that is still the head: another replica's entries in between are
    followed (the head read again), never forked."""
    first, second = await open_db(any_db_url), await open_db(any_db_url)
    try:
        await first.create_schema(metadata)
        ours, theirs = AuditLog(first, KEY), AuditLog(second, KEY)
        for log, actor in ((ours, "ana"), (ours, "ana"), (theirs, "ben"), (ours, "ana")):
            await log.record(actor=actor, action="read", route="/cases/{id}", outcome=200)
        entries = await ours.entries()
        assert [e.actor for e in entries] == ["ana", "ana", "ben", "ana"]
        assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
        assert (await ours.verify()).intact
    finally:
        await first.dispose()
        await second.dispose()


async def test_an_append_is_one_round_trip_and_three_when_another_replica_appended_between(
    database_url: str,
) -> None:
    """On PostgreSQL a batch chained after the head this process last committed is one
    statement, its own transaction; refused by the chain's index because another replica
    appended after that head, it reads the head and appends again."""
    first, second = await open_db(database_url), await open_db(database_url)
    try:
        await first.create_schema(metadata)
        ours, theirs = AuditLog(first, KEY), AuditLog(second, KEY)
        await ours.record(actor="ana", action="read", route="/cases/{id}", outcome=200)
        statements: list[str] = []
        async with first.driver() as raw:  # the one parked connection the log reuses
            raw.add_query_logger(lambda query: statements.append(query.query))

        await ours.record(actor="ana", action="read", route="/cases/{id}", outcome=200)
        assert len(statements) == 1 and "INSERT INTO audit_log" in statements[0]

        await theirs.record(actor="ben", action="read", route="/cases/{id}", outcome=200)
        statements.clear()
        await ours.record(actor="ana", action="read", route="/cases/{id}", outcome=200)
        assert [s.split()[0] for s in statements] == ["INSERT", "SELECT", "INSERT"]
        assert [e.actor for e in await ours.entries()] == ["ana", "ana", "ben", "ana"]
        assert (await ours.verify()).intact
    finally:
        await first.dispose()
        await second.dispose()


async def _previous_release_append(db: Database, actor: str) -> None:
    """How the previous release appended (until platform_0002): a transaction holding the
    chain's advisory lock that reads the head and inserts after it."""
    at = datetime.now(UTC)
    fields = {
        "at": at.isoformat(),
        "actor": actor,
        "action": "read",
        "case_id": None,
        "route": "/cases/{id}",
        "client": None,
        "outcome": 200,
    }
    async with db.driver() as raw, raw.transaction():
        await raw.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
        head = await raw.fetchval("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
        prev = head or GENESIS
        await raw.execute(
            "INSERT INTO audit_log (at, actor, action, case_id, route, client, outcome,"
            " prev_hash, hash) VALUES ($1, $2, 'read', NULL, '/cases/{id}', NULL, 200, $3, $4)",
            at,
            actor,
            prev,
            entry_hash(KEY, prev, fields),
        )


async def test_the_previous_releases_replicas_append_alongside_during_a_rolling_upgrade(
    database_url: str,
) -> None:
    """While a rolling upgrade runs, replicas of the previous release (lock, read the head,
    insert) and of this one (one statement) append to one chain at once: the statement
    takes the same lock, so neither is refused and the chain stays whole."""
    dbs = [await open_db(database_url) for _ in range(3)]
    try:
        await dbs[0].create_schema(metadata)
        logs = (AuditLog(dbs[0], KEY), AuditLog(dbs[1], KEY))
        await asyncio.gather(
            *(
                logs[i % 2].record(actor=f"new-{i}", action="read", route="/r", outcome=200)
                for i in range(30)
            ),
            *(_previous_release_append(dbs[2], f"old-{i}") for i in range(15)),
        )
        assert len(await logs[0].entries(limit=100)) == 45
        assert (await logs[0].verify()).intact
    finally:
        for db in dbs:
            await db.dispose()


async def test_the_database_refuses_a_second_entry_after_the_same_hash(
    any_db: Database, log: AuditLog
) -> None:
    # Whoever writes it (a replica chaining after a head that moved on, a hand on the
    # database): a fork is refused by the table, so the chain stays one.
    await _record(log, 2)
    first = (await log.entries())[0]
    with pytest.raises(IntegrityError, match="prev_hash"):
        async with any_db.transaction() as conn:
            await conn.execute(
                audit_log.insert().values(
                    at=datetime.now(UTC),
                    actor="mallory",
                    action="read",
                    route="/cases/{id}",
                    outcome=200,
                    prev_hash=first.prev_hash,
                    hash="f" * 64,
                )
            )
    assert len(await log.entries()) == 2
    assert (await log.verify()).intact


async def test_a_chain_written_before_its_index_keeps_its_entries_through_the_upgrade(
    any_db_url: str,
) -> None:
    """platform_0002 builds the unique index over the chain a database already holds."""
    db = Database(any_db_url)
    try:
        await migrations.upgrade(db, migrations.PLATFORM, to="platform_0001")
        log = AuditLog(db, KEY)
        before = await _record(log, 3)
        await migrations.upgrade(db, migrations.PLATFORM)
        assert await migrations.differences(db, migrations.PLATFORM) == []
        after = await _record(AuditLog(db, KEY), 2)
        assert after[:3] == before and len(after) == 5
        assert (await log.verify()).intact
    finally:
        await db.dispose()


async def test_editing_or_deleting_an_entry_breaks_the_chain_there(
    any_db: Database, log: AuditLog
) -> None:
    for i in range(5):
        await log.record(actor="ana", action="write", route="/cases", outcome=201, case_id=f"c{i}")
    entries = await log.entries()
    await tamper_with_audit_log_as_owner(
        any_db, update(audit_log).where(audit_log.c.id == entries[2].id).values(actor="mallory")
    )
    assert (await log.verify()).first_broken_entry == entries[2].id

    await tamper_with_audit_log_as_owner(
        any_db,
        update(audit_log).where(audit_log.c.id == entries[2].id).values(actor="ana"),
        delete(audit_log).where(audit_log.c.id == entries[1].id),
    )
    assert (await log.verify()).first_broken_entry == entries[2].id


async def test_a_request_whose_entry_cannot_be_committed_fails_and_later_entries_still_commit(
    any_db: Database,
) -> None:
    # Entries are group-committed: a batch that fails must fail every request in it
    # (no read answered unaudited) and must not wedge the writer for later ones.
    log = AuditLog(any_db, KEY)
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
    assert (await log.verify()).intact


async def test_an_overlong_or_nul_case_id_from_the_path_is_recorded_clipped_not_failing_the_batch(
    log: AuditLog,
) -> None:
    # The case id is taken from the path before validation: /cases/<500 chars>/timeline
    # (found by the REST fuzzer) failed its own and its batch-mates' audit commits.
    await asyncio.gather(
        log.record(actor="ana", action="read", route="/cases/{id}", outcome=422, case_id="x" * 500),
        log.record(actor="ana", action="read", route="/cases/{id}", outcome=404, case_id="a\x00b"),
        log.record(actor="ana", action="read", route="/cases/{id}", outcome=200, case_id="c1"),
    )
    case_ids = sorted(e.case_id or "" for e in await log.entries())
    assert case_ids == ["ab", "c1", "x" * 200]
    assert (await log.verify()).intact


async def _record(log: AuditLog, count: int) -> list[int]:
    for i in range(count):
        await log.record(
            actor="ana", action="read", route="/cases/{id}", outcome=200, case_id=f"c{i}"
        )
    return [e.id for e in await log.entries()]


async def test_the_services_own_connection_cannot_change_or_delete_audit_entries(
    any_db: Database,
    log: AuditLog,
) -> None:
    # The service's role may only insert: UPDATE, DELETE (and TRUNCATE) are refused
    # by the table itself, whoever asks through the service's own connection.
    ids = await _record(log, 3)
    await assert_audit_log_insert_only(
        any_db,
        update(audit_log).where(audit_log.c.id == ids[1]).values(actor="mallory"),
        delete(audit_log).where(audit_log.c.id == ids[2]),
        delete(audit_log),
    )
    assert [e.id for e in await log.entries()] == ids
    assert [e.actor for e in await log.entries()] == ["ana"] * 3
    assert (await log.verify()).intact


async def test_deleted_last_entries_and_a_rewrite_with_recomputed_hashes_are_both_reported(
    any_db: Database,
    log: AuditLog,
) -> None:
    # The database owner deletes the last two entries and rewrites entry 2 with
    # every hash after it recomputed: the chain left is whole as a plain hash chain.
    # The keyed hashes show the rewrite, the anchor published outside the database
    # shows the deletion.
    anchors = InProcessAnchorLog(InProcessBus(), "t.audit.sample", "sample")
    ids = await _record(log, 6)
    assert await AuditAnchoring(log, anchors).anchor_once() == 1
    anchor = await anchors.latest()
    assert anchor is not None and anchor.sequence == ids[-1]
    assert (await log.verify(anchor)).intact

    await rewrite_audit_log_as_owner(
        any_db, keep=4, rewritten=ids[1], column="actor", value="mallory"
    )

    found = await log.verify(await anchors.latest())
    assert found.first_broken_entry == ids[1]
    assert found.truncated
    assert found.last_entry == ids[3]
    assert not found.intact
    # Nor is the tampered chain ever anchored over.
    with pytest.raises(AuditChainBroken):
        await AuditAnchoring(log, anchors).anchor_once()


async def test_a_chain_rewritten_up_to_its_anchor_under_a_guessed_key_is_reported(
    any_db: Database,
    log: AuditLog,
) -> None:
    await _record(log, 3)
    head = await log.head()
    assert head is not None
    anchor = Anchor(sequence=head[0], hash=head[1], at=datetime.now(UTC))
    # Rewritten and re-chained under another key: not one entry verifies, and the
    # anchored entry's hash differs from the anchor's.
    forger = AuditLog(any_db, b"x" * 32)
    await tamper_with_audit_log_as_owner(any_db, delete(audit_log))
    await _record(forger, 3)
    found = await log.verify(anchor)
    assert found.first_broken_entry == (await log.entries())[0].id
    # PostgreSQL's ids moved on (the anchored entry is gone); SQLite reuses them
    # (the anchored id now holds another hash).
    assert found.truncated or found.anchor_mismatch
    assert not found.intact


async def test_unkeyed_entries_from_before_the_upgrade_verify_only_at_the_chain_start(
    any_db: Database,
) -> None:
    # Chains written before the key existed (plain SHA-256) keep verifying; an
    # unkeyed entry after a keyed one is a rewrite without the key.
    await any_db.create_schema(metadata)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    prev = GENESIS
    rows = []
    for i in range(2):
        fields = {
            "at": at.isoformat(),
            "actor": "old",
            "action": "read",
            "case_id": f"c{i}",
            "route": "GET /cases/{case_id}",
            "client": None,
            "outcome": 200,
        }
        digest = unkeyed_entry_hash(prev, fields)
        rows.append({**fields, "at": at, "prev_hash": prev, "hash": digest})
        prev = digest
    async with any_db.transaction() as conn:
        await conn.execute(audit_log.insert(), rows)
    log = AuditLog(any_db, KEY)
    ids = await _record(log, 2)
    assert (await log.verify()).intact

    async with any_db.engine.connect() as conn:
        last = (await conn.execute(select(audit_log).where(audit_log.c.id == ids[-1]))).one()
    fields = {**_fields(last), "actor": "mallory"}
    await tamper_with_audit_log_as_owner(
        any_db,
        update(audit_log)
        .where(audit_log.c.id == last.id)
        .values(actor="mallory", hash=unkeyed_entry_hash(last.prev_hash, fields)),
    )
    assert (await log.verify()).first_broken_entry == ids[-1]
