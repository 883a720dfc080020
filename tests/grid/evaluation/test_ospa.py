"""OSPA and GOSPA against hand-computed values."""

from __future__ import annotations

import math

import pytest

from grid.errors import ConfigError
from grid.evaluation import gospa, ospa


def test_ospa_hand_computed() -> None:
    """Two truths, one estimate 5 m off the first: sqrt((5^2 + 100^2) / 2)."""
    assert ospa([(0.0, 0.0), (10.0, 0.0)], [(3.0, 4.0)], c=100.0) == pytest.approx(math.sqrt(5012.5))


def test_ospa_empty_and_cardinality() -> None:
    """Both empty is 0; one side empty is the cut-off; distances beyond c count as c."""
    assert ospa([], [], c=50.0) == 0.0
    assert ospa([], [(1.0, 1.0)], c=50.0) == 50.0
    assert ospa([(0.0, 0.0)], [(500.0, 0.0)], c=50.0) == 50.0


def test_gospa_hand_computed() -> None:
    """One assigned pair at 5 m and one missed truth: sqrt(25 + 100^2 / 2), split into parts."""
    g = gospa([(0.0, 0.0), (10.0, 0.0)], [(3.0, 4.0)], c=100.0)
    assert g.distance == pytest.approx(math.sqrt(25.0 + 5000.0))
    assert g.localisation == pytest.approx(5.0)
    assert (g.missed, g.false) == (1, 0)


def test_gospa_pair_beyond_cutoff_is_missed_and_false() -> None:
    """A pair 200 m apart with c = 100 is one missed truth and one false estimate: 100 m."""
    g = gospa([(0.0, 0.0)], [(200.0, 0.0)], c=100.0)
    assert g.distance == pytest.approx(100.0)
    assert (g.missed, g.false, g.localisation) == (1, 1, 0.0)


def test_perfect_estimates_score_zero() -> None:
    """Estimates equal to the truths, in any order, give 0 for both."""
    truths = [(0.0, 0.0), (1000.0, 50.0), (-300.0, 7.0)]
    assert ospa(truths, truths[::-1]) == 0.0
    assert gospa(truths, truths[::-1]).distance == 0.0


def test_bad_parameters_are_config_errors() -> None:
    """A non-positive cut-off or an order below 1 is refused."""
    with pytest.raises(ConfigError):
        ospa([(0.0, 0.0)], [], c=0.0)
    with pytest.raises(ConfigError):
        gospa([(0.0, 0.0)], [], p=0.5)
