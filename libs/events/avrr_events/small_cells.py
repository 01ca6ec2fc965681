"""Small cells: a count of a few households can name them, so it is not shown.

One rule for every count that leaves headquarters: travel's public returns
counts (a cell is published only from this many households on) and intake's
situational reports read by users outside headquarters (a cell under it is
suppressed). The threshold is ``AVRR_PUBLIC_MIN_HOUSEHOLDS``, 5 by default;
statistical offices commonly suppress cells below 3 to 10.

A suppressed cell that the others and the total would give away by
subtraction is not really suppressed: when exactly one cell of a breakdown is
suppressed, the next smallest is suppressed with it (complementary
suppression). A zero is shown: it names no one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from avrr_events.env_settings import EnvironmentSettings, from_env

MIN_HOUSEHOLDS: Final = 5
SUPPRESSED: Final = "suppressed"  # the key a suppressed cell carries (true)


class SmallCellSettings(EnvironmentSettings):
    min_households: int = from_env(
        "min_households",
        "AVRR_PUBLIC_MIN_HOUSEHOLDS",
        MIN_HOUSEHOLDS,
        "a count is shown outside headquarters (or published) only from this many households on",
        ge=1,
    )


def min_households() -> int:
    """The threshold as configured now (read from the environment each time)."""
    return SmallCellSettings().min_households


def too_small(households: int, minimum: int) -> bool:
    """Whether a cell of ``households`` would identify them (zero names no one)."""
    return 0 < households < minimum


def suppress(
    cells: Sequence[dict[str, Any]],
    *,
    households: str,
    counts: Sequence[str],
    minimum: int,
) -> list[dict[str, Any]]:
    """``cells`` (one breakdown) with the ``counts`` of every small cell set to None and
    ``suppressed: true``; a lone suppressed cell takes the next smallest with it."""
    out = [dict(c) for c in cells]
    small = [c for c in out if too_small(int(c[households]), minimum)]
    if len(small) == 1:
        others = sorted(
            (c for c in out if c is not small[0] and int(c[households]) > 0),
            key=lambda c: int(c[households]),
        )
        small += others[:1]
    for cell in small:
        for key in counts:
            cell[key] = None
        cell[SUPPRESSED] = True
    return out
