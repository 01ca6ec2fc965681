"""platform: at most one audit entry follows each hash (issue 21: the audit append in one
round trip).

The audit chain was kept whole by its advisory lock alone: each batch began a
transaction holding it, checked the head and inserted (three round trips per
batch, on the path of every audited read). A unique index on ``prev_hash``
makes the database refuse a fork itself: of two batches chained after the same
head, the second is refused whichever replica or release wrote it, so an
append is one statement outside any transaction, re-chained only when refused
(avrr_events.audit). Existing chains keep their entries: a whole chain has one
entry after each hash already, so the index builds over it as it is; a chain
forked by hand (two entries after one hash, which ``avrr audit verify`` reports
as broken) fails the build, naming the hash.

Built in the upgrade (avrr_events.migration_ops.add_index: not CONCURRENTLY,
IF NOT EXISTS), it locks ``audit_log`` against inserts while it builds, so
audited requests wait for it; a large log gets ``CREATE UNIQUE INDEX
CONCURRENTLY audit_log_prev_hash_key ON audit_log (prev_hash)`` before the
upgrade.

Create Date: 2026-12-07
"""

from __future__ import annotations

from avrr_events.migration_ops import indexing

revision = "platform_0002"
down_revision: str | None = "platform_0001"

upgrade, downgrade = indexing("audit_log", "audit_log_prev_hash_key", "prev_hash", unique=True)
