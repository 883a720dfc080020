"""EKF and UKF steps: symmetric, positive definite, consistent with each other."""

from __future__ import annotations

import numpy as np
from fusion_sim import Sim, Site

from grid.fusion import ConstantVelocity, DetectionModel, ExtendedKalmanFilter, UnscentedKalmanFilter

RADAR = Site(sensor_id="r", node_id="X", east=-20_000.0, north=30_000.0, period_s=1.0,
             sigma_bearing_deg=0.5, sigma_range_m=30.0, sigma_elevation_deg=0.5)  # fmt: skip
RF = Site(sensor_id="rf", node_id="Y", east=40_000.0, north=-10_000.0, period_s=1.0, sigma_bearing_deg=1.5)


def _prior() -> tuple[np.ndarray, np.ndarray]:
    state = np.array([5_000.0, 2_000.0, 40.0, 20.0])
    covariance = np.diag([400.0**2, 300.0**2, 20.0**2, 20.0**2])
    return state, covariance


def test_predict_grows_covariance() -> None:
    """Prediction moves the state by velocity and adds process noise, keeping P symmetric."""
    state, covariance = _prior()
    x, p = ExtendedKalmanFilter().predict(ConstantVelocity(), state, covariance, 5.0)
    assert np.allclose(x, [5_200.0, 2_100.0, 40.0, 20.0])
    assert np.array_equal(p, p.T)
    assert p[0, 0] > covariance[0, 0]


def test_ekf_update_shrinks_and_stays_spd(sim: Sim) -> None:
    """An EKF update lowers the position variance, keeps P symmetric PD and reports d2 >= 0."""
    state, covariance = _prior()
    model = DetectionModel()
    for site in (RADAR, RF):
        det = sim.detection(site, 0.0, lambda _t: (5_100.0, 1_900.0, 300.0), "x")
        post = ExtendedKalmanFilter().update(model, state, covariance, det, (300.0, 100.0**2))
        assert np.array_equal(post.covariance, post.covariance.T)
        assert np.all(np.linalg.eigvalsh(post.covariance) > 0)
        assert np.trace(post.covariance[:2, :2]) < np.trace(covariance[:2, :2])
        assert post.innovation.d2 >= 0


def test_joseph_form_matches_standard_update(sim: Sim) -> None:
    """The Joseph form equals (I - KH) P for the optimal gain, to rounding."""
    state, covariance = _prior()
    model = DetectionModel()
    det = sim.detection(RADAR, 0.0, lambda _t: (5_100.0, 1_900.0, 300.0), "x")
    post = ExtendedKalmanFilter().update(model, state, covariance, det, (300.0, 0.0))
    lin = model.linearise(state, det, 300.0, 0.0)
    s = lin.jacobian @ covariance @ lin.jacobian.T + lin.noise
    k = covariance @ lin.jacobian.T @ np.linalg.inv(s)
    assert np.allclose(post.covariance, (np.eye(4) - k @ lin.jacobian) @ covariance, rtol=1e-9, atol=1e-6)
    assert np.allclose(post.state, state + k @ lin.innovation)


def test_ukf_agrees_with_ekf_when_nearly_linear(sim: Sim) -> None:
    """At tens of km with small priors the UKF and EKF posteriors agree closely."""
    state = np.array([5_000.0, 2_000.0, 40.0, 20.0])
    covariance = np.diag([50.0**2, 50.0**2, 5.0**2, 5.0**2])
    model = DetectionModel()
    for site in (RADAR, RF):
        det = sim.detection(site, 0.0, lambda _t: (5_030.0, 1_980.0, 300.0), "x")
        ekf = ExtendedKalmanFilter().update(model, state, covariance, det, (300.0, 50.0**2))
        ukf = UnscentedKalmanFilter().update(model, state, covariance, det, (300.0, 50.0**2))
        assert np.allclose(ekf.state, ukf.state, atol=0.5)
        assert np.allclose(ekf.covariance, ukf.covariance, rtol=0.02, atol=1.0)
        assert np.all(np.linalg.eigvalsh(ukf.covariance) > 0)


def test_ukf_wraps_bearings_across_north(sim: Sim) -> None:
    """A target due north of a bearing sensor (azimuth near 0/2pi) gives a small UKF innovation."""
    site = Site(
        sensor_id="n", node_id="Z", east=5_000.0, north=-30_000.0, period_s=1.0, sigma_bearing_deg=1.0
    )
    state = np.array([5_000.0, 2_000.0, 0.0, 0.0])
    covariance = np.diag([300.0**2, 300.0**2, 10.0**2, 10.0**2])
    det = sim.detection(site, 0.0, lambda _t: (4_990.0, 2_000.0, 300.0), "x", noise=False)
    innovation = UnscentedKalmanFilter().innovation(DetectionModel(), state, covariance, det, (300.0, 1.0))
    assert abs(float(innovation.y[0])) < 0.01
