"""A projection declares its handlers in a table, event class -> method, as reactions do."""

from __future__ import annotations

from typing import Any, cast

from sample_domain import CaseOpened, NoteAdded
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import DomainEvent, Envelope, Projection, dataschema_uri


class Seen(Projection):
    name = "seen"
    metadata = MetaData()

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def _opened(self, conn: AsyncConnection, event: CaseOpened, envelope: Envelope) -> None:
        self.seen.append(("opened", event.office))

    async def _noted(self, conn: AsyncConnection, event: NoteAdded, envelope: Envelope) -> None:
        self.seen.append(("noted", event.text))

    handlers = {CaseOpened: _opened, NoteAdded: _noted}


def envelope_of(event: DomainEvent) -> Envelope:
    return Envelope(
        source="/avrr/sample",
        type=event.event_type,
        subject="case-1",
        correlationid="case-1",
        dataschema=dataschema_uri(event.event_type, event.event_version),
        dataversion=event.event_version,
        data=event.model_dump(mode="json"),
    )


def test_the_types_a_projection_follows_are_the_keys_of_its_table() -> None:
    assert Seen.event_types == {"avrr.sample.CaseOpened", "avrr.sample.NoteAdded"}


async def test_each_event_goes_to_the_handler_its_class_names_in_order() -> None:
    projection = Seen()
    events: list[DomainEvent] = [
        CaseOpened(office="PT-LIS"),
        NoteAdded(text="called back", author="cw-1"),
    ]
    conn = cast(AsyncConnection, object())  # the handlers here write nothing
    await projection.apply_batch(conn, [(e, envelope_of(e)) for e in events])
    assert projection.seen == [("opened", "PT-LIS"), ("noted", "called back")]


async def test_an_event_outside_the_table_writes_nothing() -> None:
    class OnlyOpened(Seen):
        handlers = {CaseOpened: Seen._opened}

    projection = OnlyOpened()
    note = NoteAdded(text="ignored", author="cw-1")
    await projection.apply(cast(AsyncConnection, object()), note, envelope_of(note))
    assert projection.seen == []
    assert OnlyOpened.event_types == {"avrr.sample.CaseOpened"}


def test_a_projection_that_writes_every_event_alike_declares_its_types() -> None:
    class Everything(Projection):
        name = "everything"
        event_types = frozenset({"avrr.sample.CaseOpened", "avrr.sample.NoteAdded"})
        metadata = MetaData()

        async def apply(self, conn: AsyncConnection, event: DomainEvent, envelope: Any) -> None:
            pass

    assert Everything.event_types == {"avrr.sample.CaseOpened", "avrr.sample.NoteAdded"}
    assert Everything.handlers == {}
