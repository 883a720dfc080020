"""Motion and measurement models: geometry against ``grid.geo``, Jacobians, angle wrapping."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grid.errors import MessageRejected
from grid.fusion import BearingModel, ConstantVelocity, RangeBearingModel
from grid.fusion.models import altitude_measurement, wrap_angle
from grid.geo import observe
from tests.grid.fusion.fusion_sim import Sim, Site


@given(st.floats(min_value=-100.0, max_value=100.0, allow_nan=False))
def test_wrap_angle_range(angle: float) -> None:
    """Wrapped angles lie in (-pi, pi] and differ from the input by whole turns."""
    w = wrap_angle(angle)
    assert -math.pi < w <= math.pi
    turns = (angle - w) / (2 * math.pi)
    assert turns == pytest.approx(round(turns), abs=1e-9)


def test_wrap_angle_pi_boundary() -> None:
    """Both pi and -pi map to +pi."""
    assert wrap_angle(math.pi) == math.pi
    assert wrap_angle(-math.pi) == math.pi


def test_constant_velocity_transition_and_noise() -> None:
    """F moves position by velocity * dt; Q is symmetric positive definite and even in dt."""
    cv = ConstantVelocity(q=2.0)
    x = np.array([100.0, -50.0, 10.0, 20.0])
    assert np.allclose(cv.transition(3.0) @ x, [130.0, 10.0, 10.0, 20.0])
    q = cv.noise(4.0)
    assert np.allclose(q, q.T)
    assert np.all(np.linalg.eigvalsh(q) > 0)
    assert np.array_equal(q, cv.noise(-4.0))
    assert q[0, 0] == pytest.approx(2.0 * 64 / 3)


def test_meridian_convergence_bearing(sim: Sim) -> None:
    """A sensor 100 km east of the origin: the predicted bearing matches geo.observe to < 0.01 deg."""
    site = Site(sensor_id="far", node_id="X", east=100_000.0, north=0.0, period_s=1.0, sigma_bearing_deg=1.0)
    model = BearingModel()
    sensor = sim.site_geodetic(site)
    det = sim.detection(site, 0.0, lambda _t: (0.0, 0.0, 0.0), "x", noise=False)
    for east, north in [
        (100_000.0, 30_000.0),
        (70_000.0, -20_000.0),
        (130_000.0, 5_000.0),
        (60_000.0, 60_000.0),
    ]:
        exact = observe(sensor, sim.target_geodetic(east, north, 300.0)).azimuth_deg
        state = np.array([east, north, 0.0, 0.0])
        predicted = math.degrees(float(model.function(state, det, 300.0)[0]))
        assert abs(wrap_angle(math.radians(predicted - exact))) < math.radians(0.01)
    # Without the rotation the error would be the ~0.9 deg meridian convergence.
    naive = math.degrees(math.atan2(0.0, 30_000.0))
    exact = observe(sensor, sim.target_geodetic(100_000.0, 30_000.0, 300.0)).azimuth_deg
    assert abs(wrap_angle(math.radians(naive - exact))) > math.radians(0.5)


def test_range_bearing_prediction_matches_geo(sim: Sim) -> None:
    """Predicted slant range and azimuth match geo.observe (1 m, 0.01 deg) at 60 km."""
    site = Site(sensor_id="r", node_id="X", east=-30_000.0, north=40_000.0, period_s=1.0,
                sigma_bearing_deg=0.5, sigma_range_m=30.0, sigma_elevation_deg=0.5)  # fmt: skip
    det = sim.detection(site, 0.0, lambda _t: (0.0, 0.0, 0.0), "x", noise=False)
    target = (20_000.0, 10_000.0, 1500.0)
    obs = observe(sim.site_geodetic(site), sim.target_geodetic(*target))
    z = RangeBearingModel().function(np.array([target[0], target[1], 0.0, 0.0]), det, target[2])
    assert z[0] == pytest.approx(obs.slant_range_m, abs=1.0)
    assert abs(wrap_angle(float(z[1]) - math.radians(obs.azimuth_deg))) < math.radians(0.01)


def test_altitude_measurement_recovers_altitude(sim: Sim) -> None:
    """Range, azimuth and elevation of an exact observation give back the target altitude (< 1 m)."""
    site = Site(sensor_id="r", node_id="X", east=50_000.0, north=-20_000.0, period_s=1.0, altitude_m=120.0,
                sigma_bearing_deg=0.5, sigma_range_m=30.0, sigma_elevation_deg=0.5)  # fmt: skip
    det = sim.detection(site, 0.0, lambda _t: (-10_000.0, 15_000.0, 800.0), "x", noise=False)
    measured = altitude_measurement(det)
    assert measured is not None
    assert measured[0] == pytest.approx(800.0, abs=1.0)
    assert measured[1] > 0


def _numeric_jacobian(
    fn: Callable[[np.ndarray], np.ndarray], state: np.ndarray, step: float = 0.5
) -> np.ndarray:
    cols = []
    for k in range(4):
        dx = np.zeros(4)
        dx[k] = step
        diff = fn(state + dx) - fn(state - dx)
        diff[-1] = wrap_angle(float(diff[-1]))
        cols.append(diff / (2 * step))
    return np.array(cols).T


@pytest.mark.parametrize("ranged", [True, False])
def test_jacobian_matches_finite_differences(sim: Sim, ranged: bool) -> None:
    """The analytic Jacobian equals central differences, and the innovation is z - h(x)."""
    site = Site(sensor_id="s", node_id="X", east=80_000.0, north=-40_000.0, period_s=1.0,
                sigma_bearing_deg=1.0, sigma_range_m=30.0 if ranged else None,
                sigma_elevation_deg=0.5 if ranged else None)  # fmt: skip
    det = sim.detection(site, 0.0, lambda _t: (10_000.0, 20_000.0, 500.0), "x")
    model = RangeBearingModel() if ranged else BearingModel()
    state = np.array([12_000.0, 18_000.0, 40.0, -30.0])
    lin = model.linearise(state, det, 450.0, 100.0**2)
    numeric = _numeric_jacobian(lambda x: model.function(x, det, 450.0), state)
    assert np.allclose(lin.jacobian, numeric, rtol=1e-5, atol=1e-9)
    expected = model.residual(model.measurement(det), model.function(state, det, 450.0))
    assert np.allclose(lin.innovation, expected, atol=1e-9)
    noise = model.noise(state, det, 450.0, 100.0**2)
    assert np.allclose(lin.noise, noise)
    assert np.all(np.linalg.eigvalsh(noise) > 0)


def test_range_model_refuses_bearing_only(sim: Sim) -> None:
    """A range-bearing model given a bearing-only detection raises MessageRejected."""
    site = Site(sensor_id="rf", node_id="X", east=0.0, north=0.0, period_s=1.0, sigma_bearing_deg=1.0)
    det = sim.detection(site, 0.0, lambda _t: (1000.0, 1000.0, 300.0), "x")
    with pytest.raises(MessageRejected) as info:
        RangeBearingModel().measurement(det)
    assert info.value.reason == "missing_range"
