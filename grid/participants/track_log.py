"""The fusion centre's log of every tracker update, as its account carries it (FusionStats.track_log).

Consumers receive a rate-bounded air picture; the summary's track measures need every update
the tracker made. The centre logs each as a :class:`~grid.evaluation.picture.TrackUpdate` and
sends them compactly: one row of numbers per update (``TRACK_LOG_COLUMNS``), the track named by
its index into ``track_ids``, the status by its index into ``TRACK_LOG_STATUSES``.
"""

from __future__ import annotations

from collections.abc import Iterable

from grid.evaluation.picture import TrackUpdate
from grid.wire.messages import TRACK_LOG_STATUSES, FusionStats

__all__ = ["TrackLog", "updates_from_log"]

_TENTATIVE, _CONFIRMED, _DELETED = (
    TRACK_LOG_STATUSES.index(s) for s in ("tentative", "confirmed", "deleted")
)


class TrackLog:
    """Every track update of a run, in issue order, and its compact form."""

    def __init__(self) -> None:
        self.updates: list[TrackUpdate] = []

    def extend(self, updates: Iterable[TrackUpdate]) -> None:
        """Log ``updates`` (issued after every update logged so far)."""
        self.updates.extend(updates)

    def __len__(self) -> int:
        return len(self.updates)

    def rows(self) -> tuple[tuple[str, ...], tuple[tuple[float, ...], ...]]:
        """``(track_ids, rows)`` for FusionStats: one row of ``TRACK_LOG_COLUMNS`` per update."""
        index: dict[str, int] = {}
        rows = []
        for u in self.updates:
            status = _DELETED if u.deleted else _CONFIRMED if u.confirmed else _TENTATIVE
            track = index.setdefault(u.track_id, len(index))
            rows.append((u.time, u.issued, track, u.east, u.north, u.vel_east, u.vel_north, status))
        return tuple(index), tuple(rows)


def updates_from_log(stats: FusionStats) -> list[TrackUpdate]:
    """The track updates a (validated) FusionStats' log holds, in issue order."""
    ids = stats.track_ids
    return [
        TrackUpdate(
            time=time,
            issued=issued,
            track_id=ids[int(track)],
            east=east,
            north=north,
            vel_east=vel_east,
            vel_north=vel_north,
            confirmed=status == _CONFIRMED,
            deleted=status == _DELETED,
        )
        for time, issued, track, east, north, vel_east, vel_north, status in stats.track_log
    ]
