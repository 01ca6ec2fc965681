"""Decisions on a stream many cases share (a programme's allocation, its budget), taken again
when another case's decision appended first.

A stream one case owns answers a race with 409: the two writers decided on the same case,
and the loser must look again. A stream every case of a programme appends to (its places,
its money) is different: the loser's decision did not depend on the winner's case, only on
the totals, so it is decided again on the new version, and either succeeds or is refused by
the rule the totals now break (a cap: 422). No client sees a 409 for someone else's case,
and the rule holds under any interleaving because every attempt appends at the version it
read.

What an attempt spans is the caller's: a whole transaction (reintegration: the case and
the programme, appended together) or a savepoint in the caller's transaction (travel: the
budget's charge inside the ticket's). On PostgreSQL the conflict is reported once the
winner has committed, so the next attempt's load sees the winner's events; ``attempts``
bounds a stream written faster than it can decide.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from avrr_events.store import ConcurrencyError

T = TypeVar("T")


async def _always(_: ConcurrencyError) -> bool:
    return True


async def decided_again_when_raced(
    attempt: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    retry: Callable[[ConcurrencyError], Awaitable[bool]] = _always,
) -> T:
    """``attempt``'s result, calling it again (up to ``attempts`` calls in all) each time it
    raises ConcurrencyError and ``retry`` says the conflict is one to decide again on (by
    default every conflict: the attempt appends to the shared stream only).

    ``retry`` is not asked after the last attempt, and a conflict it refuses (the caller's
    own case moved: a real 409) reaches the caller at once, as does any other exception.
    """
    for n in range(1, attempts + 1):
        try:
            return await attempt()
        except ConcurrencyError as exc:
            if n == attempts or not await retry(exc):
                raise
    raise ValueError(f"attempts must be at least 1, not {attempts}")
