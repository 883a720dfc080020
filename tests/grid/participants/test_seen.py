"""Reports seen in a run: the first copy is new, a repeat is a duplicate or a grid copy."""

from __future__ import annotations

from grid.participants.seen import SeenReports
from grid.wire.counters import CounterName


def test_first_copy_is_new_and_remembered() -> None:
    """A report's first copy is new (None); afterwards its id is known."""
    seen = SeenReports()
    assert "m1" not in seen
    assert seen.repeat("m1", "black-sea") is None
    assert "m1" in seen


def test_repeat_on_the_same_grid_is_a_duplicate_on_another_a_grid_copy() -> None:
    """The same id again on its first grid is a duplicate; on another grid, a grid copy."""
    seen = SeenReports()
    seen.repeat("m1", "black-sea")
    assert seen.repeat("m1", "black-sea") is CounterName.DUPLICATES
    assert seen.repeat("m1", "danube") is CounterName.GRID_COPIES
    assert seen.repeat("m2", "danube") is None, "another report is new"
