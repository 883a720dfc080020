"""Motion and measurement models of the 2D constant-velocity state ``[e, n, ve, vn]``.

The state lives in the theater east-north-up frame; the target's altitude is carried beside
it by the track (a scalar estimate), so that slant ranges and sensor rotations can be
predicted in 3D. Measurement models predict what a sensor sees in its *own* frame through
``Detection.rotation``, which accounts for meridian convergence far from the origin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from grid.errors import MessageRejected
from grid.fusion.detection import Array, Detection
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
    "altitude_measurement",
    "altitude_of",
    "target_position",
    "wrap_angle",
]

STATE_DIM = 4
_TWO_R = 2.0 * EARTH_RADIUS_M
_EYE = np.eye(STATE_DIM)


def wrap_angle(angle: float) -> float:
    """``angle`` wrapped to (-pi, pi]."""
    return math.pi - (math.pi - angle) % (2.0 * math.pi)


class MotionModel(Protocol):
    """A linear motion model: transition matrix and process noise for a time step."""

    def transition(self, dt: float) -> Array:
        """State transition matrix F(dt)."""
        ...

    def noise(self, dt: float) -> Array:
        """Process noise covariance Q(dt); ``dt`` may be negative (retrodiction)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ConstantVelocity:
    """Nearly-constant velocity: white-noise acceleration of spectral density ``q`` (m^2/s^3)."""

    q: float = 1.0

    def transition(self, dt: float) -> Array:
        """F(dt) for ``[e, n, ve, vn]``."""
        f = _EYE.copy()
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


@dataclass(frozen=True, slots=True)
class Linearisation:
    """A measurement model linearised at a prior state: innovation ``y``, Jacobian ``H``, noise ``R``."""

    innovation: Array
    jacobian: Array
    noise: Array


