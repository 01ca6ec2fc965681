"""The audit log: who read or changed which case, when, from where; tamper-evident.

Every entry stores the hash of the previous one (a hash chain), so deleting,
inserting or editing an entry anywhere breaks every hash after it, and
``verify`` names the first entry that no longer fits. Entries hold
identifiers only (user, case id, route, client address), never personal data.
The database refuses a fork: at most one entry follows each hash (a unique
index on ``prev_hash``), so two appends chained after the same head cannot
both commit, whichever process or release wrote them; the one refused reads
the head again and re-chains (SQLite serialises writers anyway).

A plain hash chain only shows edits by someone who does not recompute it: the
database's owner can rewrite an entry and every hash after it, or delete the
last entries, and the chain is whole again. So the chain is keyed and
anchored outside the database:

- each hash is an HMAC-SHA256 under the audit key (``AVRR_AUDIT_KEY``, or
  derived from the master key), which lives in the service's secrets, never
  in the database: a rewritten entry whose hashes were recomputed without the
  key does not verify;
- the chain head (last id and its hash) is published now and then to the
  service's audit topic (``audit_anchor.py``); verification compares the
  latest anchor with the table, so entries deleted from the end (which leave
  a chain that is whole but shorter) are reported too, and so is a chain
  rewritten up to the anchored entry;
- the table is insert-only: triggers refuse UPDATE, DELETE and TRUNCATE to
  every role (``INSERT_ONLY_DDL``). The service's connection therefore cannot
  change the log; the owner could drop the triggers, and the two points above
  are what shows it.

Entries written before the chain was keyed (plain SHA-256) still verify, but
only as the chain's first entries: after a keyed entry, or after the anchored
one, an unkeyed entry is a break.

Every read of a case is audited, so the audit append is on the read path. One
transaction per entry, serialised by the chain's lock, capped a service at a
few hundred reads/s with each read waiting in line for a commit. Entries are
therefore group-committed: a request's entry joins the batch being collected
while the previous one commits, one transaction writes the whole batch, and
the request is answered only after its entry is durable (no read goes
unaudited if the process dies a moment later). On PostgreSQL a batch is one
statement in one round trip, its own transaction: chained after the head this
process last committed, and refused by the unique index if another replica
appended after that head meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    event,
    select,
    text,
)

from avrr_events.adapters.database import Database
from avrr_events.adapters.postgres import UNIQUE_VIOLATION, lock_key, locked_before_rows

metadata = MetaData()

# The unique index on ``prev_hash`` (platform_0002): the database's refusal of a fork.
CHAIN_INDEX = "audit_log_prev_hash_key"

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(20), nullable=False),  # read | write
    Column("case_id", String(200)),
    Column("route", String(300), nullable=False),
    Column("client", String(100)),
    Column("outcome", Integer, nullable=False),  # HTTP status
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # One entry after each: two appends chained after the same head cannot both commit.
    Index(CHAIN_INDEX, "prev_hash", unique=True),
)

GENESIS = "0" * 64
_LOCK = lock_key("avrr-audit-chain")

# The fixed development audit key: accepted only with AVRR_DEV=1 (ServiceSettings).
DEV_AUDIT_KEY = b"avrr-development-audit-key-32b!!"
MIN_KEY_BYTES = 32

# Statements that make the audit table insert-only, per dialect: a trigger that
# refuses UPDATE, DELETE (and on PostgreSQL TRUNCATE) to every role, the
# service's own included. Run when the table is created from the metadata
# (library tests, samples) and by each service's migration that added them
# (intake_0003, eligibility_0003, travel_0006, reintegration_0005): a change
# here needs a new revision in every service, not an edit.
INSERT_ONLY_DDL: dict[str, tuple[str, ...]] = {
    "postgresql": (
        """CREATE OR REPLACE FUNCTION audit_log_insert_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is insert-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$""",
        "DROP TRIGGER IF EXISTS audit_log_insert_only ON audit_log",
        """CREATE TRIGGER audit_log_insert_only BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_insert_only()""",
        "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
        """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_insert_only()""",
        "REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC",
    ),
    "sqlite": (
        "DROP TRIGGER IF EXISTS audit_log_no_update",
        """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is insert-only: UPDATE refused'); END""",
        "DROP TRIGGER IF EXISTS audit_log_no_delete",
        """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is insert-only: DELETE refused'); END""",
    ),
}

