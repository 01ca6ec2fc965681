"""Many commands, one transaction: their appends held in memory and written together.

A command appends its events at the version it decided on, in a transaction
of its own: right for a person at a screen, and the bound of a run of
thousands of commands (``avrr import cases``), which then waits for a commit,
or a savepoint and a version query, per command. ``HeldAppends`` is an event
store for such a run. The commands load and append through it as usual (the
same aggregates, decisions, events, encryption), but what they append is held,
each stream's new events seen by the next command on it, and ``write`` writes
them all with ``EventStore.append_many``: one transaction (one statement on
PostgreSQL), every stream checked at the version it was read at. A stream that
another writer changed in between fails the whole write with ConcurrencyError
and nothing is written: the caller runs those commands again one by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events.envelope import Envelope
from avrr_events.store import ConcurrencyError, EventStore, RecordedEvent


class HeldAppends(EventStore):
    """An event store over ``store`` whose appends wait for ``write``.

    A held event's position is 0: it has none until it is written. Reads of a
    stream are kept for the run (one query per stream, or one for many with
    ``read``), so a stream changed meanwhile by another writer is seen as it
    was read; ``write`` then refuses, as an append on a stale version does.
    """

    def __init__(self, store: EventStore) -> None:
        super().__init__(store.db, store.topic)
        self.store = store
        self._streams: dict[str, list[RecordedEvent]] = {}  # as read, plus held events
        self._read_at: dict[str, int] = {}  # version in the store of each stream appended to
        self._held: dict[str, list[Envelope]] = {}

    @property
    def held(self) -> int:
        """How many events wait for ``write``."""
        return sum(len(envelopes) for envelopes in self._held.values())

    async def read(self, stream_ids: Iterable[str]) -> None:
        """Read the streams not read yet in one query (before the commands on them)."""
        wanted = [s for s in dict.fromkeys(stream_ids) if s not in self._streams]
        self._streams.update(await self.store.load_many(wanted))

    async def load(
        self, stream_id: str, *, conn: AsyncConnection | None = None
    ) -> list[RecordedEvent]:
        """The stream as read, with the events held for it."""
        if conn is not None:
            raise ValueError("held appends read outside any caller's transaction")
        if stream_id not in self._streams:
            self._streams[stream_id] = await self.store.load(stream_id)
        return list(self._streams[stream_id])

    async def stream_version(self, stream_id: str) -> int:
        recorded = await self.load(stream_id)
        return recorded[-1].version if recorded else 0

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        envelopes: Sequence[Envelope],
        *,
        conn: AsyncConnection | None = None,
        topic: str | None = None,
    ) -> int:
        """Hold ``envelopes`` after ``expected_version``: ConcurrencyError at once if the
        stream (as read, with what is held) is at another version."""
        if conn is not None or topic not in (None, self.topic):
            raise ValueError("held appends go to the store's own topic, in one transaction")
        if not envelopes:
            return expected_version
        version = await self.stream_version(stream_id)
        if version != expected_version:
            raise ConcurrencyError(stream_id, expected_version)
        self._read_at.setdefault(stream_id, version)
        new = [
            RecordedEvent(0, stream_id, version + n, e) for n, e in enumerate(envelopes, start=1)
        ]
        # New lists, never extended in place: ``undone_on_error`` keeps the old ones.
        self._streams[stream_id] = [*self._streams[stream_id], *new]
        self._held[stream_id] = [*self._held.get(stream_id, ()), *envelopes]
        return version + len(envelopes)

    @contextmanager
    def undone_on_error(self) -> Iterator[None]:
        """What the block holds is dropped if it raises: a command refused half-way through
        a run of several leaves nothing of it behind (a savepoint, in memory)."""
        streams, read_at, held = dict(self._streams), dict(self._read_at), dict(self._held)
        try:
            yield
        except BaseException:
            self._streams, self._read_at, self._held = streams, read_at, held
            raise

    async def write(self) -> int:
        """Write every held event in one transaction; how many. ConcurrencyError (nothing
        written) if a stream is no longer at the version it was read at."""
        count = self.held
        await self.store.append_many(
            [(s, self._read_at[s], envelopes) for s, envelopes in self._held.items()]
        )
        self._held = {}
        self._read_at = {}
        return count
