"""Initiation: radar seeds, bearing triangulation and the bearing pool."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grid.fusion import Detection, SensorInitiator, triangulate
from grid.fusion.initiator import bearing_fits, triangulate_all
from tests.grid.fusion.fusion_sim import Sim, Site


def _bearing(sensor_id: str, east: float, north: float, bearing_deg: float, *, t: float = 0.0,
             max_range_m: float | None = None) -> Detection:  # fmt: skip
    """A bearing-only detection in an untilted frame (identity rotation)."""
    return Detection(
        time=t,
        report_id=f"{sensor_id}-{t}",
        node_id="N",
        sensor_id=sensor_id,
        sensor_enu=np.array([east, north, 0.0]),
        rotation=np.eye(3),
        bearing_rad=math.radians(bearing_deg),
        sigma_bearing_rad=math.radians(1.0),
        max_range_m=max_range_m,
    )


def test_triangulation_hand_computed() -> None:
    """Bearings 45 deg from (0,0) and 315 deg from (10000,0) cross at (5000, 5000)."""
    found = triangulate(_bearing("a", 0.0, 0.0, 45.0), _bearing("b", 10_000.0, 0.0, 315.0), altitude_m=0.0)
    assert found is not None
    point, covariance = found
    assert point == pytest.approx([5000.0, 5000.0], abs=1e-6)
    # Perpendicular lines, each 7071 m from its sensor with 1 deg sigma: isotropic 123 m.
    sigma = 5000.0 * math.sqrt(2) * math.radians(1.0)
    assert np.allclose(covariance, np.eye(2) * sigma**2, rtol=1e-9)


@pytest.mark.parametrize(
    ("first", "second", "max_range_m"),
    [
        (45.0, 50.0, None),  # crossing at 5 deg
        (225.0, 135.0, None),  # lines cross behind both sensors
        (45.0, 315.0, 5_000.0),  # crossing 7 km away, beyond coverage
    ],
)
def test_triangulation_rejects_bad_geometry(first: float, second: float, max_range_m: float | None) -> None:
    """Shallow crossings, crossings behind a sensor and out-of-range crossings give None."""
    a = _bearing("a", 0.0, 0.0, first, max_range_m=max_range_m)
    b = _bearing("b", 10_000.0, 0.0, second, max_range_m=max_range_m)
    assert triangulate(a, b) is None


def test_triangulation_inflates_the_older_bearing() -> None:
    """Bearings 2 s apart give a larger covariance than simultaneous ones."""
    same = triangulate(_bearing("a", 0.0, 0.0, 45.0), _bearing("b", 10_000.0, 0.0, 315.0))
    apart = triangulate(_bearing("a", 0.0, 0.0, 45.0, t=0.0), _bearing("b", 10_000.0, 0.0, 315.0, t=2.0))
    assert same is not None
    assert apart is not None
    assert np.linalg.det(apart[1]) > np.linalg.det(same[1])


def test_pool_pairs_different_sensors_only() -> None:
    """Two bearings of one sensor stay pooled; a crossing bearing of another sensor makes a seed."""
    initiator = SensorInitiator(min_bearings=2)
    assert initiator.initiate(_bearing("a", 0.0, 0.0, 45.0, t=0.0), 0.0) is None
    assert initiator.initiate(_bearing("a", 0.0, 0.0, 45.5, t=1.0), 1.0) is None
    assert len(initiator.pool) == 2
    seed = initiator.initiate(_bearing("b", 10_000.0, 0.0, 315.0, t=1.5), 1.5)
    assert seed is not None
    assert [d.sensor_id for d in seed.detections] == ["a", "b"]
    assert seed.state[:2] == pytest.approx([5000.0, 5000.0], abs=150.0)
    assert seed.key == (1.5, "b", "b-1.5")
    assert len(initiator.pool) == 1


def test_pool_expires_and_respects_pair_window() -> None:
    """Bearings older than pool_window_s are dropped; ones beyond pair_window_s do not pair."""
    initiator = SensorInitiator(pool_window_s=8.0, pair_window_s=3.0, min_bearings=2)
    initiator.initiate(_bearing("a", 0.0, 0.0, 45.0, t=0.0), 0.0)
    assert initiator.initiate(_bearing("b", 10_000.0, 0.0, 315.0, t=4.0), 4.0) is None
    assert initiator.initiate(_bearing("c", 0.0, 10_000.0, 135.0, t=20.0), 20.0) is None
    assert [d.sensor_id for d in initiator.pool] == ["c"]


def test_radar_seed_near_truth(sim: Sim) -> None:
    """A radar detection seeds a track within a few sigma of the truth, with its altitude."""
    site = Site(sensor_id="r", node_id="X", east=-20_000.0, north=30_000.0, period_s=1.0,
                sigma_bearing_deg=0.5, sigma_range_m=30.0, sigma_elevation_deg=0.2)  # fmt: skip
    seed = SensorInitiator().initiate(
        sim.detection(site, 3.0, lambda _t: (5_000.0, 2_000.0, 900.0), "x"), 3.0
    )
    assert seed is not None
    error = seed.state[:2] - np.array([5_000.0, 2_000.0])
    assert float(error @ np.linalg.solve(seed.covariance[:2, :2], error)) < 13.8  # chi2(2) 99.9%
    assert seed.altitude_m == pytest.approx(900.0, abs=200.0)
    assert np.array_equal(seed.state[2:], [0.0, 0.0])
    assert seed.key[0] == 3.0


def test_radar_seed_without_elevation_assumes_default_altitude(sim: Sim) -> None:
    """A ranged detection without elevation is placed at the default altitude along the range sphere."""
    site = Site(sensor_id="r", node_id="X", east=-20_000.0, north=30_000.0, period_s=1.0,
                sigma_bearing_deg=0.5, sigma_range_m=30.0)  # fmt: skip
    det = sim.detection(site, 0.0, lambda _t: (5_000.0, 2_000.0, 300.0), "x", noise=False)
    seed = SensorInitiator().initiate(det, 0.0)
    assert seed is not None
    assert seed.altitude_m == 300.0
    assert seed.state[:2] == pytest.approx([5_000.0, 2_000.0], abs=5.0)


def test_three_bearings_hand_computed() -> None:
    """Three bearings through (5000, 5000) from (0,0), (10000,0) and (5000,0) give that point."""
    dets = [
        _bearing("a", 0.0, 0.0, 45.0),
        _bearing("b", 10_000.0, 0.0, 315.0),
        _bearing("c", 5_000.0, 0.0, 0.0),
    ]
    found = triangulate_all(dets, altitude_m=0.0)
    assert found is not None
    point, covariance = found
    assert point == pytest.approx([5000.0, 5000.0], abs=1e-6)
    # The third bearing (5 km away, due north) adds east-west information only.
    pair = triangulate(dets[0], dets[1], altitude_m=0.0)
    assert pair is not None
    assert covariance[0, 0] < pair[1][0, 0]
    assert covariance[1, 1] == pytest.approx(pair[1][1, 1], rel=1e-9)
    assert bearing_fits(dets[2], point, covariance, altitude_m=0.0) == pytest.approx(0.0, abs=1e-12)


def test_seed_needs_a_third_agreeing_bearing() -> None:
    """By default a crossing becomes a seed only when a third sensor's bearing agrees with it."""
    initiator = SensorInitiator()
    assert initiator.initiate(_bearing("a", 0.0, 0.0, 45.0, t=0.0), 0.0) is None
    assert initiator.initiate(_bearing("b", 10_000.0, 0.0, 315.0, t=0.5), 0.5) is None
    assert initiator.initiate(_bearing("c", 5_000.0, 0.0, 30.0, t=1.0), 1.0) is None  # misses by 30 deg
    seed = initiator.initiate(_bearing("d", 5_000.0, -1_000.0, 0.0, t=1.5), 1.5)
    assert seed is not None
    assert [d.sensor_id for d in seed.detections] == ["a", "b", "d"]
    assert seed.state[:2] == pytest.approx([5000.0, 5000.0], abs=150.0)
    assert [d.sensor_id for d in initiator.pool] == ["c"]