# Undone by a migration's downgrade.
ALLOW_CHANGES_DDL: dict[str, tuple[str, ...]] = {
    "postgresql": (
        "DROP TRIGGER IF EXISTS audit_log_insert_only ON audit_log",
        "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
        "DROP FUNCTION IF EXISTS audit_log_insert_only()",
    ),
    "sqlite": (
        "DROP TRIGGER IF EXISTS audit_log_no_update",
        "DROP TRIGGER IF EXISTS audit_log_no_delete",
    ),
}


@event.listens_for(audit_log, "after_create")
def _insert_only(_table: Table, connection: Connection, **_kw: Any) -> None:
    """A table created from the metadata (library tests, samples) is insert-only too."""
    for statement in INSERT_ONLY_DDL.get(connection.dialect.name, ()):
        connection.execute(text(statement))


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    case_id: str | None
    route: str
    client: str | None
    outcome: int
    prev_hash: str
    hash: str


def _canonical(prev_hash: str, fields: dict[str, Any]) -> bytes:
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return (prev_hash + body).encode()


def entry_hash(key: bytes, prev_hash: str, fields: dict[str, Any]) -> str:
    """HMAC-SHA256 under the audit key over the previous hash and the entry's fields."""
    return hmac.new(key, _canonical(prev_hash, fields), hashlib.sha256).hexdigest()


def unkeyed_entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """The plain SHA-256 of the entries written before the chain was keyed."""
    return hashlib.sha256(_canonical(prev_hash, fields)).hexdigest()


def derive_key(secret: bytes) -> bytes:
    """An audit key stretched from another secret (the master key), for this purpose only."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"avrr audit chain").derive(
        secret
    )


def check_key(key: bytes) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the audit key must be at least {MIN_KEY_BYTES} bytes")
    return key


@dataclass(frozen=True)
class Anchor:
    """A chain head as published outside the database: the entry ``sequence`` had ``hash``."""

    sequence: int
    hash: str
    at: datetime


@dataclass(frozen=True)
class Verification:
    """What ``verify`` found.

    ``first_broken_entry``: the first entry that does not follow from the one
    before it under the key (edited, inserted, deleted before it, or its
    hashes recomputed without the key). ``truncated``: the anchored entry is
    gone (entries deleted from the end leave a shorter chain that is whole
    in itself). ``anchor_mismatch``: the anchored entry is there with another
    hash (the chain up to it was rewritten).
    """

    first_broken_entry: int | None
    last_entry: int | None
    anchor: Anchor | None
    truncated: bool
    anchor_mismatch: bool

    @property
    def intact(self) -> bool:
        return self.first_broken_entry is None and not self.truncated and not self.anchor_mismatch


def _fields(row: Any) -> dict[str, Any]:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    return {
        "at": at.isoformat(),
        "actor": row.actor,
        "action": row.action,
        "case_id": row.case_id,
        "route": row.route,
        "client": row.client,
        "outcome": row.outcome,
    }


# One statement outside any transaction (its own: one round trip, durable when it
# returns), after the chain's advisory lock. The unique index alone keeps the chain
# whole; the lock keeps the previous release's replicas (lock, read the head, insert)
# from being refused by it during a rolling upgrade. The lock is an InitPlan, taken
# before any row is numbered, so ids follow the chain's order.
_APPEND = f"""
INSERT INTO audit_log (at, actor, action, case_id, route, client, outcome, prev_hash, hash)
SELECT * FROM unnest(
    $1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::int[], $8::text[], $9::text[])
