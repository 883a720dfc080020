"""Truth positions of every threat at many times at once, for vectorised evaluation."""

from __future__ import annotations

import numpy as np

from grid.fusion.detection import Array
from grid.world.truth import GroundTruth

__all__ = ["TruthTable"]


class TruthTable:
    """Threat plane positions sampled every ``step_s`` and interpolated linearly.

    Straight legs are reproduced exactly; a loiter arc is off by at most its sagitta over one
    step (under a metre at drone speeds with the default step). Outside a threat's flight, or
    after ``until_s`` (the end of the run: nothing is observed after it), its position is NaN.
    """

    def __init__(self, truth: GroundTruth, *, step_s: float = 0.25, until_s: float | None = None) -> None:
        self.truth = truth
        self.ids = list(truth.trajectories)
        trajectories = list(truth.trajectories.values())
        self.start = np.array([tr.threat.start_s for tr in trajectories])
        self.end = np.array([tr.end_s for tr in trajectories])
        if until_s is not None:
            self.end = np.minimum(self.end, until_s)
        self.t0 = float(self.start.min())
        self.step = step_s
        count = int(np.ceil((float(self.end.max()) - self.t0) / step_s)) + 2
        grid = np.empty((count, len(trajectories), 2))
        for j, tr in enumerate(trajectories):
            for i in range(count):
                t = min(max(self.t0 + i * step_s, tr.threat.start_s), tr.end_s)
                state = tr.plane_state(t)
                assert state is not None  # t is clamped into the flight
                grid[i, j] = state[:2]
        self._grid = grid

    def positions(self, times: Array) -> Array:
        """(len(times), threats, 2) positions; NaN where a threat is not flying."""
        times = np.asarray(times, dtype=np.float64)
        u = np.clip((times - self.t0) / self.step, 0.0, self._grid.shape[0] - 1.000001)
        i = np.floor(u).astype(int)
        frac = (u - i)[:, None, None]
        out: Array = self._grid[i] * (1.0 - frac) + self._grid[i + 1] * frac
        flying = (times[:, None] >= self.start[None, :]) & (times[:, None] <= self.end[None, :])
        out[~flying] = np.nan
        return out

    def nearest(self, times: Array, points: Array, radius_m: float) -> list[str | None]:
        """For each (time, point), the nearest flying threat within ``radius_m``, or None."""
        out: list[str | None] = []
        for lo in range(0, len(times), 4096):
            pos = self.positions(times[lo : lo + 4096])
            d = np.hypot(
                pos[:, :, 0] - points[lo : lo + 4096, None, 0], pos[:, :, 1] - points[lo : lo + 4096, None, 1]
            )
            d = np.where(np.isnan(d), np.inf, d)
            best = np.argmin(d, axis=1) if d.shape[1] else np.zeros(len(d), dtype=int)
            for k, j in enumerate(best):
                out.append(self.ids[j] if d.shape[1] and d[k, j] <= radius_m else None)
        return out
