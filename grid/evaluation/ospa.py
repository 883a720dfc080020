"""OSPA and GOSPA: distances between a set of true positions and a set of estimates.

Both use the cut-off distance ``c`` and order ``p`` (Schuhmacher et al. 2008; Rahmathullah et
al. 2017, with alpha = 2 so GOSPA splits into localisation, missed and false terms). Positions
are horizontal (east, north) in metres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

from grid.errors import ConfigError

__all__ = ["Gospa", "Point", "gospa", "ospa"]

Point = tuple[float, float]


def _check(c: float, p: float) -> None:
    if not c > 0.0 or not p >= 1.0:
        raise ConfigError(f"OSPA and GOSPA need c > 0 and p >= 1, got c={c}, p={p}")


def _cut_costs(truths: Sequence[Point], estimates: Sequence[Point], c: float, p: float) -> tuple[float, int]:
    """(sum of min(d, c)^p over an optimal assignment, number of pairs closer than c)."""
    if not truths or not estimates:
        return 0.0, 0
    t = np.asarray(truths, dtype=np.float64)
    e = np.asarray(estimates, dtype=np.float64)
    d = np.minimum(np.hypot(t[:, None, 0] - e[None, :, 0], t[:, None, 1] - e[None, :, 1]), c)
    cost = d**p
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].sum()), int(np.count_nonzero(d[rows, cols] < c))


def ospa(truths: Sequence[Point], estimates: Sequence[Point], *, c: float = 1000.0, p: float = 2.0) -> float:
    """OSPA distance: per-target mean of cut-off localisation error plus c for each cardinality miss."""
    _check(c, p)
    m, n = len(truths), len(estimates)
    if m == 0 and n == 0:
        return 0.0
    total, _ = _cut_costs(truths, estimates, c, p)
    return float(((total + c**p * abs(m - n)) / max(m, n)) ** (1.0 / p))


@dataclass(frozen=True, slots=True)
class Gospa:
    """GOSPA distance and its parts (``localisation`` is the p-th root of the assigned pairs' share)."""

    distance: float
    localisation: float
    missed: int
    false: int


def gospa(truths: Sequence[Point], estimates: Sequence[Point], *, c: float = 1000.0, p: float = 2.0) -> Gospa:
    """GOSPA (alpha = 2): assigned pairs closer than c count their distance^p, every missed truth
    and false estimate counts c^p / 2."""
    _check(c, p)
    m, n = len(truths), len(estimates)
    total, close = _cut_costs(truths, estimates, c, p)
    # Pairs at the cut-off are a missed truth plus a false estimate: c^p = c^p/2 + c^p/2.
    localisation = total - c**p * (min(m, n) - close)
    missed, false = m - close, n - close
    value = localisation + 0.5 * c**p * (missed + false)
    return Gospa(value ** (1.0 / p), max(localisation, 0.0) ** (1.0 / p), missed, false)
