"""The posterior Cramér-Rao bound of a target's position along its true trajectory.

Tichavsky's recursion for a linear-Gaussian motion model and nonlinear measurements, in
information form: ``J+ = (Q + F J^-1 F^T)^-1 + sum H^T R^-1 H``, with H evaluated at the
true state. The bound is conditioned on the detections that actually occurred (each adds its
sensor's information at its own time, with its own noise), which is what a filter that knows
which reports are the target's can use; its square root is a lower bound on the RMSE of any
unbiased estimator with that motion model. The target's altitude is taken as known.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from grid.fusion import ConstantVelocity, Detection, DetectionModel, MotionModel

__all__ = ["BoundPoint", "TruthState4", "bound_at", "bound_rmse", "pcrlb"]

TruthState4 = Callable[[float], tuple[float, float, float] | None]  # t -> (east, north, altitude)


@dataclass(frozen=True, slots=True)
class BoundPoint:
    """The bound after the detections at ``time``: the horizontal position variance (m^2)."""

    time: float
    position_var: float


def pcrlb(
    detections: Sequence[Detection],
    truth: TruthState4,
    *,
    motion: MotionModel | None = None,
    prior_position_sigma_m: float = 10_000.0,
    prior_speed_sigma_mps: float = 60.0,
) -> list[BoundPoint]:
    """The bound after each detection of one target (``detections`` in time order).

    Args:
        detections: the target's detections; each adds its information at its own time.
        truth: the true (east, north, altitude) at a time, None when not flying.
        motion: the motion model the bound assumes (default: constant velocity, q = 1).
        prior_position_sigma_m: prior standard deviation of each position axis at the first detection.
        prior_speed_sigma_mps: prior standard deviation of each velocity axis.
    """
    motion = motion if motion is not None else ConstantVelocity()
    model = DetectionModel()
    out: list[BoundPoint] = []
    info: np.ndarray | None = None
    last = 0.0
    for det in detections:
        where = truth(det.time)
        if where is None:
            continue
        east, north, altitude = where
        if info is None:
            cov = np.diag([prior_position_sigma_m**2] * 2 + [prior_speed_sigma_mps**2] * 2)
        else:
            f = motion.transition(det.time - last)
            cov = f @ np.linalg.inv(info) @ f.T + motion.noise(det.time - last)
        info = np.linalg.inv(0.5 * (cov + cov.T))
        lin = model.linearise((east, north, 0.0, 0.0), det, altitude, 0.0)
        h = lin.jacobian
        info += h.T @ np.linalg.solve(lin.noise, h)
        last = det.time
        bound = np.linalg.inv(info)
        out.append(BoundPoint(det.time, float(bound[0, 0] + bound[1, 1])))
    return out


def bound_rmse(points: Sequence[BoundPoint], *, since: float = -math.inf) -> float | None:
    """sqrt of the mean position variance over the points at or after ``since`` (None if none)."""
    chosen = [p.position_var for p in points if p.time >= since]
    return math.sqrt(sum(chosen) / len(chosen)) if chosen else None


def bound_at(points: Sequence[BoundPoint], times: Sequence[float]) -> list[float]:
    """The bound's position variance at each of ``times``: that of the latest point at or before
    it (the first point's before the first detection)."""
    if not points:
        return []
    stamps = [p.time for p in points]
    return [points[max(bisect.bisect_right(stamps, t) - 1, 0)].position_var for t in times]
