"""Reports a participant has seen in a run, by message id: new, a duplicate, or a grid copy.

A node publishes each report once to every grid it belongs to, with one message id. A receiver in
two of those grids gets it twice: the second is a *grid copy*. The same id again on the same grid
is a *duplicate* (a QoS 1 redelivery, e.g. after a reconnect). Either way it is counted, not used.
"""

from __future__ import annotations

from grid.wire.counters import CounterName

__all__ = ["SeenReports"]


class SeenReports:
    """The message ids seen in one run, each with the grid it first came from."""

    def __init__(self) -> None:
        self._first_grid: dict[str, str | None] = {}

    def repeat(self, msg_id: str, grid: str | None) -> CounterName | None:
        """None for a report seen for the first time (now remembered), else what the repeat is."""
        if msg_id not in self._first_grid:
            self._first_grid[msg_id] = grid
            return None
        return CounterName.DUPLICATES if self._first_grid[msg_id] == grid else CounterName.GRID_COPIES

    def __contains__(self, msg_id: object) -> bool:
        return msg_id in self._first_grid
