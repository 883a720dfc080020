"""Motion and measurement models of the 2D constant-velocity state ``[e, n, ve, vn]``.

The state lives in the theater east-north-up frame; the target's altitude is carried beside
it by the track (a scalar estimate), so that slant ranges and sensor rotations can be
predicted in 3D. Measurement models predict what a sensor sees in its *own* frame through
``Detection.rotation``, which accounts for meridian convergence far from the origin; a sensor
on a moving platform (the AEW radar) simply reports where it was at the measurement time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from grid.errors import MessageRejected
from grid.fusion.detection import Array, Detection
from grid.fusion.gaussian import Gaussian, Vec4, symmetric
from grid.geo import EARTH_RADIUS_M

__all__ = [
    "STATE_DIM",
    "BearingModel",
    "ConstantVelocity",
    "DetectionModel",
    "Linearisation",
    "MeasurementModel",
    "MotionModel",
    "RangeBearingModel",
    "StateLike",
    "altitude_measurement",
    "altitude_of",
    "target_position",
    "wrap_angle",
]

STATE_DIM = 4
StateLike = Vec4 | Array
_TWO_R = 2.0 * EARTH_RADIUS_M
_TWO_PI = 2.0 * math.pi


def wrap_angle(angle: float) -> float:
    """``angle`` wrapped to (-pi, pi]."""
    return math.pi - (math.pi - angle) % _TWO_PI


class MotionModel(Protocol):
    """A linear motion model: transition matrix and process noise for a time step."""

    def transition(self, dt: float) -> Array:
        """State transition matrix F(dt)."""
        ...

    def noise(self, dt: float) -> Array:
        """Process noise covariance Q(dt); ``dt`` may be negative (retrodiction)."""
        ...

    def predict(self, prior: Gaussian, dt: float) -> Gaussian:
        """``F x`` and ``F P F^T + Q`` after ``dt`` seconds (negative ``dt`` retrodicts)."""
        ...

    def spread(self, dt: float) -> float:
        """Standard deviation one position axis gains from process noise over ``|dt|``."""
        ...

    def position(self, prior: Gaussian, dt: float) -> tuple[float, float, float, float, float]:
        """Predicted (e, n) and its covariance (var e, cov en, var n) after ``dt`` seconds."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ConstantVelocity:
    """Nearly-constant velocity: white-noise acceleration of spectral density ``q`` (m^2/s^3)."""

    q: float = 1.0

    def transition(self, dt: float) -> Array:
        """F(dt) for ``[e, n, ve, vn]``."""
        f = np.eye(STATE_DIM)
        f[0, 2] = f[1, 3] = dt
        return f

    def noise(self, dt: float) -> Array:
        """Q(|dt|): noise grows with elapsed time in either direction."""
        t = abs(dt)
        a, b, c = self.q * t**3 / 3.0, self.q * t**2 / 2.0, self.q * t
        q = np.zeros((STATE_DIM, STATE_DIM))
        q[0, 0] = q[1, 1] = a
        q[0, 2] = q[2, 0] = q[1, 3] = q[3, 1] = b
        q[2, 2] = q[3, 3] = c
        return q

    def spread(self, dt: float) -> float:
        """sqrt(q |dt|^3 / 3)."""
        t = abs(dt)
        return math.sqrt(self.q * t * t * t / 3.0)

    def position(self, prior: Gaussian, dt: float) -> tuple[float, float, float, float, float]:
        """The position block of :meth:`predict`, alone (what gating needs)."""
        x0, x1, x2, x3 = prior.x
        p = prior.p
        t = abs(dt)
        qa, dt2 = self.q * t * t * t / 3.0, dt * dt
        return (
            x0 + dt * x2,
            x1 + dt * x3,
            p[0] + 2.0 * dt * p[2] + dt2 * p[10] + qa,
            p[1] + dt * (p[3] + p[6]) + dt2 * p[11],
            p[5] + 2.0 * dt * p[7] + dt2 * p[15] + qa,
        )

    def predict(self, prior: Gaussian, dt: float) -> Gaussian:
        """Closed form of ``F P F^T + Q(|dt|)``, upper triangle mirrored: exactly symmetric."""
        x0, x1, x2, x3 = prior.x
        p = prior.p
        p00, p01, p02, p03, p11, p12, p13, p22, p23, p33 = (
            p[0], p[1], p[2], p[3], p[5], p[6], p[7], p[10], p[11], p[15]
        )  # fmt: skip
        t = abs(dt)
        qa, qb, qc = self.q * t * t * t / 3.0, self.q * t * t / 2.0, self.q * t
        dt2 = dt * dt
        return Gaussian(
            (x0 + dt * x2, x1 + dt * x3, x2, x3),
            symmetric(
                (
                    p00 + 2.0 * dt * p02 + dt2 * p22 + qa,
                    p01 + dt * (p03 + p12) + dt2 * p23,
                    p02 + dt * p22 + qb,
                    p03 + dt * p23,
                    p11 + 2.0 * dt * p13 + dt2 * p33 + qa,
                    p12 + dt * p23,
                    p13 + dt * p33 + qb,
                    p22 + qc,
                    p23,
                    p33 + qc,
                )
            ),
        )


