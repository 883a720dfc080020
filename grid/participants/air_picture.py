"""The air picture the fusion centre sends the grid: each track at most once per interval.

The tracker changes a track on nearly every report; sending each change to every participant
costs the grid a message per report per subscriber and tells a consumer little more than a
steady refresh would. :class:`AirPicture` decides which snapshots go out, on simulation time:

- a track's first snapshot, its first confirmed snapshot and its deletion go out at once
  (a node's awareness from fused tracks hangs on the confirmation);
- otherwise a track goes out at most once per ``interval_s``; between publications only its
  latest snapshot is kept, and it goes out once the interval has elapsed, at the track's next
  update or when :meth:`AirPicture.due` is asked (the centre's flusher does, at
  :meth:`AirPicture.next_due`), so a track that stops updating still has its last state sent;
- tentative tracks are published like confirmed ones, at the bounded rate.

Synchronous and clock-free: the caller passes the time. ``interval_s`` 0 sends every snapshot.
"""

from __future__ import annotations

import math

from grid.errors import ConfigError
from grid.fusion import TrackSnapshot, TrackStatus

__all__ = ["DEFAULT_TRACK_INTERVAL_S", "AirPicture", "check_track_interval"]

# A sensor scan is 1 to 5 s of simulation time and a target moves some 50 m/s: one refresh a
# second per track keeps a consumer's picture within one scan of the centre's, while a track fed
# by several sensors (several reports a second) costs the grid one message instead of many.
DEFAULT_TRACK_INTERVAL_S = 1.0


def check_track_interval(interval_s: float, *, what: str = "track_interval_s") -> float:
    """``interval_s`` if it is a finite number of seconds >= 0, else :class:`ConfigError` naming ``what``."""
    if not math.isfinite(interval_s) or interval_s < 0:  # also refuses NaN
        raise ConfigError(f"{what} must be a number of simulation seconds >= 0, got {interval_s:g}")
    return interval_s


class AirPicture:
    """Rate-bounds the fused tracks published, per track, on simulation time."""

    def __init__(self, interval_s: float = DEFAULT_TRACK_INTERVAL_S) -> None:
        self.interval_s = check_track_interval(interval_s)
        # Live track id -> when its next publication may go out (its last one plus the interval),
        # compared with the time as given, so that next_due() and due() always agree.
        self._next_at: dict[str, float] = {}
        self._confirmed: set[str] = set()  # tracks whose confirmation has gone out
        self._pending: dict[str, TrackSnapshot] = {}  # track id -> latest snapshot not yet sent
        self.offered = 0
        self.published = 0

    def offer(self, time: float, snapshot: TrackSnapshot) -> list[TrackSnapshot]:
        """Take the tracker's latest snapshot of a track at ``time``: what to publish now."""
        self.offered += 1
        track_id = snapshot.track_id
        next_at = self._next_at.get(track_id)
        urgent = snapshot.status is TrackStatus.DELETED or (
            snapshot.status is TrackStatus.CONFIRMED and track_id not in self._confirmed
        )
        if not urgent and next_at is not None and time < next_at:
            self._pending[track_id] = snapshot  # the latest state wins
            return []
        return [self._send(time, snapshot)]

    def next_due(self) -> float | None:
        """The earliest time a held snapshot is due, or None when none is held."""
        if not self._pending:
            return None
        return min(self._next_at[track_id] for track_id in self._pending)

    def due(self, time: float) -> list[TrackSnapshot]:
        """The held snapshots whose track's interval has elapsed by ``time``, taken out to publish."""
        ready = [s for track_id, s in self._pending.items() if time >= self._next_at[track_id]]
        return [self._send(time, s) for s in ready]

    def flush(self, time: float) -> list[TrackSnapshot]:
        """Every held snapshot, interval or not (the run is over: the last states go out)."""
        return [self._send(time, s) for s in list(self._pending.values())]

    def _send(self, time: float, snapshot: TrackSnapshot) -> TrackSnapshot:
        track_id = snapshot.track_id
        self._pending.pop(track_id, None)
        self.published += 1
        if snapshot.status is TrackStatus.DELETED:
            # A deleted track never changes again: forget it, so the picture holds live tracks only.
            self._next_at.pop(track_id, None)
            self._confirmed.discard(track_id)
        else:
            self._next_at[track_id] = time + self.interval_s
            if snapshot.status is TrackStatus.CONFIRMED:
                self._confirmed.add(track_id)
        return snapshot