WHERE {locked_before_rows(_LOCK, "$10")}
"""
_HEAD = "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1"
# Re-chaining after a refusal always follows an entry committed since: a replica that
# loses this often in a row is not racing, something else is wrong.
_MAX_ATTEMPTS = 50


@dataclass
class _Pending:
    fields: dict[str, Any]
    at: datetime
    done: asyncio.Future[str]


_COLUMNS = ("at", "actor", "action", "case_id", "route", "client", "outcome")


def _column_text(value: str, size: int) -> str:
    """``value`` as its column can hold it: at most ``size`` characters, no NUL.

    The case id comes from the request's path before any validation: an entry
    that the database refuses would fail every request of its group commit.
    """
    return value.replace("\x00", "")[:size]


def _chain(key: bytes, prev_hash: str, batch: list[_Pending]) -> list[tuple[str, str]]:
    """(prev_hash, hash) of each entry of ``batch``, appended after ``prev_hash`` in order."""
    links = []
    for entry in batch:
        digest = entry_hash(key, prev_hash, entry.fields)
        links.append((prev_hash, digest))
        prev_hash = digest
    return links


async def _appended(raw: Any, batch: list[_Pending], links: list[tuple[str, str]]) -> bool:
    """Insert the batch chained as ``links`` in one statement on an asyncpg connection
    outside any transaction; False if the chain's index refused it (a fork)."""
    try:
        await raw.execute(
            _APPEND,
            [e.at for e in batch],
            *([e.fields[k] for e in batch] for k in _COLUMNS[1:]),
            [p for p, _ in links],
            [h for _, h in links],
            _LOCK,
        )
    except UNIQUE_VIOLATION as exc:
        if getattr(exc, "constraint_name", None) == CHAIN_INDEX:
            return False
        raise
    return True