@dataclass(frozen=True, slots=True)
class Linearisation:
    """A measurement model linearised at a prior: innovation ``y``, Jacobian ``H``, noise ``R``.

    Every model here observes position only, so each row of ``h`` holds the derivatives by
    (e, n); the velocity columns of H are zero. ``r`` is R row-major.
    """

    y: tuple[float, ...]
    h: tuple[tuple[float, float], ...]
    r: tuple[float, ...]

    @property
    def innovation(self) -> Array:
        """y as an array."""
        return np.array(self.y)

    @property
    def jacobian(self) -> Array:
        """H as an m x 4 array."""
        return np.array([[a, b, 0.0, 0.0] for a, b in self.h])

    @property
    def noise(self) -> Array:
        """R as an m x m array."""
        m = len(self.y)
        return np.array(self.r).reshape(m, m)


class MeasurementModel(Protocol):
    """What a sensor measures of a state, in the sensor's frame."""

    def measurement(self, detection: Detection) -> Array:
        """The measured vector z."""
        ...

    def function(self, state: StateLike, detection: Detection, altitude_m: float) -> Array:
        """The predicted measurement h(x)."""
        ...

    def residual(self, z: Array, z_pred: Array) -> Array:
        """``z - z_pred`` with angles wrapped to (-pi, pi]."""
        ...

    def noise(self, state: StateLike, detection: Detection, altitude_m: float, altitude_var: float) -> Array:
        """Measurement noise R, including the effect of the altitude uncertainty."""
        ...

    def linearise(
        self, state: StateLike, detection: Detection, altitude_m: float, altitude_var: float
    ) -> Linearisation:
        """Innovation, Jacobian and noise at ``state`` in one pass (the EKF's need)."""
        ...


def target_position(east: float, north: float, altitude_m: float) -> tuple[float, float, float]:
    """Theater-frame position of a target at ``altitude_m`` over the plane point (east, north)."""
    return east, north, altitude_m - (east * east + north * north) / _TWO_R


def altitude_of(position: Array) -> float:
    """Altitude of a theater-frame point (inverse of :func:`target_position`)."""
    e, n, u = float(position[0]), float(position[1]), float(position[2])
    return u + (e * e + n * n) / _TWO_R


_Sight = tuple[float, float, float, float, float, float, float, float, float, float, float, float]


