"""The knee search of ``gridsim bench scale``: the highest aggregate report rate that still passes.

Pure: :class:`KneeSearch` proposes the next rate from the verdicts so far, so the logic is tested
against a fake measure. Rates go up geometrically from ``start_hz`` until one fails (or
``max_hz`` passes), then the gap between the highest pass and the lowest fail is bisected
geometrically ``bisections`` times. When the first rate fails, rates go down by the same factor
until one passes or ``min_hz`` is reached. With repeats, :func:`interleave` orders the searches so
neither kind always goes first and :func:`median_knee` takes each kind's middle knee.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from grid.errors import ConfigError

__all__ = ["KneeSearch", "SearchPlan", "interleave", "knee_spread", "median_knee"]

_K = TypeVar("_K")


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchPlan:
    """How rates are stepped: start, geometric factor, bisections, bounds (Hz, aggregate)."""

    start_hz: float = 50.0
    factor: float = 2.0
    bisections: int = 2
    min_hz: float = 1.0
    max_hz: float = 20_000.0

    def __post_init__(self) -> None:
        if not 0 < self.min_hz <= self.start_hz <= self.max_hz:
            raise ConfigError(
                f"knee search needs 0 < min <= start <= max Hz, got {self.min_hz:g}, "
                f"{self.start_hz:g}, {self.max_hz:g}"
            )
        if self.factor <= 1:
            raise ConfigError(f"knee search factor must be above 1, got {self.factor:g}")
        if self.bisections < 0:
            raise ConfigError(f"knee search bisections must not be negative, got {self.bisections}")


@dataclass(slots=True)
class KneeSearch:
    """The state of one search: call :meth:`next_rate`, measure, :meth:`record`, until None."""

    plan: SearchPlan
    passed: float | None = None  # highest rate that passed
    failed: float | None = None  # lowest rate that failed
    history: list[tuple[float, bool]] = field(default_factory=list)
    _bisected: int = 0

    @property
    def knee_hz(self) -> float | None:
        """The highest rate that passed, None if none did."""
        return self.passed

    @property
    def capped(self) -> bool:
        """Whether the search stopped at ``max_hz`` without a failure (the knee is at least that)."""
        return self.failed is None and self.passed is not None and self.passed >= self.plan.max_hz

    def next_rate(self) -> float | None:
        """The next rate to measure, or None when the search is over."""
        p = self.plan
        if not self.history:
            return p.start_hz
        if self.failed is None:
            assert self.passed is not None  # something was measured and nothing failed
            return None if self.passed >= p.max_hz else min(self.passed * p.factor, p.max_hz)
        if self.passed is None:
            down = self.failed / p.factor
            return down if down >= p.min_hz else None
        if self._bisected >= p.bisections:
            return None
        return math.sqrt(self.passed * self.failed)

    def record(self, rate_hz: float, ok: bool) -> None:
        """The verdict of a measured rate."""
        if self.passed is not None and self.failed is not None:
            self._bisected += 1
        self.history.append((rate_hz, ok))
        if ok:
            self.passed = rate_hz if self.passed is None else max(self.passed, rate_hz)
        else:
            self.failed = rate_hz if self.failed is None else min(self.failed, rate_hz)


def interleave(first: _K, second: _K, repeats: int) -> list[tuple[_K, int]]:
    """``repeats`` searches of each kind as (kind, repeat), pairs alternating which kind goes first.

    ``a, b, b, a, a, b, ...``: a machine that drifts (warms up, gets busier) over the run then
    favours neither kind, and each pair's two searches still run back to back.
    """
    order: list[tuple[_K, int]] = []
    for r in range(repeats):
        pair = (first, second) if r % 2 == 0 else (second, first)
        order += [(kind, r) for kind in pair]
    return order


def median_knee(knees: Sequence[float | None]) -> float | None:
    """The median of one kind's knees, a search in which nothing passed (None) counting as lowest.

    With an even count it is the lower of the two middle knees, so the median is always a rate that
    was measured and passed (or None), never an average of two rates no phase ran at.
    """
    if not knees:
        return None
    ranked = sorted(knees, key=lambda k: -math.inf if k is None else k)
    return ranked[(len(ranked) - 1) // 2]


def knee_spread(knees: Sequence[float | None]) -> tuple[float, float] | None:
    """The lowest and highest knee that was found (None when no search found one)."""
    found = [k for k in knees if k is not None]
    return (min(found), max(found)) if found else None
