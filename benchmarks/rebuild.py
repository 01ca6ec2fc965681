"""Figure 3: rebuilding a projection from the inbox journal, against COPY of the same rows.

The journal (inbox rows of one consumer group) is what ``ProjectionRunner``
replays. The baseline is the bulk limit of the database: COPY of exactly those
rows into the inbox, which is also how the journal is filled before the rebuild.
The projection is simple and set-based (one upsert per batch), as a projection
that cares about rebuild speed would be.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import Column, Integer, MetaData, String
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Database, DomainEvent, Envelope, EventRegistry, Projection
from avrr_events.adapters.postgres import dumps
from avrr_events.projections import ProjectionRunner
from avrr_events.tables import case_table
from benchmarks.common import NOTED, OPENED, Timer, envelope, every_event_per_second

GROUP = "bench-group"
CASES = 5000


class CaseOpened(DomainEvent):
    event_type = OPENED
    office: str
    note: str


class NoteAdded(DomainEvent):
    event_type = NOTED
    text: str
    author: str


registry = EventRegistry([CaseOpened, NoteAdded])

read_models = MetaData()
case_summary = case_table(
    "bench_case_summary",
    read_models,
    Column("office", String(100)),
    Column("notes", Integer, nullable=False),
)


class CaseSummary(Projection):
    """Per case: its office and how many notes it has; one set-based upsert per batch."""

    name = "bench_case_summary"
    event_types = frozenset({OPENED, NOTED})
    metadata = read_models

    async def apply(self, conn: AsyncConnection, event: DomainEvent, envelope: Envelope) -> None:
        await self.apply_batch(conn, [(event, envelope)])

    async def apply_batch(
        self, conn: AsyncConnection, items: Sequence[tuple[DomainEvent, Envelope]]
    ) -> None:
        rows: dict[str, dict[str, Any]] = {}
        for event, env in items:
            row = rows.setdefault(env.subject, {"case_id": env.subject, "office": None, "notes": 0})
            if isinstance(event, CaseOpened):
                row["office"] = event.office
            elif isinstance(event, NoteAdded):
                row["notes"] += 1
        # One statement for the whole batch (arrays, unnest): executemany would
        # still cost the server one upsert execution per row.
        await conn.exec_driver_sql(
            _UPSERT,
            (
                list(rows),
                [r["office"] for r in rows.values()],
                [r["notes"] for r in rows.values()],
            ),
        )


_UPSERT = """
INSERT INTO bench_case_summary (case_id, office, notes)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[])
ON CONFLICT (case_id) DO UPDATE
SET office = COALESCE(EXCLUDED.office, bench_case_summary.office),
    notes = bench_case_summary.notes + EXCLUDED.notes
"""


def journal(n: int) -> list[tuple[Any, ...]]:
    """``n`` inbox rows of ``GROUP``: each case opened first, then its notes."""
    cases = min(CASES, n)
    records = []
    for i in range(n):
        e = envelope(f"case-{i % cases:05d}", i, opened=i < cases)
        records.append(
            (
                GROUP,
                e.id,
                e.type,
                e.subject,
                dumps(e.model_dump(mode="json")),
                "avrr.bench.journal",
                i % 6,
                i // 6,
            )
        )
    return records


_COLUMNS = ["consumer", "event_id", "type", "subject", "envelope", "topic", "partition", "offset"]


async def copy_journal(dsn: str, records: list[tuple[Any, ...]]) -> float:
    """COPY the journal into the inbox (the baseline, and the set-up of the rebuild); rows/s."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("TRUNCATE inbox RESTART IDENTITY")
        start = time.perf_counter()
        await conn.copy_records_to_table("inbox", records=records, columns=_COLUMNS)
        rate = len(records) / (time.perf_counter() - start)
        await conn.execute("VACUUM ANALYZE inbox")
        return rate
    finally:
        await conn.close()


async def ours(url: str, expected: int) -> float:
    """``ProjectionRunner.rebuild`` of the projection over the whole journal; events/s."""
    db = Database(url)
    try:
        await db.create_schema(read_models)
        runner = ProjectionRunner(db, registry, GROUP)
        with Timer() as timer:
            applied = await runner.rebuild(CaseSummary())
        return every_event_per_second("rebuild applied", applied, expected, timer.seconds)
    finally:
        await db.dispose()
