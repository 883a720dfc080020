"""EKF and UKF steps: symmetric, positive definite, consistent with each other."""

from __future__ import annotations

import numpy as np
import pytest

from grid.fusion import (
    ConstantVelocity,
    DetectionModel,
    ExtendedKalmanFilter,
    Gaussian,
    UnscentedKalmanFilter,
)
from tests.grid.fusion.fusion_sim import Sim, Site

RADAR = Site(sensor_id="r", node_id="X", east=-20_000.0, north=30_000.0, period_s=1.0,
             sigma_bearing_deg=0.5, sigma_range_m=30.0, sigma_elevation_deg=0.5)  # fmt: skip
RF = Site(sensor_id="rf", node_id="Y", east=40_000.0, north=-10_000.0, period_s=1.0, sigma_bearing_deg=1.5)


def _prior() -> Gaussian:
    return Gaussian.of([5_000.0, 2_000.0, 40.0, 20.0], np.diag([400.0**2, 300.0**2, 20.0**2, 20.0**2]))


def test_predict_grows_covariance() -> None:
    """Prediction moves the state by velocity and adds process noise, keeping P symmetric."""
    prior = _prior()
    predicted = ExtendedKalmanFilter().predict(ConstantVelocity(), prior, 5.0)
    p = predicted.covariance
    assert np.allclose(predicted.state, [5_200.0, 2_100.0, 40.0, 20.0])
    assert np.array_equal(p, p.T)
    assert p[0, 0] > prior.covariance[0, 0]
    cv = ConstantVelocity()
    f = cv.transition(5.0)
    assert np.allclose(p, f @ prior.covariance @ f.T + cv.noise(5.0), rtol=1e-12)


def test_ekf_update_shrinks_and_stays_spd(sim: Sim) -> None:
    """An EKF update lowers the position variance, keeps P symmetric PD and reports d2 >= 0."""
    prior = _prior()
    model = DetectionModel()
    for site in (RADAR, RF):
        det = sim.detection(site, 0.0, lambda _t: (5_100.0, 1_900.0, 300.0), "x")
        post = ExtendedKalmanFilter().update(model, prior, det, (300.0, 100.0**2))
        assert np.array_equal(post.covariance, post.covariance.T)
        assert np.all(np.linalg.eigvalsh(post.covariance) > 0)
        assert np.trace(post.covariance[:2, :2]) < np.trace(prior.covariance[:2, :2])
        assert post.innovation.d2 >= 0


@pytest.mark.parametrize("site", [RADAR, RF], ids=["range-bearing", "bearing"])
@pytest.mark.parametrize("joseph", [True, False], ids=["joseph", "reduced"])
def test_update_matches_textbook_numpy(sim: Sim, site: Site, joseph: bool) -> None:
    """Both covariance forms equal the numpy Joseph form and (I - KH) P, to rounding."""
    prior = _prior()
    state, covariance = prior.state, prior.covariance
    model = DetectionModel()
    det = sim.detection(site, 0.0, lambda _t: (5_100.0, 1_900.0, 300.0), "x")
    post = ExtendedKalmanFilter(joseph=joseph).update(model, prior, det, (300.0, 50.0**2))
    lin = model.linearise(state, det, 300.0, 50.0**2)
    h, r = lin.jacobian, lin.noise
    s = h @ covariance @ h.T + r
    k = covariance @ h.T @ np.linalg.inv(s)
    ikh = np.eye(4) - k @ h
    assert np.allclose(post.covariance, ikh @ covariance @ ikh.T + k @ r @ k.T, rtol=1e-9, atol=1e-6)
    assert np.allclose(post.covariance, ikh @ covariance, rtol=1e-9, atol=1e-6)
    assert np.allclose(post.state, state + k @ lin.innovation)
    assert post.innovation.d2 == pytest.approx(float(lin.innovation @ np.linalg.solve(s, lin.innovation)))
    assert post.innovation.log_det == pytest.approx(float(np.linalg.slogdet(s)[1]))


def test_ukf_agrees_with_ekf_when_nearly_linear(sim: Sim) -> None:
    """At tens of km with small priors the UKF and EKF posteriors agree closely."""
    prior = Gaussian.of([5_000.0, 2_000.0, 40.0, 20.0], np.diag([50.0**2, 50.0**2, 5.0**2, 5.0**2]))
    model = DetectionModel()
    for site in (RADAR, RF):
        det = sim.detection(site, 0.0, lambda _t: (5_030.0, 1_980.0, 300.0), "x")
        ekf = ExtendedKalmanFilter().update(model, prior, det, (300.0, 50.0**2))
        ukf = UnscentedKalmanFilter().update(model, prior, det, (300.0, 50.0**2))
        assert np.allclose(ekf.state, ukf.state, atol=0.5)
        assert np.allclose(ekf.covariance, ukf.covariance, rtol=0.02, atol=1.0)
        assert np.all(np.linalg.eigvalsh(ukf.covariance) > 0)


def test_ukf_wraps_bearings_across_north(sim: Sim) -> None:
    """A target due north of a bearing sensor (azimuth near 0/2pi) gives a small UKF innovation."""
    site = Site(
        sensor_id="n", node_id="Z", east=5_000.0, north=-30_000.0, period_s=1.0, sigma_bearing_deg=1.0
    )
    prior = Gaussian.of([5_000.0, 2_000.0, 0.0, 0.0], np.diag([300.0**2, 300.0**2, 10.0**2, 10.0**2]))
    det = sim.detection(site, 0.0, lambda _t: (4_990.0, 2_000.0, 300.0), "x", noise=False)
    innovation = UnscentedKalmanFilter().innovation(DetectionModel(), prior, det, (300.0, 1.0))
    assert abs(float(innovation.y[0])) < 0.01
