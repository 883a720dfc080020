"""Gating and global-nearest-neighbour association of detections to tracks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]
from scipy.stats import chi2  # type: ignore[import-untyped]

from grid.fusion.detection import Array

__all__ = ["Associator", "GnnAssociator"]

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
        thresholds = tuple(float(chi2.ppf(self.probability, dim)) for dim in range(1, _MAX_DIM + 1))
        object.__setattr__(self, "_thresholds", thresholds)

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
        finite = np.where(np.isfinite(cost), cost, _UNGATED)
        rows, cols = linear_sum_assignment(finite)
        return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if finite[r, c] < _UNGATED]
