"""The audit log: who read or changed which case, when, from where; tamper-evident.

Every entry stores the hash of the previous one (a hash chain), so deleting,
inserting or editing an entry anywhere breaks every hash after it, and
``verify`` names the first entry that no longer fits. Entries hold
identifiers only (user, case id, route, client address), never personal data.
Appends are serialised per database by a transaction-level advisory lock on
PostgreSQL (SQLite serialises writers anyway), so concurrent requests cannot
fork the chain.

Every read of a case is audited, so the audit append is on the read path. One
transaction per entry, serialised by the chain's lock, capped a service at a
few hundred reads/s with each read waiting in line for a commit. Entries are
therefore group-committed: a request's entry joins the batch being collected
while the previous one commits, one transaction writes the whole batch, and
the request is answered only after its entry is durable (no read goes
unaudited if the process dies a moment later).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    select,
)

from avrr_events.database import Database
from avrr_events.postgres import lock_key

metadata = MetaData()

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
)

GENESIS = "0" * 64
_LOCK = lock_key("avrr-audit-chain")


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


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the entry's fields, canonically encoded."""
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


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


_INSERT = """
INSERT INTO audit_log (at, actor, action, case_id, route, client, outcome, prev_hash, hash)
SELECT * FROM unnest(
    $1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::int[], $8::text[], $9::text[])
"""


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


def _chain(prev_hash: str, batch: list[_Pending]) -> list[tuple[str, str]]:
    """(prev_hash, hash) of each entry of ``batch``, appended after ``prev_hash`` in order."""
    links = []
    for entry in batch:
        digest = entry_hash(prev_hash, entry.fields)
        links.append((prev_hash, digest))
        prev_hash = digest
    return links


class AuditLog:
    """Append and verify the audit chain of one service's database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None

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
            async with self.db.driver() as raw, raw.transaction():
                await raw.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
                prev = await raw.fetchval("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
                hashes = _chain(prev or GENESIS, batch)
                await raw.execute(
                    _INSERT,
                    [e.at for e in batch],
                    *([e.fields[k] for e in batch] for k in _COLUMNS[1:]),
                    [p for p, _ in hashes],
                    [h for _, h in hashes],
                )
            return [h[1] for h in hashes]
        async with self.db.transaction() as conn:
            prev = await conn.scalar(
                select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)
            )
            hashes = _chain(prev or GENESIS, batch)
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

    async def verify(self) -> int | None:
        """The id of the first entry that breaks the chain, or None if it is intact."""
        prev_hash = GENESIS
        async with self.db.engine.connect() as conn:
            result = await conn.stream(select(audit_log).order_by(audit_log.c.id))
            async for row in result:
                if row.prev_hash != prev_hash or row.hash != entry_hash(prev_hash, _fields(row)):
                    return int(row.id)
                prev_hash = row.hash
        return None
