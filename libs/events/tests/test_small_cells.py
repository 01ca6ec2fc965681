"""The small-cell rule shared by the public counts and the office reports."""

from __future__ import annotations

from avrr_events.small_cells import suppress, too_small


def test_small_cells_are_suppressed_and_a_lone_one_takes_the_next_smallest_with_it() -> None:
    assert not too_small(0, 5) and too_small(4, 5) and not too_small(5, 5)
    cells = [{"v": "a", "n": 9}, {"v": "b", "n": 3}, {"v": "c", "n": 6}, {"v": "d", "n": 0}]
    out = suppress(cells, households="n", counts=("n",), minimum=5)
    # b alone would be the total minus the others: c (the next smallest) goes too; 0 stays.
    assert [c["n"] for c in out] == [9, None, None, 0]
    assert [bool(c.get("suppressed")) for c in out] == [False, True, True, False]
    two = suppress([{"n": 1}, {"n": 2}, {"n": 7}], households="n", counts=("n",), minimum=5)
    assert [c["n"] for c in two] == [None, None, 7]
    assert cells[1]["n"] == 3, "the input is not changed"
