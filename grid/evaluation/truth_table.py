"""Truth positions of every threat at many times at once, for vectorised evaluation."""

from __future__ import annotations

import numpy as np

from grid.fusion.detection import Array
from grid.world.truth import GroundTruth

__all__ = ["TruthTable"]


class TruthTable:
    """Threat plane positions sampled every ``step_s`` and interpolated linearly.

    Straight legs are reproduced exactly; a loiter arc is off by at most its sagitta over one
    step (under a metre at drone speeds with the default step), a corner by at most half a step
    of flight. Outside a threat's flight, or after ``until_s`` (the end of the run: nothing
    is observed after it), its position is NaN.

    :meth:`nearest` is the one assignment of track updates to threats; it answers with the exact
    truth (the interpolation only rules out the threats that cannot be nearest).
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
        # Between two samples a threat flying at most v is within 2 f (1 - f) v step <= v step / 2
        # of the interpolated point (f: the fraction of the step); the millimetre covers rounding.
        fastest = max((seg.speed for tr in trajectories for seg in tr.segments), default=0.0)
        self.error_bound_m = fastest * step_s / 2 + 1e-3

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
        """For each (time, point), the nearest flying threat within ``radius_m`` (inclusive), or None.

        Distances are the exact horizontal ones (:meth:`GroundTruth.distance_m`); of threats
        exactly as near, the first in scenario order. The interpolated table decides alone only
        where its error bound cannot change the answer.
        """
        times = np.asarray(times, dtype=np.float64)
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        slack = self.error_bound_m
        out: list[str | None] = []
        for lo in range(0, len(times), 4096):
            t, p = times[lo : lo + 4096], points[lo : lo + 4096]
            pos = self.positions(t)
            d = np.hypot(pos[:, :, 0] - p[:, None, 0], pos[:, :, 1] - p[:, None, 1])
            d = np.where(np.isnan(d), np.inf, d)
            if not d.shape[1]:
                out.extend([None] * len(d))
                continue
            order = np.argsort(d, axis=1, kind="stable")
            best = order[:, 0]
            d1 = np.take_along_axis(d, order[:, :1], axis=1)[:, 0]
            d2 = (
                np.take_along_axis(d, order[:, 1:2], axis=1)[:, 0]
                if d.shape[1] > 1
                else np.full(len(d), np.inf)
            )
            sure = (d1 <= radius_m - slack) & (d2 > d1 + 2 * slack)
            chunk: list[str | None] = [
                self.ids[j] if ok else None for j, ok in zip(best.tolist(), sure.tolist(), strict=True)
            ]
            for k in np.flatnonzero(~sure & (d1 <= radius_m + slack)).tolist():
                chunk[k] = self._exact_nearest(float(t[k]), p[k], d[k], radius_m, float(d1[k]) + 2 * slack)
            out.extend(chunk)
        return out

    def _exact_nearest(
        self, t: float, point: Array, approx: Array, radius_m: float, within: float
    ) -> str | None:
        """The nearest threat by exact distance among those ``approx`` puts within ``within``."""
        east, north = float(point[0]), float(point[1])
        best: str | None = None
        best_d = radius_m
        for j in np.flatnonzero(approx <= within):
            d = self.truth.distance_m(self.ids[j], t, east, north)
            if d < best_d or (best is None and d == best_d):
                best, best_d = self.ids[j], d
        return best
