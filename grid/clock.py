"""The one injected clock. Node and fusion code never read the wall clock for simulation time.

:class:`ScaledClock` runs simulation time ``speed`` times faster than the wall clock from a shared
epoch (so processes on one machine agree on simulation time); :class:`VirtualClock` is driven by
tests and jumps straight from one wake-up to the next.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol

__all__ = ["MAX_SPEED", "MIN_SPEED", "Clock", "ScaledClock", "VirtualClock", "check_speed"]

# The one range of simulation speeds, checked by the CLI, the control message and the clock alike.
MIN_SPEED = 0.001
MAX_SPEED = 1000.0


def check_speed(speed: float) -> float:
    """``speed`` if it is in [MIN_SPEED, MAX_SPEED], else ValueError naming the range."""
    if not MIN_SPEED <= speed <= MAX_SPEED:  # also refuses NaN
        raise ValueError(f"speed must be between {MIN_SPEED:g} and {MAX_SPEED:g}, got {speed:g}")
    return speed


class Clock(Protocol):
    """Simulation time in seconds since the run's epoch."""

    def now(self) -> float:
        """The current simulation time."""
        ...

    async def sleep_until(self, t: float) -> None:
        """Return once simulation time has reached ``t`` (at once if it already has)."""
        ...


class ScaledClock:
    """Simulation time = (wall time - epoch) x speed."""

    def __init__(self, *, epoch_ns: int, speed: float = 1.0) -> None:
        self.epoch_ns = epoch_ns
        self.speed = check_speed(speed)

    def now(self) -> float:
        """The current simulation time (negative before the epoch)."""
        return (time.time_ns() - self.epoch_ns) * 1e-9 * self.speed

    def wall_ns_at(self, t: float) -> int:
        """The wall clock (ns since the Unix epoch) at simulation time ``t``."""
        return self.epoch_ns + round(t / self.speed * 1e9)

    async def sleep_until(self, t: float) -> None:
        """Sleep until simulation time ``t``."""
        # A time already past still yields once, so a participant catching up lets the others run.
        await asyncio.sleep(max(0.0, (t - self.now()) / self.speed))


class VirtualClock:
    """A clock that only moves when a test advances it; sleepers wake in time order."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        """The current simulation time."""
        return self._now

    async def sleep_until(self, t: float) -> None:
        """Wait until :meth:`advance_to` passes ``t``."""
        if t <= self._now:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (t, next(self._seq), fut))
        await fut

    async def advance_to(self, t: float) -> None:
        """Move time to ``t``, waking each sleeper at its own time and letting it run."""
        while self._sleepers and self._sleepers[0][0] <= t:
            when, _, fut = heapq.heappop(self._sleepers)
            self._now = when
            if not fut.done():
                fut.set_result(None)
            for _ in range(5):  # let the woken task run and schedule its next sleep
                await asyncio.sleep(0)
        self._now = max(self._now, t)