class AuditLog:
    """Append and verify the audit chain of one service's database under ``key``."""

    def __init__(self, db: Database, key: bytes) -> None:
        self.db = db
        self._key = check_key(key)
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        # The chain's head as this process's last batch left it (None: not known). Only
        # the writer task reads and sets it; the database says whether it is still the head.
        self._head: str | None = None

    async def record(
        self,
        *,
        actor: str,
        action: str,
        route: str,
        outcome: int,
        case_id: str | None = None,
        client: str | None = None,
        at: datetime | None = None,
    ) -> str:
        """Append one entry; return its hash."""
        when = at or datetime.now(UTC)
        fields = {
            "at": when.isoformat(),
            "actor": _column_text(actor, 200),
            "action": action,
            "case_id": None if case_id is None else _column_text(case_id, 200),
            "route": _column_text(route, 300),
            "client": None if client is None else _column_text(client, 100),
            "outcome": outcome,
        }
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(fields, when, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())
        # shield: a caller that goes away must not cancel the batch others wait on
        return await asyncio.shield(done)

    async def record_reads(
        self, *, actor: str, route: str, case_ids: Sequence[str], client: str | None = None
    ) -> None:
        """One read entry per case a response named (none named: one entry without a case),
        so each case's trail shows every list, search or manifest that showed its people.
        Recorded together: the log commits them as one batch (group commit)."""
        await asyncio.gather(
            *(
                self.record(
                    actor=actor,
                    action="read",
                    route=route,
                    outcome=200,
                    case_id=case_id,
                    client=client,
                )
                for case_id in (dict.fromkeys(case_ids) or [None])
            )
        )

    async def _write_batches(self) -> None:
        """Commit what is pending, batch after batch, until nothing is left."""
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                hashes = await self._commit(batch)
            except BaseException as exc:
                for entry in batch:
                    if not entry.done.done():
                        entry.done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                for entry, digest in zip(batch, hashes, strict=True):
                    if not entry.done.done():
                        entry.done.set_result(digest)

    async def _commit(self, batch: list[_Pending]) -> list[str]:
        """Append ``batch`` to the chain in one transaction; the entries' hashes."""
        if self.db.is_postgres:
            head, self._head = self._head, None  # unknown until this batch commits
            # One round trip: the batch chained after the head this process last committed.
            # Two more (read the head, append again) when it is not known, or when another
            # replica appended after it and the chain's index refused this batch.
            async with self.db.driver() as raw:
                for _ in range(_MAX_ATTEMPTS):
                    if head is None:
                        head = await raw.fetchval(_HEAD) or GENESIS
                    links = _chain(self._key, head, batch)
                    if await _appended(raw, batch, links):
                        break
                    head = None
                else:
                    raise RuntimeError(
                        f"the audit chain's head moved {_MAX_ATTEMPTS} times during one append"
                    )
            self._head = links[-1][1]
            return [h for _, h in links]
        async with self.db.transaction() as conn:
            prev = await conn.scalar(
                select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)
            )
            hashes = _chain(self._key, prev or GENESIS, batch)
            await conn.execute(
                audit_log.insert(),
                [
                    {**e.fields, "at": e.at, "prev_hash": p, "hash": h}
                    for e, (p, h) in zip(batch, hashes, strict=True)
                ],
            )
        return [h[1] for h in hashes]

    async def entries(
        self, *, case_id: str | None = None, limit: int = 100, after: int = 0
    ) -> list[AuditEntry]:
        stmt = select(audit_log).where(audit_log.c.id > after).order_by(audit_log.c.id)
        if case_id is not None:
            stmt = stmt.where(audit_log.c.case_id == case_id)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(stmt.limit(limit))).all()
        return [AuditEntry(**r._mapping) for r in rows]

    async def head(self) -> tuple[int, str] | None:
        """(id, hash) of the last entry, or None while the log is empty."""
        last = select(audit_log.c.id, audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(last)).first()
        return None if row is None else (int(row.id), str(row.hash))

    async def hash_of(self, entry_id: int) -> str | None:
        """The stored hash of entry ``entry_id``, or None if there is no such entry."""
        async with self.db.engine.connect() as conn:
            value = await conn.scalar(select(audit_log.c.hash).where(audit_log.c.id == entry_id))
        return None if value is None else str(value)

    async def verify(
        self, anchor: Anchor | None = None, *, after: tuple[int, str] | None = None
    ) -> Verification:
        """Walk the chain and compare it with ``anchor``, the latest published head.

        An entry verifies when its hash is the keyed hash of its fields after
        the previous entry's hash. An unkeyed (SHA-256) entry, written before
        the chain was keyed, verifies only before the first keyed entry and
        not after the anchored one: every entry written since the upgrade is
        keyed, so an unkeyed one there is a rewrite without the key.
        ``after`` (id, hash) starts the walk past an entry already verified
        (the anchoring job checks only what is new since its last anchor).
        """
        start, prev_hash = after if after is not None else (0, GENESIS)
        keyed_seen = after is not None
        broken: int | None = None
        last: int | None = None
        anchored_hash: str | None = None
        async with self.db.engine.connect() as conn:
            result = await conn.stream(
                select(audit_log).where(audit_log.c.id > start).order_by(audit_log.c.id)
            )
            async for row in result:
                last = int(row.id)
                if anchor is not None and last == anchor.sequence:
                    anchored_hash = row.hash
                if broken is not None:
                    continue
                fields = _fields(row)
                if row.prev_hash != prev_hash:
                    broken = last
                elif row.hash == entry_hash(self._key, prev_hash, fields):
                    keyed_seen = True
                elif (
                    keyed_seen
                    or (anchor is not None and last > anchor.sequence)
                    or row.hash != unkeyed_entry_hash(prev_hash, fields)
                ):
                    broken = last
                prev_hash = row.hash
        return Verification(
            first_broken_entry=broken,
            last_entry=last,
            anchor=anchor,
            truncated=anchor is not None and anchored_hash is None,
            anchor_mismatch=anchor is not None
            and anchored_hash is not None
            and anchored_hash != anchor.hash,
        )
