"""When a track's CoT event goes stale: a few of that track's update periods after now.

The fusion centre publishes a track at most once per interval, and only when the track changed, so
its period depends on the sensors and on the run's speed (a run at ``--speed 10`` updates ten times
as often in wall time). The period is therefore measured per track, from the wall-clock gap between
its last two updates; a TAK client greys the track out once a few updates have been missed. The
floor keeps jitter at high speed from flickering a track stale between two updates. Sans-IO: the
caller passes the monotonic time.
"""

from __future__ import annotations

import math

from grid.errors import ConfigError

__all__ = ["DEFAULT_FLOOR_S", "DEFAULT_PERIODS", "StaleTimes"]

DEFAULT_PERIODS = 3.0  # missed updates before a track is stale
DEFAULT_FLOOR_S = 5.0  # never sooner than this (also the first update's, before a period is known)


class StaleTimes:
    """Seconds from now to each event's stale time: ``fixed_s``, or ``periods`` x the track's period."""

    def __init__(
        self,
        *,
        fixed_s: float | None = None,
        periods: float = DEFAULT_PERIODS,
        floor_s: float = DEFAULT_FLOOR_S,
    ) -> None:
        """Check the settings.

        Raises:
            ConfigError: a setting that is not a finite positive number.
        """
        for name, value in (("--stale", fixed_s), ("periods", periods), ("floor", floor_s)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a number of seconds > 0, got {value:g}")
        self.fixed_s = fixed_s
        self.periods = periods
        self.floor_s = floor_s
        self._last: dict[str, float] = {}  # track uid -> monotonic time of its last update

    def after(self, uid: str, now: float) -> float:
        """Seconds from ``now`` (monotonic) to the stale time of ``uid``'s update arriving now."""
        last, self._last[uid] = self._last.get(uid), now
        if self.fixed_s is not None:
            return self.fixed_s
        if last is None:
            return self.floor_s
        return max(self.floor_s, self.periods * (now - last))

    def forget(self, uid: str) -> None:
        """The track is gone (deleted): no more periods to measure."""
        self._last.pop(uid, None)