class MeasurementModel(Protocol):
    """What a sensor measures of a state, in the sensor's frame."""

    def measurement(self, detection: Detection) -> Array:
        """The measured vector z."""
        ...

    def function(self, state: Array, detection: Detection, altitude_m: float) -> Array:
        """The predicted measurement h(x)."""
        ...

    def residual(self, z: Array, z_pred: Array) -> Array:
        """``z - z_pred`` with angles wrapped to (-pi, pi]."""
        ...

    def noise(self, state: Array, detection: Detection, altitude_m: float, altitude_var: float) -> Array:
        """Measurement noise R, including the effect of the altitude uncertainty."""
        ...

    def linearise(
        self, state: Array, detection: Detection, altitude_m: float, altitude_var: float
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


@dataclass(frozen=True, slots=True)
class _Geometry:
    """Line of sight in the sensor frame and its derivatives by (e, n) and altitude."""

    los: tuple[float, float, float]
    d_east: tuple[float, float, float]
    d_north: tuple[float, float, float]
    d_alt: tuple[float, float, float]


def _geometry(state: Array, detection: Detection, altitude_m: float) -> _Geometry:
    e, n = float(state[0]), float(state[1])
    pe, pn, pu = target_position(e, n, altitude_m)
    s = detection.sensor_enu
    de, dn, du = pe - float(s[0]), pn - float(s[1]), pu - float(s[2])
    r = detection.rotation.tolist()
    los = (
        r[0][0] * de + r[0][1] * dn + r[0][2] * du,
        r[1][0] * de + r[1][1] * dn + r[1][2] * du,
        r[2][0] * de + r[2][1] * dn + r[2][2] * du,
    )
    # d(position)/de = (1, 0, -e/R) and d/dn = (0, 1, -n/R): the up coordinate drops with distance.
    ce, cn = -e / EARTH_RADIUS_M, -n / EARTH_RADIUS_M
    d_east = (r[0][0] + r[0][2] * ce, r[1][0] + r[1][2] * ce, r[2][0] + r[2][2] * ce)
    d_north = (r[0][1] + r[0][2] * cn, r[1][1] + r[1][2] * cn, r[2][1] + r[2][2] * cn)
    d_alt = (r[0][2], r[1][2], r[2][2])
    return _Geometry(los, d_east, d_north, d_alt)


def _bearing_row(g: _Geometry) -> tuple[float, float, float]:
    """Gradient of the azimuth by (e, n, altitude)."""
    le, ln = g.los[0], g.los[1]
    h2 = le * le + ln * ln
    fe, fn = ln / h2, -le / h2

    def grad(v: tuple[float, float, float]) -> float:
        return fe * v[0] + fn * v[1]

    return grad(g.d_east), grad(g.d_north), grad(g.d_alt)


def _range_row(g: _Geometry) -> tuple[float, float, float]:
    """Gradient of the slant range by (e, n, altitude)."""
    le, ln, lu = g.los
    r = math.sqrt(le * le + ln * ln + lu * lu)

    def grad(v: tuple[float, float, float]) -> float:
        return (le * v[0] + ln * v[1] + lu * v[2]) / r

    return grad(g.d_east), grad(g.d_north), grad(g.d_alt)


@dataclass(frozen=True, slots=True)
class BearingModel:
    """Azimuth only (passive RF direction finders, acoustic arrays): z = [azimuth]."""

    def measurement(self, detection: Detection) -> Array:
        """[bearing]."""
        return np.array([detection.bearing_rad])

    def function(self, state: Array, detection: Detection, altitude_m: float) -> Array:
        """[predicted azimuth in the sensor frame, [0, 2pi)]."""
        los = _geometry(state, detection, altitude_m).los
        return np.array([math.atan2(los[0], los[1]) % (2.0 * math.pi)])

    def residual(self, z: Array, z_pred: Array) -> Array:
        """Wrapped azimuth difference."""
        return np.array([wrap_angle(float(z[0] - z_pred[0]))])

    def noise(self, state: Array, detection: Detection, altitude_m: float, altitude_var: float) -> Array:
        """Bearing variance plus the (tiny) azimuth change from the altitude uncertainty."""
        g_alt = _bearing_row(_geometry(state, detection, altitude_m))[2]
        return np.array([[detection.sigma_bearing_rad**2 + g_alt * g_alt * altitude_var]])

    def linearise(
        self, state: Array, detection: Detection, altitude_m: float, altitude_var: float
    ) -> Linearisation:
        """Innovation, 1x4 Jacobian and 1x1 noise."""
        g = _geometry(state, detection, altitude_m)
        be, bn, ba = _bearing_row(g)
        y = wrap_angle(detection.bearing_rad - math.atan2(g.los[0], g.los[1]))
        return Linearisation(
            np.array([y]),
            np.array([[be, bn, 0.0, 0.0]]),
            np.array([[detection.sigma_bearing_rad**2 + ba * ba * altitude_var]]),
        )


@dataclass(frozen=True, slots=True)
class RangeBearingModel:
    """Slant range and azimuth (ground radars, AEW): z = [range, azimuth].

    Elevation is not fused into the 2D state: it feeds the track's altitude estimate instead.
    """

    def measurement(self, detection: Detection) -> Array:
        """[range, bearing]."""
        return np.array([_require(detection.range_m), detection.bearing_rad])

    def function(self, state: Array, detection: Detection, altitude_m: float) -> Array:
        """[predicted slant range, predicted azimuth in [0, 2pi)]."""
        le, ln, lu = _geometry(state, detection, altitude_m).los
        return np.array([math.sqrt(le * le + ln * ln + lu * lu), math.atan2(le, ln) % (2.0 * math.pi)])

    def residual(self, z: Array, z_pred: Array) -> Array:
        """Range difference and wrapped azimuth difference."""
        return np.array([float(z[0] - z_pred[0]), wrap_angle(float(z[1] - z_pred[1]))])

    def noise(self, state: Array, detection: Detection, altitude_m: float, altitude_var: float) -> Array:
        """diag(sigma_r^2, sigma_b^2) plus g g^T var(altitude), g the gradient by altitude."""
        g = _geometry(state, detection, altitude_m)
        return self._noise(detection, _range_row(g)[2], _bearing_row(g)[2], altitude_var)

    def linearise(
        self, state: Array, detection: Detection, altitude_m: float, altitude_var: float
    ) -> Linearisation:
        """Innovation, 2x4 Jacobian and 2x2 noise."""
        g = _geometry(state, detection, altitude_m)
        re, rn, ra = _range_row(g)
        be, bn, ba = _bearing_row(g)
        le, ln, lu = g.los
        y = np.array(
            [
                _require(detection.range_m) - math.sqrt(le * le + ln * ln + lu * lu),
                wrap_angle(detection.bearing_rad - math.atan2(le, ln)),
            ]
        )
        jac = np.array([[re, rn, 0.0, 0.0], [be, bn, 0.0, 0.0]])
        return Linearisation(y, jac, self._noise(detection, ra, ba, altitude_var))

    @staticmethod
    def _noise(detection: Detection, ra: float, ba: float, altitude_var: float) -> Array:
        sr = _require(detection.sigma_range_m)
        cross = ra * ba * altitude_var
        return np.array(
            [
                [sr * sr + ra * ra * altitude_var, cross],
                [cross, detection.sigma_bearing_rad**2 + ba * ba * altitude_var],
            ]
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

    def function(self, state: Array, detection: Detection, altitude_m: float) -> Array:
        """See :meth:`MeasurementModel.function`."""
        return self.model(detection).function(state, detection, altitude_m)

    def residual(self, z: Array, z_pred: Array) -> Array:
        """Wraps the last component (always the azimuth); a range component is left as is."""
        out = z - z_pred
        out[-1] = wrap_angle(float(out[-1]))
        return out

    def noise(self, state: Array, detection: Detection, altitude_m: float, altitude_var: float) -> Array:
        """See :meth:`MeasurementModel.noise`."""
        return self.model(detection).noise(state, detection, altitude_m, altitude_var)

    def linearise(
        self, state: Array, detection: Detection, altitude_m: float, altitude_var: float
    ) -> Linearisation:
        """See :meth:`MeasurementModel.linearise`."""
        return self.model(detection).linearise(state, detection, altitude_m, altitude_var)


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
    los = np.array([r * math.sin(az) * ce, r * math.cos(az) * ce, r * se])
    position = detection.sensor_enu + detection.rotation.T @ los
    variance = (r * ce * s_el) ** 2 + (se * s_r) ** 2
    return altitude_of(position), variance
