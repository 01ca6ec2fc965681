"""The in-process bus: Kafka's contract (topics, consumer groups, committed offsets) in memory.

Used by the embedded default (``make run``: one process, nothing to install)
and by fast unit tests. One partition per topic, so order is total.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from avrr_events.bus import Message, OffsetStore


class InProcessBus:
    """Topics as append-only lists; each group remembers its committed offset per topic."""

    def __init__(self) -> None:
        self.topics: dict[str, list[Message]] = {}
        self._committed: dict[tuple[str, str], int] = {}
        self._changed = asyncio.Condition()

    def publisher(self) -> InProcessPublisher:
        return InProcessPublisher(self)

    def source(self, group_id: str, topics: Iterable[str]) -> InProcessSource:
        return InProcessSource(self, group_id, tuple(topics))

    async def append(self, messages: Sequence[Message]) -> None:
        async with self._changed:
            for m in messages:
                log = self.topics.setdefault(m.topic, [])
                log.append(replace(m, partition=0, offset=len(log)))
            self._changed.notify_all()

    def committed(self, group_id: str, topic: str) -> int:
        return self._committed.get((group_id, topic), 0)

    def commit(self, group_id: str, topic: str, offset: int) -> None:
        key = (group_id, topic)
        self._committed[key] = max(self._committed.get(key, 0), offset)

    async def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Wait (at most ``timeout`` s) until ``ready()``, checked under the bus's lock."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(ready), timeout)


class InProcessPublisher:
    def __init__(self, bus: InProcessBus) -> None:
        self.bus = bus

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, messages: Sequence[Message]) -> None:
        await self.bus.append(messages)


class InProcessSource:
    """A consumer group member that owns every topic's single partition."""

    def __init__(self, bus: InProcessBus, group_id: str, topics: tuple[str, ...]) -> None:
        self.bus = bus
        self.group_id = group_id
        self.topics = topics
        self._position: dict[str, int] = {}

    async def start(self, offsets: OffsetStore | None = None) -> None:
        """Resume where the group committed on this bus.

        ``offsets`` is not consulted: the bus's topics live only as long as
        the process, so a database's positions from an earlier process point
        into records that no longer exist.
        """
        self._position = {t: self.bus.committed(self.group_id, t) for t in self.topics}

    async def stop(self) -> None:
        return None

    def _take(self, max_records: int) -> list[Message]:
        out: list[Message] = []
        for topic in self.topics:
            log = self.bus.topics.get(topic, [])
            start = self._position.get(topic, 0)
            chunk = log[start : start + max_records - len(out)]
            out.extend(chunk)
            self._position[topic] = start + len(chunk)
            if len(out) >= max_records:
                break
        return out

    async def fetch(self, timeout_ms: int, max_records: int) -> list[Message]:
        await self.bus.wait_until(self._has_more, timeout_ms / 1000)
        return self._take(max_records)

    def _has_more(self) -> bool:
        return any(len(self.bus.topics.get(t, ())) > self._position.get(t, 0) for t in self.topics)

    async def commit(self, messages: Sequence[Message]) -> None:
        for m in messages:
            self.bus.commit(self.group_id, m.topic, m.offset + 1)

    async def lag(self) -> dict[tuple[str, int], int]:
        """Records not yet consumed, per topic (one partition each)."""
        return {
            (t, 0): len(self.bus.topics.get(t, ())) - self._position.get(t, 0) for t in self.topics
        }
