"""Association components: chi-square gates, GNN assignment, JPDA weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2  # type: ignore[import-untyped]

from grid.fusion import GnnAssociator, JpdaAssociator


def test_gates_are_chi_square_quantiles() -> None:
    """The gate on d2 is the chi-square quantile at the gate probability, per dimension."""
    gnn = GnnAssociator(probability=0.99)
    for dim in (1, 2, 3):
        assert gnn.threshold(dim) == pytest.approx(float(chi2.ppf(0.99, dim)))
        assert gnn.gate(gnn.threshold(dim) * 0.999, dim)
        assert not gnn.gate(gnn.threshold(dim) * 1.001, dim)


def test_gnn_assignment_minimises_total_cost() -> None:
    """Greedy would give detection 0 track 0 (cost 1) and leave 1 with 10; optimal costs 2 + 2."""
    cost = np.array([[1.0, 2.0], [2.0, 10.0]])
    assert sorted(GnnAssociator().assign(cost)) == [(0, 1), (1, 0)]
    gated = np.array([[1.0, math.inf], [math.inf, math.inf]])
    assert GnnAssociator().assign(gated) == [(0, 0)]
    assert GnnAssociator().share([1.0, 2.0], 1) is None


def test_jpda_weights_hand_computed() -> None:
    """beta_j = r g_j / (density + sum r g_k), r = pd / (1 - pd), g the Gaussian likelihood."""
    jpda = JpdaAssociator(pd=0.9, bearing_density=0.5, min_weight=0.0)
    costs = [1.0 + math.log(0.01**2), 4.0 + math.log(0.02**2)]  # d2 + ln S for sigmas 0.01 and 0.02 rad
    g = [
        math.exp(-0.5 * 1.0) / (math.sqrt(2 * math.pi) * 0.01),
        math.exp(-0.5 * 4.0) / (math.sqrt(2 * math.pi) * 0.02),
    ]
    total = 0.5 + 9.0 * sum(g)
    assert jpda.share(costs, 1) == pytest.approx([9.0 * g[0] / total, 9.0 * g[1] / total])
    weights = JpdaAssociator(pd=0.9, bearing_density=0.5, min_weight=0.2).share(costs, 1)
    assert weights is not None
    assert weights == pytest.approx([9.0 * g[0] / total, 0.0])  # dropped, not renormalised
