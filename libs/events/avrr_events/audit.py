"""The audit log: who read or changed which case, when, from where; tamper-evident.

Every entry stores the hash of the previous one (a hash chain), so deleting,
inserting or editing an entry anywhere breaks every hash after it, and
``verify`` names the first entry that no longer fits. Entries hold
identifiers only (user, case id, route, client address), never personal data.
Appends are serialised per database by a transaction-level advisory lock on
PostgreSQL (SQLite serialises writers anyway), so concurrent requests cannot
fork the chain.
"""

from __future__ import annotations

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
    text,
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


class AuditLog:
    """Append and verify the audit chain of one service's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

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
            "actor": actor[:200],
            "action": action,
            "case_id": case_id,
            "route": route[:300],
            "client": client,
            "outcome": outcome,
        }
        async with self.db.transaction() as conn:
            if self.db.is_postgres:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
            prev = await conn.scalar(
                select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)
            )
            prev_hash = prev or GENESIS
            digest = entry_hash(prev_hash, fields)
            await conn.execute(
                audit_log.insert().values(
                    **{**fields, "at": when},
                    prev_hash=prev_hash,
                    hash=digest,
                )
            )
        return digest

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
