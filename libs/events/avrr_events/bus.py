"""What the platform needs from a message bus, whichever bus it is.

Two adapters implement these protocols: ``kafka.py`` (the real stack) and
``inprocess.py`` (the embedded default and fast unit tests). The outbox relay,
the consumer loop and dead-lettering are written once against them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, overload

from avrr_events import logs

T = TypeVar("T")


@dataclass(frozen=True)
class Message:
    """One record on a topic: key, value and headers as bytes, plus where it was read from."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int = -1
    offset: int = -1
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def header(self, name: str) -> str | None:
        """The first header of that name, decoded, or None."""
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return None


class RecordTooLarge(Exception):
    """The bus refused a record for its size (Kafka: over the broker's or topic's
    ``message.max.bytes``); sending it again can never succeed."""


class Publisher(Protocol):
    """Sends records; ``publish`` returns only when every record is acknowledged."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, messages: Sequence[Message]) -> None: ...


class OffsetStore(Protocol):
    """A consumer group's positions kept in its service's database (``consumer.ConsumerOffsets``):
    (topic, partition) -> the offset of the next record to read."""

    async def load(self) -> dict[tuple[str, int], int]: ...

    async def save(self, offsets: Mapping[tuple[str, int], int]) -> None: ...


class MessageSource(Protocol):
    """A consumer-group subscription: fetch records, commit after they are handled.

    ``start(offsets)``: where the bus keeps its records beyond the process,
    the source resumes each partition from ``offsets`` rather than from the
    bus's own committed offsets.
    """

    async def start(self, offsets: OffsetStore | None = None) -> None: ...

    async def stop(self) -> None: ...

    async def fetch(self, timeout_ms: int, max_records: int) -> list[Message]: ...

    async def commit(self, messages: Sequence[Message]) -> None: ...


@overload
async def patiently(
    step: Callable[[], Awaitable[T]], *, backoff: float, log: logging.Logger, waiting: str
) -> T: ...
@overload
async def patiently(
    step: Callable[[], Awaitable[T]],
    *,
    backoff: float,
    log: logging.Logger,
    waiting: str,
    stopping: asyncio.Event,
) -> T | None: ...
async def patiently(
    step: Callable[[], Awaitable[T]],
    *,
    backoff: float,
    log: logging.Logger,
    waiting: str,
    stopping: asyncio.Event | None = None,
) -> T | None:
    """``step``'s result, tried again for as long as it takes: a broker or database away
    must neither lose records nor crash the loop that reads them. Each failure is one
    warning (``waiting``, then the error without row values), and the pause doubles from
    ``backoff`` up to 5 s. Once ``stopping`` is set nothing more is tried (None)."""
    pause = backoff
    while stopping is None or not stopping.is_set():
        try:
            return await step()
        except Exception as exc:
            log.warning("%s, retrying: %s", waiting, logs.error_text(exc))
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)
    return None