def _sight(state: StateLike, detection: Detection, altitude_m: float) -> _Sight:
    """Line of sight in the sensor frame and its derivatives by east, north and altitude."""
    e, n = float(state[0]), float(state[1])
    s0, s1, s2 = detection.site
    r00, r01, r02, r10, r11, r12, r20, r21, r22 = detection.frame
    de, dn, du = e - s0, n - s1, altitude_m - (e * e + n * n) / _TWO_R - s2
    # d(position)/de = (1, 0, -e/R) and d/dn = (0, 1, -n/R): the up coordinate drops with distance.
    ce, cn = -e / EARTH_RADIUS_M, -n / EARTH_RADIUS_M
    return (
        r00 * de + r01 * dn + r02 * du,
        r10 * de + r11 * dn + r12 * du,
        r20 * de + r21 * dn + r22 * du,
        r00 + r02 * ce, r10 + r12 * ce, r20 + r22 * ce,
        r01 + r02 * cn, r11 + r12 * cn, r21 + r22 * cn,
        r02, r12, r22,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class BearingModel:
    """Azimuth only (passive RF direction finders, acoustic arrays): z = [azimuth]."""

    def measurement(self, detection: Detection) -> Array:
        """[bearing]."""
        return np.array([detection.bearing_rad])

    def function(self, state: StateLike, detection: Detection, altitude_m: float) -> Array:
        """[predicted azimuth in the sensor frame, [0, 2pi)]."""
        g = _sight(state, detection, altitude_m)
        return np.array([math.atan2(g[0], g[1]) % _TWO_PI])

    def residual(self, z: Array, z_pred: Array) -> Array:
        """Wrapped azimuth difference."""
        return np.array([wrap_angle(float(z[0] - z_pred[0]))])

    def noise(self, state: StateLike, detection: Detection, altitude_m: float, altitude_var: float) -> Array:
        """Bearing variance plus the (tiny) azimuth change from the altitude uncertainty."""
        return self.linearise(state, detection, altitude_m, altitude_var).noise

    def linearise(
        self, state: StateLike, detection: Detection, altitude_m: float, altitude_var: float
    ) -> Linearisation:
        """Innovation, 1x4 Jacobian and 1x1 noise."""
        le, ln, _, e0, e1, _, n0, n1, _, a0, a1, _ = _sight(state, detection, altitude_m)
        h2 = le * le + ln * ln
        fe, fn = ln / h2, -le / h2
        ba = fe * a0 + fn * a1
        y = math.pi - (math.pi - detection.bearing_rad + math.atan2(le, ln)) % _TWO_PI
        sb = detection.sigma_bearing_rad
        return Linearisation(
            (y,), ((fe * e0 + fn * e1, fe * n0 + fn * n1),), (sb * sb + ba * ba * altitude_var,)
        )


@dataclass(frozen=True, slots=True)
class RangeBearingModel:
    """Slant range and azimuth (ground radars, AEW): z = [range, azimuth].

    Elevation is not fused into the 2D state: it feeds the track's altitude estimate instead.
    """

    def measurement(self, detection: Detection) -> Array:
        """[range, bearing]."""
        return np.array([_require(detection.range_m), detection.bearing_rad])

    def function(self, state: StateLike, detection: Detection, altitude_m: float) -> Array:
        """[predicted slant range, predicted azimuth in [0, 2pi)]."""
        le, ln, lu = _sight(state, detection, altitude_m)[:3]
        return np.array([math.sqrt(le * le + ln * ln + lu * lu), math.atan2(le, ln) % _TWO_PI])

    def residual(self, z: Array, z_pred: Array) -> Array:
        """Range difference and wrapped azimuth difference."""
        return np.array([float(z[0] - z_pred[0]), wrap_angle(float(z[1] - z_pred[1]))])

    def noise(self, state: StateLike, detection: Detection, altitude_m: float, altitude_var: float) -> Array:
        """diag(sigma_r^2, sigma_b^2) plus g g^T var(altitude), g the gradient by altitude."""
        return self.linearise(state, detection, altitude_m, altitude_var).noise

    def linearise(
        self, state: StateLike, detection: Detection, altitude_m: float, altitude_var: float
    ) -> Linearisation:
        """Innovation, 2x4 Jacobian and 2x2 noise."""
        le, ln, lu, e0, e1, e2, n0, n1, n2, a0, a1, a2 = _sight(state, detection, altitude_m)
        h2 = le * le + ln * ln
        r = math.sqrt(h2 + lu * lu)
        fe, fn = ln / h2, -le / h2
        ge, gn, gu = le / r, ln / r, lu / r
        ra, ba = ge * a0 + gn * a1 + gu * a2, fe * a0 + fn * a1
        sr, sb = _require(detection.sigma_range_m), detection.sigma_bearing_rad
        cross = ra * ba * altitude_var
        return Linearisation(
            (
                _require(detection.range_m) - r,
                math.pi - (math.pi - detection.bearing_rad + math.atan2(le, ln)) % _TWO_PI,
            ),
            (
                (ge * e0 + gn * e1 + gu * e2, ge * n0 + gn * n1 + gu * n2),
                (fe * e0 + fn * e1, fe * n0 + fn * n1),
            ),
            (sr * sr + ra * ra * altitude_var, cross, cross, sb * sb + ba * ba * altitude_var),
        )


@dataclass(frozen=True, slots=True)
class DetectionModel:
    """Chooses the model by what a detection carries: range and bearing, or bearing only."""

    ranged: RangeBearingModel = RangeBearingModel()
    bearing: BearingModel = BearingModel()

    def model(self, detection: Detection) -> MeasurementModel:
        """The model that fits ``detection``."""
        return self.ranged if detection.has_range else self.bearing

    def measurement(self, detection: Detection) -> Array:
        """See :meth:`MeasurementModel.measurement`."""
        return self.model(detection).measurement(detection)

    def function(self, state: StateLike, detection: Detection, altitude_m: float) -> Array:
        """See :meth:`MeasurementModel.function`."""
        return self.model(detection).function(state, detection, altitude_m)

    def residual(self, z: Array, z_pred: Array) -> Array:
        """Wraps the last component (always the azimuth); a range component is left as is."""
        out = z - z_pred
        out[-1] = wrap_angle(float(out[-1]))
        return out

    def noise(self, state: StateLike, detection: Detection, altitude_m: float, altitude_var: float) -> Array:
        """See :meth:`MeasurementModel.noise`."""
        return self.model(detection).noise(state, detection, altitude_m, altitude_var)

    def linearise(
        self, state: StateLike, detection: Detection, altitude_m: float, altitude_var: float
    ) -> Linearisation:
        """See :meth:`MeasurementModel.linearise`."""
        if detection.has_range:
            return self.ranged.linearise(state, detection, altitude_m, altitude_var)
        return self.bearing.linearise(state, detection, altitude_m, altitude_var)


def _require(value: float | None) -> float:
    if value is None:
        raise MessageRejected("missing_range", "a range-bearing model needs range_m and sigma_range_m")
    return value


def altitude_measurement(detection: Detection) -> tuple[float, float] | None:
    """Target altitude and its variance from a detection with range and elevation, else None.

    The line of sight ``r (sin az cos el, cos az cos el, sin el)`` in the sensor frame is
    rotated into the theater frame and added to the sensor position.
    """
    r, el, s_r, s_el = (
        detection.range_m,
        detection.elevation_rad,
        detection.sigma_range_m,
        detection.sigma_elevation_rad,
    )
    if r is None or el is None or s_r is None or s_el is None:
        return None
    az = detection.bearing_rad
    ce, se = math.cos(el), math.sin(el)
    le, ln, lu = r * math.sin(az) * ce, r * math.cos(az) * ce, r * se
    r00, r01, r02, r10, r11, r12, r20, r21, r22 = detection.frame
    s0, s1, s2 = detection.site
    # rotation.T @ los: columns of the rotation
    e = s0 + r00 * le + r10 * ln + r20 * lu
    n = s1 + r01 * le + r11 * ln + r21 * lu
    u = s2 + r02 * le + r12 * ln + r22 * lu
    variance = (r * ce * s_el) ** 2 + (se * s_r) ** 2
    return u + (e * e + n * n) / _TWO_R, variance
