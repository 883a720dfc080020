"""Kalman filters for one track: extended (EKF) and unscented (UKF), one interface.

The motion model is linear, so both predict alike; they differ in how a nonlinear
measurement is folded in. The innovation computed for gating carries the cross-covariance,
so the update that follows reuses it instead of linearising again. Covariance updates
compute the upper triangle and mirror it, so P stays exactly symmetric; the EKF uses the
Joseph form, which also keeps P positive definite on long asynchronous streams.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from grid.errors import ConfigError
from grid.fusion.detection import Array, Detection
from grid.fusion.gaussian import Gaussian
from grid.fusion.kernels import Cross, blend, cross_1, cross_2, gain, joseph_1, joseph_2, reduced, shift
from grid.fusion.models import STATE_DIM, Linearisation, MeasurementModel, MotionModel

__all__ = ["ExtendedKalmanFilter", "Filter", "Innovation", "Posterior", "UnscentedKalmanFilter"]


@dataclass(frozen=True, slots=True)
class Innovation:
    """Innovation ``y`` of a detection against a prior, its covariance ``S`` (row-major),
    ``S^-1``, the squared Mahalanobis distance ``d2 = y^T S^-1 y`` and ``ln det S``.

    ``cross`` is the state-measurement cross-covariance (P H^T for the EKF), four rows of
    ``dim``; ``lin`` is the linearisation it came from (EKF only).
    """

    y: tuple[float, ...]
    s: tuple[float, ...]
    s_inv: tuple[float, ...]
    d2: float
    log_det: float
    cross: Cross
    lin: Linearisation | None = None

    @property
    def dim(self) -> int:
        """Dimension of the measurement."""
        return len(self.y)


@dataclass(frozen=True, slots=True)
class Posterior:
    """The estimate after an update, with the innovation that produced it."""

    estimate: Gaussian
    innovation: Innovation

    @property
    def state(self) -> Array:
        """Posterior mean as an array."""
        return self.estimate.state

    @property
    def covariance(self) -> Array:
        """Posterior covariance as an array."""
        return self.estimate.covariance


class Filter(Protocol):
    """Predicts a state through a motion model and updates it with one detection."""

    def predict(self, motion: MotionModel, prior: Gaussian, dt: float) -> Gaussian:
        """Prior after ``dt`` seconds (negative ``dt`` retrodicts)."""
        ...

    def innovation(
        self, model: MeasurementModel, prior: Gaussian, detection: Detection, altitude: tuple[float, float]
    ) -> Innovation:
        """Innovation of ``detection`` against the prior, for gating; ``altitude`` is (mean, var)."""
        ...

    def update(
        self,
        model: MeasurementModel,
        prior: Gaussian,
        detection: Detection,
        altitude: tuple[float, float],
        *,
        innovation: Innovation | None = None,
        weight: float = 1.0,
    ) -> Posterior:
        """Posterior after fusing ``detection``; ``innovation``, if given, must be this prior's.

        ``weight`` < 1 is a PDA update: the detection is the target's with that probability.
        """
        ...


def _statistics(y: tuple[float, ...], s: tuple[float, ...]) -> tuple[tuple[float, ...], float, float]:
    """(S^-1, d2, ln det S) of a symmetric S; closed form for 1x1 and 2x2 (the common cases)."""
    if len(y) == 1:
        return (1.0 / s[0],), y[0] * y[0] / s[0], math.log(s[0])
    if len(y) == 2:
        a, b, d = s[0], s[1], s[3]
        det = a * d - b * b
        y0, y1 = y
        return (
            (d / det, -b / det, -b / det, a / det),
            (d * y0 * y0 - 2.0 * b * y0 * y1 + a * y1 * y1) / det,
            (math.log(det)),
        )
    m = len(y)
    mat = np.array(s).reshape(m, m)
    inv = np.linalg.inv(mat)
    vec = np.array(y)
    return tuple(float(v) for v in inv.ravel()), float(vec @ inv @ vec), float(np.linalg.slogdet(mat)[1])


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtendedKalmanFilter:
    """EKF; ``joseph`` selects the Joseph-form covariance update (default) over ``P - K S K^T``."""

    joseph: bool = True

    def predict(self, motion: MotionModel, prior: Gaussian, dt: float) -> Gaussian:
        """Linear predict."""
        return motion.predict(prior, dt)

    def innovation(
        self, model: MeasurementModel, prior: Gaussian, detection: Detection, altitude: tuple[float, float]
    ) -> Innovation:
        """Linearised innovation: S = H P H^T + R, with P H^T kept for the update."""
        lin = model.linearise(prior.x, detection, altitude[0], altitude[1])
        r = lin.r
        s: tuple[float, ...]
        if len(lin.y) == 1:
            cross, hph = cross_1(prior.p, lin.h[0])
            s = (hph + r[0],)
        elif len(lin.y) == 2:
            cross, (s00, s01, s11) = cross_2(prior.p, lin.h[0], lin.h[1])
            s = (s00 + r[0], s01 + r[1], s01 + r[1], s11 + r[3])
        else:
            raise ConfigError(f"the EKF supports 1- and 2-dimensional measurements, got {len(lin.y)}")
        s_inv, d2, log_det = _statistics(lin.y, s)
        return Innovation(lin.y, s, s_inv, d2, log_det, cross, lin)

    def update(
        self,
        model: MeasurementModel,
        prior: Gaussian,
        detection: Detection,
        altitude: tuple[float, float],
        *,
        innovation: Innovation | None = None,
        weight: float = 1.0,
    ) -> Posterior:
        """EKF update: K = P H^T S^-1, then the Joseph (or reduced) covariance form."""
        inn = innovation if innovation is not None else self.innovation(model, prior, detection, altitude)
        k = gain(inn.cross, inn.s_inv)
        lin = inn.lin
        if not self.joseph or lin is None:
            p = reduced(prior.p, k, inn.cross)
        elif len(lin.y) == 1:
            p = joseph_1(prior.p, k, inn.cross, lin.r[0], lin.h[0])
        else:
            p = joseph_2(prior.p, k, inn.cross, lin.r, lin.h)
        if weight < 1.0:
            return Posterior(blend(prior, k, inn.y, p, weight), inn)
        return Posterior(Gaussian(shift(prior.x, k, inn.y), p), inn)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnscentedKalmanFilter:
    """UKF with scaled symmetric sigma points (Van der Merwe); predict is linear (exact for CV)."""

    alpha: float = 0.5
    beta: float = 2.0
    kappa: float = 0.0
    _lambda: float = field(init=False, repr=False)
    _wm: Array = field(init=False, repr=False)
    _wc: Array = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = STATE_DIM
        lam = self.alpha**2 * (n + self.kappa) - n
        wm = np.full(2 * n + 1, 0.5 / (n + lam))
        wc = wm.copy()
        wm[0] = lam / (n + lam)
        wc[0] = wm[0] + 1.0 - self.alpha**2 + self.beta
        object.__setattr__(self, "_lambda", lam)
        object.__setattr__(self, "_wm", wm)
        object.__setattr__(self, "_wc", wc)

    def predict(self, motion: MotionModel, prior: Gaussian, dt: float) -> Gaussian:
        """Linear predict."""
        return motion.predict(prior, dt)

    def innovation(
        self, model: MeasurementModel, prior: Gaussian, detection: Detection, altitude: tuple[float, float]
    ) -> Innovation:
        """Unscented innovation, with the cross-covariance Pxz for the update."""
        state, covariance = np.array(prior.x), np.array(prior.p).reshape(4, 4)
        root = np.linalg.cholesky((STATE_DIM + self._lambda) * covariance)
        points = np.vstack([state, state + root.T, state - root.T])
        z0 = model.function(state, detection, altitude[0])
        # Residuals against the centre point keep angles continuous across the 0/2pi cut.
        dz = np.array([model.residual(model.function(x, detection, altitude[0]), z0) for x in points])
        mean_dz = self._wm @ dz
        dz -= mean_dz
        dx = points - state
        s = (self._wc * dz.T) @ dz + model.noise(state, detection, altitude[0], altitude[1])
        s = 0.5 * (s + s.T)
        pxz = (self._wc * dx.T) @ dz
        y = tuple(float(v) for v in model.residual(model.measurement(detection), z0) - mean_dz)
        s_flat = tuple(float(v) for v in s.ravel())
        s_inv, d2, log_det = _statistics(y, s_flat)
        cross = tuple(tuple(float(v) for v in row) for row in pxz)
        return Innovation(y, s_flat, s_inv, d2, log_det, cross)

    def update(
        self,
        model: MeasurementModel,
        prior: Gaussian,
        detection: Detection,
        altitude: tuple[float, float],
        *,
        innovation: Innovation | None = None,
        weight: float = 1.0,
    ) -> Posterior:
        """UKF update: K = Pxz S^-1, P+ = P - K S K^T."""
        inn = innovation if innovation is not None else self.innovation(model, prior, detection, altitude)
        k = gain(inn.cross, inn.s_inv)
        p = reduced(prior.p, k, inn.cross)
        if weight < 1.0:
            return Posterior(blend(prior, k, inn.y, p, weight), inn)
        return Posterior(Gaussian(shift(prior.x, k, inn.y), p), inn)
