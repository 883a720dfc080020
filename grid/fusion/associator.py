"""Gating and association of detections to tracks: global nearest neighbour, or JPDA weights."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy.special import chdtri  # type: ignore[import-untyped]

from grid.fusion.detection import Array

__all__ = ["Associator", "GnnAssociator", "JpdaAssociator"]

_MAX_DIM = 3
_UNGATED = 1e12


class Associator(Protocol):
    """Gates innovations and assigns detections to tracks."""

    def gate(self, d2: float, dim: int) -> bool:
        """Whether a squared Mahalanobis distance ``d2`` of a ``dim``-dimensional innovation passes."""
        ...

    def assign(self, cost: Array) -> list[tuple[int, int]]:
        """(detection, track) pairs from a cost matrix in which ``inf`` marks pairs outside the gate.

        Each detection and each track appears at most once.
        """
        ...

    def share(self, costs: Sequence[float], dim: int) -> list[float] | None:
        """How one detection is shared among the tracks whose gate it fell in, given each pair's
        cost ``d2 + ln det S``: a weight per track, or None to give it whole to the cheapest."""
        ...


def _thresholds(probability: float) -> tuple[float, ...]:
    return tuple(float(chdtri(dim, 1.0 - probability)) for dim in range(1, _MAX_DIM + 1))


@dataclass(frozen=True, slots=True, kw_only=True)
class GnnAssociator:
    """Chi-square gate at ``probability`` and a minimum-cost assignment (Hungarian method).

    The tracker builds one cost matrix per sensor per batch, so a track takes at most one
    detection of each sensor per ``update`` call. The cost of a pair is ``d2 + ln det S``, the
    negative log-likelihood up to a constant, so a tight track beats a loose one at equal ``d2``.
    """

    probability: float = 0.999
    _thresholds: tuple[float, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_thresholds", _thresholds(self.probability))

    def threshold(self, dim: int) -> float:
        """The gate on ``d2`` for a ``dim``-dimensional innovation."""
        return self._thresholds[dim - 1]

    def gate(self, d2: float, dim: int) -> bool:
        """``d2`` below the chi-square quantile."""
        return d2 <= self._thresholds[dim - 1]

    def assign(self, cost: Array) -> list[tuple[int, int]]:
        """Minimum total cost over gated pairs."""
        if cost.shape[0] == 1:
            col = int(np.argmin(cost[0]))
            return [(0, col)] if np.isfinite(cost[0, col]) else []
        from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

        finite = np.where(np.isfinite(cost), cost, _UNGATED)
        rows, cols = linear_sum_assignment(finite)
        return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if finite[r, c] < _UNGATED]

    def share(self, costs: Sequence[float], dim: int) -> list[float] | None:
        """None: the cheapest track takes the detection."""
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class JpdaAssociator(GnnAssociator):
    """GNN for batches, and for one report the JPDA weights over the tracks it gates with.

    For a single detection the joint events are "from track j" (the others missing it) and
    "clutter" (all missing it): ``beta_j ∝ pd g_j / (1 - pd)`` and ``beta_0 ∝ density``, with
    ``g_j`` the Gaussian likelihood and ``density`` the clutter density per unit of measurement
    space (per radian for a bearing, per radian-metre for range and bearing). Each gated track
    is updated with its weight (a PDA update); weights below ``min_weight`` are dropped.
    """

    pd: float = 0.9
    bearing_density: float = 0.05
    range_bearing_density: float = 1e-7
    min_weight: float = 0.02

    def share(self, costs: Sequence[float], dim: int) -> list[float] | None:
        """The JPDA weights, one per cost, summing to at most 1."""
        density = self.bearing_density if dim == 1 else self.range_bearing_density
        norm = -0.5 * dim * math.log(2.0 * math.pi)
        odds = self.pd / (1.0 - self.pd)
        scores = [odds * math.exp(norm - 0.5 * c) for c in costs]
        total = density + sum(scores)
        weights = [s / total for s in scores]
        return [w if w >= self.min_weight else 0.0 for w in weights]
