"""A tiny domain for testing libs/events without any service: cases that get notes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Aggregate, DomainEvent, Encrypted, Envelope, EventRegistry, Projection
from avrr_events.tables import case_table


class CaseOpened(DomainEvent):
    event_type = "avrr.sample.CaseOpened"
    office: str
    name: Encrypted | None = None


class NoteAdded(DomainEvent):
    event_type = "avrr.sample.NoteAdded"
    event_version = 2
    text: str
    author: str


registry = EventRegistry([CaseOpened, NoteAdded])


@registry.upcaster("avrr.sample.NoteAdded", 1)
def _note_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 had no author: old notes are attributed to 'unknown'."""
    return {**data, "author": "unknown"}


class SampleCase(Aggregate):
    stream_type = "case"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.office: str | None = None
        self.notes: list[str] = []

    def when(self, event: DomainEvent) -> None:
        match event:
            case CaseOpened(office=office):
                self.office = office
            case NoteAdded(text=text):
                self.notes.append(text)

    def open(self, office: str, name: Encrypted | None = None) -> None:
        if self.exists:
            raise ValueError("case already open")
        self.record(CaseOpened(office=office, name=name))

    def add_note(self, text: str, author: str = "caseworker") -> None:
        self.record(NoteAdded(text=text, author=author))


read_models = MetaData()
case_summary = case_table(
    "case_summary",
    read_models,
    Column("office", String(100)),
    Column("notes", Integer, nullable=False, default=0),
)


class CaseSummary(Projection):
    name = "case_summary"
    metadata = read_models

    async def _opened(self, conn: AsyncConnection, event: CaseOpened, envelope: Envelope) -> None:
        await conn.execute(
            case_summary.insert().values(case_id=envelope.subject, office=event.office, notes=0)
        )

    async def _noted(self, conn: AsyncConnection, event: NoteAdded, envelope: Envelope) -> None:
        await conn.execute(
            case_summary.update()
            .where(case_summary.c.case_id == envelope.subject)
            .values(notes=case_summary.c.notes + 1)
        )

    handlers = {CaseOpened: _opened, NoteAdded: _noted}


async def summary_rows(conn: AsyncConnection) -> list[tuple[Any, ...]]:
    rows = await conn.execute(select(case_summary).order_by(case_summary.c.case_id))
    return [tuple(r) for r in rows]


async def total_notes(conn: AsyncConnection) -> int:
    return int(await conn.scalar(select(func.coalesce(func.sum(case_summary.c.notes), 0))) or 0)


def case_ids(n: int, prefix: str = "case") -> Sequence[str]:
    return [f"{prefix}-{i:04d}" for i in range(n)]
