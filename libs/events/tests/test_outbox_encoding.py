"""The relay's records are exactly the envelopes' own Kafka encoding, on both databases."""

from __future__ import annotations

from sqlalchemy import select

from avrr_events import Database, Envelope, EventStore, tables
from avrr_events.outbox import OutboxRelay
from avrr_events.store import row_envelope, row_message


def envelopes() -> list[Envelope]:
    common = {"source": "/avrr/sample", "subject": "case-enc", "dataversion": 1}
    return [
        Envelope(
            type="avrr.sample.CaseOpened",
            dataschema="urn:avrr:schema:avrr.sample.CaseOpened:1",
            correlationid="corr-1",
            data={"office": "Zürich", "nested": {"b": [1, 2.5, None, True], "a": "é"}},
            **common,
        ),
        Envelope(
            type="avrr.sample.NoteAdded",
            dataschema="",
            correlationid="corr-1",
            causationid="cause-1",
            traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            tracestate="vendor=x",
            data={},
            **common,
        ),
        Envelope(
            type="avrr.sample.NoteAdded",
            dataschema="urn:x",
            correlationid="",
            causationid="",
            data={"text": 'quote " and \\ backslash', "author": "a"},
            **common,
        ),
    ]


async def test_row_message_is_the_envelope_encoding(any_db: Database) -> None:
    store = EventStore(any_db, "avrr.sample.enc")
    originals = envelopes()
    await store.append("case-enc", 0, originals)
    async with any_db.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(tables.events)
                .where(tables.events.c.stream_id == "case-enc")
                .order_by(tables.events.c.version)
            )
        ).all()
    assert len(rows) == len(originals)
    for row, original in zip(rows, originals, strict=True):
        expected = row_envelope(row).to_message("t")
        assert row_message(row, "t") == expected
        decoded = Envelope.from_message(row_message(row, "t"))
        assert (decoded.id, decoded.data) == (original.id, original.data)

    relay = OutboxRelay(any_db, _NoPublisher())
    batch = await relay.fetch_batch()
    assert [m for _, m in batch] == [row_envelope(r).to_message("avrr.sample.enc") for r in rows]


class _NoPublisher:
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, messages: object) -> None:
        raise AssertionError("not used")
