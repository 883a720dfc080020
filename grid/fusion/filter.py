"""Kalman filters for one track: extended (EKF) and unscented (UKF), one interface.

The motion model is linear, so both predict alike; they differ in how a nonlinear
measurement is folded in. Covariances are kept symmetric after every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from grid.fusion.detection import Array, Detection
from grid.fusion.models import STATE_DIM, MeasurementModel, MotionModel

__all__ = ["ExtendedKalmanFilter", "Filter", "Innovation", "Posterior", "UnscentedKalmanFilter"]

_IDENTITY = np.eye(STATE_DIM)


@dataclass(frozen=True, slots=True)
class Innovation:
    """Innovation ``y`` of a detection against a prior, its covariance ``S`` and the squared
    Mahalanobis distance ``d2 = y^T S^-1 y``."""

    y: Array
    s: Array
    d2: float

    @property
    def log_det(self) -> float:
        """ln det S, for likelihood-weighted assignment costs."""
        s = self.s
        if s.shape == (1, 1):
            return math.log(float(s[0, 0]))
        if s.shape == (2, 2):
            return math.log(float(s[0, 0]) * float(s[1, 1]) - float(s[0, 1]) * float(s[1, 0]))
        return float(np.linalg.slogdet(s)[1])


@dataclass(frozen=True, slots=True)
class Posterior:
    """State and covariance after an update, with the innovation that produced them."""

    state: Array
    covariance: Array
    innovation: Innovation


class Filter(Protocol):
    """Predicts a state through a motion model and updates it with one detection."""

    def predict(self, motion: MotionModel, state: Array, covariance: Array, dt: float) -> tuple[Array, Array]:
        """Prior (x, P) after ``dt`` seconds (negative ``dt`` retrodicts)."""
        ...

    def innovation(
        self,
        model: MeasurementModel,
        state: Array,
        covariance: Array,
        detection: Detection,
        altitude: tuple[float, float],
    ) -> Innovation:
        """Innovation of ``detection`` against the prior, for gating; ``altitude`` is (mean, var)."""
        ...

    def update(
        self,
        model: MeasurementModel,
        state: Array,
        covariance: Array,
        detection: Detection,
        altitude: tuple[float, float],
    ) -> Posterior:
        """Posterior after fusing ``detection`` into the prior."""
        ...


def _linear_predict(motion: MotionModel, state: Array, covariance: Array, dt: float) -> tuple[Array, Array]:
    f = motion.transition(dt)
    p = f @ covariance @ f.T + motion.noise(dt)
    return f @ state, 0.5 * (p + p.T)


def _inverse(s: Array) -> Array:
    """Inverse of a small SPD matrix; closed form for 1x1 and 2x2 (the common cases, and faster)."""
    if s.shape == (1, 1):
        return np.array([[1.0 / float(s[0, 0])]])
    if s.shape == (2, 2):
        a, b, c, d = float(s[0, 0]), float(s[0, 1]), float(s[1, 0]), float(s[1, 1])
        det = a * d - b * c
        return np.array([[d / det, -b / det], [-c / det, a / det]])
    return np.linalg.inv(s).astype(np.float64)


def _mahalanobis(y: Array, s_inv: Array) -> float:
    return float(y @ s_inv @ y)


@dataclass(frozen=True, slots=True)
class ExtendedKalmanFilter:
    """EKF with the Joseph-form covariance update, symmetrised."""

    def predict(self, motion: MotionModel, state: Array, covariance: Array, dt: float) -> tuple[Array, Array]:
        """Linear predict."""
        return _linear_predict(motion, state, covariance, dt)

    def innovation(
        self,
        model: MeasurementModel,
        state: Array,
        covariance: Array,
        detection: Detection,
        altitude: tuple[float, float],
    ) -> Innovation:
        """Linearised innovation."""
        lin = model.linearise(state, detection, altitude[0], altitude[1])
        h = lin.jacobian
        s = h @ covariance @ h.T + lin.noise
        return Innovation(lin.innovation, s, _mahalanobis(lin.innovation, _inverse(s)))

    def update(
        self,
        model: MeasurementModel,
        state: Array,
        covariance: Array,
        detection: Detection,
        altitude: tuple[float, float],
    ) -> Posterior:
        """EKF update: K = P H^T S^-1, P+ = (I-KH) P (I-KH)^T + K R K^T."""
        lin = model.linearise(state, detection, altitude[0], altitude[1])
        h, r, y = lin.jacobian, lin.noise, lin.innovation
        pht = covariance @ h.T
        s = h @ pht + r
        s_inv = _inverse(s)
        k = pht @ s_inv
        ikh = _IDENTITY - k @ h
        p = ikh @ covariance @ ikh.T + k @ r @ k.T
        return Posterior(state + k @ y, 0.5 * (p + p.T), Innovation(y, s, _mahalanobis(y, s_inv)))


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

    def predict(self, motion: MotionModel, state: Array, covariance: Array, dt: float) -> tuple[Array, Array]:
        """Linear predict."""
        return _linear_predict(motion, state, covariance, dt)

    def _unscented(
        self,
        model: MeasurementModel,
        state: Array,
        covariance: Array,
        detection: Detection,
        altitude: tuple[float, float],
    ) -> tuple[Array, Array, Array]:
        """(innovation, S, cross-covariance Pxz)."""
        root = np.linalg.cholesky((STATE_DIM + self._lambda) * covariance)
        points = np.vstack([state, state + root.T, state - root.T])
        z0 = model.function(state, detection, altitude[0])
        # Residuals against the centre point keep angles continuous across the 0/2pi cut.
        dz = np.array([model.residual(model.function(x, detection, altitude[0]), z0) for x in points])
        mean_dz = self._wm @ dz
        dz -= mean_dz
        dx = points - state
        s = (self._wc * dz.T) @ dz + model.noise(state, detection, altitude[0], altitude[1])
        pxz = (self._wc * dx.T) @ dz
        y = model.residual(model.measurement(detection), z0) - mean_dz
        return y, 0.5 * (s + s.T), pxz

    def innovation(
        self,
        model: MeasurementModel,
        state: Array,
        covariance: Array,
        detection: Detection,
        altitude: tuple[float, float],
    ) -> Innovation:
        """Unscented innovation."""
        y, s, _ = self._unscented(model, state, covariance, detection, altitude)
        return Innovation(y, s, _mahalanobis(y, _inverse(s)))

    def update(
        self,
        model: MeasurementModel,
        state: Array,
        covariance: Array,
        detection: Detection,
        altitude: tuple[float, float],
    ) -> Posterior:
        """UKF update: K = Pxz S^-1, P+ = P - K S K^T."""
        y, s, pxz = self._unscented(model, state, covariance, detection, altitude)
        s_inv = _inverse(s)
        k = pxz @ s_inv
        p = covariance - k @ s @ k.T
        return Posterior(state + k @ y, 0.5 * (p + p.T), Innovation(y, s, _mahalanobis(y, s_inv)))
