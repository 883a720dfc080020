"""The posterior Cramér-Rao bound on geometries whose information can be added by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grid.evaluation import bound_rmse, pcrlb
from grid.evaluation.pcrlb import BoundPoint, bound_at
from grid.fusion import ConstantVelocity, Detection


def _det(k: int, *, ranged: bool, east: float = 0.0, t: float = 0.0) -> Detection:
    """A detection by a sensor at (east, 0) in an untilted frame; only its geometry matters."""
    return Detection(
        time=t,
        report_id=f"r{k}",
        node_id="N",
        sensor_id=f"s{k}",
        sensor_enu=np.array([east, 0.0, 300.0]),
        rotation=np.eye(3),
        bearing_rad=0.0,
        sigma_bearing_rad=math.radians(0.5),
        range_m=10_000.0 if ranged else None,
        sigma_range_m=30.0 if ranged else None,
    )


def _north_of_origin(_t: float) -> tuple[float, float, float]:
    return 0.0, 10_000.0, 300.0


def test_simultaneous_radar_reports_add_information() -> None:
    """N radar reports at one time: north variance sigma_r^2 / N, east (r sigma_b)^2 / N."""
    n = 4
    points = pcrlb([_det(k, ranged=True) for k in range(n)], _north_of_origin, prior_position_sigma_m=1e6)
    assert [p.time for p in points] == [0.0] * n
    cross = (10_000.0 * math.radians(0.5)) ** 2 / n
    assert points[-1].position_var == pytest.approx(30.0**2 / n + cross, rel=1e-3)


def test_one_bearing_sensor_does_not_fix_range() -> None:
    """Bearings of one sensor shrink the cross-range bound but leave the range to the prior."""
    prior = 5_000.0
    points = pcrlb(
        [_det(k, ranged=False, t=float(k)) for k in range(20)],
        _north_of_origin,
        motion=ConstantVelocity(q=0.0),
        prior_position_sigma_m=prior,
        prior_speed_sigma_mps=1e-3,
    )
    assert points[-1].position_var > prior**2 * 0.99
    assert points[-1].position_var < points[0].position_var


def test_bound_rmse_and_bound_at() -> None:
    """sqrt of the mean variance after ``since``; a time takes the latest point at or before it."""
    points = [BoundPoint(0.0, 400.0), BoundPoint(1.0, 100.0), BoundPoint(2.0, 100.0)]
    assert bound_rmse(points, since=1.0) == pytest.approx(10.0)
    assert bound_rmse(points, since=5.0) is None
    assert bound_at(points, [-1.0, 0.5, 1.0, 9.0]) == [400.0, 400.0, 100.0, 100.0]
