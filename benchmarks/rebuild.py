"""Figure 3: rebuilding a projection from the inbox journal, against COPY of the same rows.

The journal (inbox rows of one consumer group) is what ``ProjectionRunner``
replays. The baseline is the bulk limit of the database: COPY of exactly those
rows into the inbox, which is also how the journal is filled before the rebuild.
The projection is simple and set-based (one upsert per batch), as a projection
that cares about rebuild speed would be.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import Column, Integer, MetaData, String
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Database, DomainEvent, Envelope, EventRegistry, Projection
from avrr_events.adapters.postgres import dumps
from avrr_events.projections import ProjectionRunner
from avrr_events.tables import case_table
from benchmarks.common import FILLER, NOTED, OPENED, Timer, envelope, every_event_per_second

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


def journal(n: int, start: int = 0, stop: int | None = None) -> list[tuple[Any, ...]]:
    """Rows ``start``..``stop`` of an ``n``-event journal of ``GROUP``: each case opened
    first, then its notes. Each row's envelope is a fresh ``envelope()`` of its case,
    numbered; only the first of each kind is built with pydantic, the others are
    copies with their own id, subject, note and correlation (10 million built as
    models took longer than the rebuild)."""
    cases = min(CASES, n)
    templates = {
        opened: envelope("case-00000", 0, opened=opened).model_dump(mode="json")
        for opened in (True, False)
    }
    records = []
    for i in range(start, n if stop is None else min(n, stop)):
        opened = i < cases
        doc = dict(templates[opened], id=str(uuid.uuid4()), correlationid=str(uuid.uuid4()))
        doc["subject"] = f"case-{i % cases:05d}"
        if not opened:
            doc["data"] = {"text": f"note {i} {FILLER}", "author": "caseworker"}
        records.append(
            (
                GROUP,
                doc["id"],
                doc["type"],
                doc["subject"],
                dumps(doc),
                "avrr.bench.journal",
                i % 6,
                i // 6,
            )
        )
    return records


_COLUMNS = ["consumer", "event_id", "type", "subject", "envelope", "topic", "partition", "offset"]
CHUNK = 200_000  # journal rows built and COPYed at a time: 10 million never sit in memory


async def copy_journal(dsn: str, n: int) -> float:
    """COPY an ``n``-event journal into the inbox, CHUNK rows at a time (the baseline, and
    the set-up of the rebuild); rows/s of the COPYs alone (building the rows is not timed)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("TRUNCATE inbox RESTART IDENTITY")
        seconds = 0.0
        for start in range(0, n, CHUNK):
            records = journal(n, start, start + CHUNK)
            began = time.perf_counter()
            await conn.copy_records_to_table("inbox", records=records, columns=_COLUMNS)
            seconds += time.perf_counter() - began
        await conn.execute("VACUUM ANALYZE inbox")
        return n / seconds
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
