"""A Gaussian estimate of the state ``[e, n, ve, vn]`` held as plain floats.

Filtering a 4-state track is dominated by numpy's per-call overhead, not by arithmetic, so
the tracker's hot path works on float tuples; numpy arrays are built only at the edges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from grid.fusion.detection import Array

__all__ = ["Cov4", "Gaussian", "Vec4", "symmetric", "worst_axis_sigma"]

Vec4 = tuple[float, float, float, float]
Cov4 = tuple[float, ...]  # 16 floats, row-major, exactly symmetric


def symmetric(u: tuple[float, ...]) -> Cov4:
    """A full row-major 4x4 matrix from its upper triangle (00 01 02 03 11 12 13 22 23 33)."""
    a, b, c, d, e, f, g, h, i, j = u
    return (a, b, c, d, b, e, f, g, c, f, h, i, d, g, i, j)


@dataclass(frozen=True, slots=True)
class Gaussian:
    """Mean ``x`` and covariance ``p`` (16 floats, row-major, symmetric)."""

    x: Vec4
    p: Cov4

    @classmethod
    def of(cls, state: npt.ArrayLike, covariance: npt.ArrayLike) -> Gaussian:
        """From array-likes; the covariance is symmetrised."""
        s = np.asarray(state, dtype=np.float64).reshape(4)
        c = np.asarray(covariance, dtype=np.float64).reshape(4, 4)
        c = 0.5 * (c + c.T)
        x0, x1, x2, x3 = (float(v) for v in s)
        return cls((x0, x1, x2, x3), tuple(float(v) for v in c.ravel()))

    @property
    def state(self) -> Array:
        """The mean as a read-only array."""
        out = np.array(self.x)
        out.flags.writeable = False
        return out

    @property
    def covariance(self) -> Array:
        """The covariance as a read-only 4x4 array."""
        out = np.array(self.p).reshape(4, 4)
        out.flags.writeable = False
        return out


def worst_axis_sigma(a: float, b: float, d: float) -> float:
    """Root of the larger eigenvalue of the 2x2 block ``[[a, b], [b, d]]``: the worst-axis sigma."""
    half_trace = 0.5 * (a + d)
    return math.sqrt(half_trace + math.sqrt(max(0.25 * (a - d) ** 2 + b * b, 0.0)))
