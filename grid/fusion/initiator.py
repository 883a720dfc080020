"""Track initiation: at once from a ranged detection, or by crossing two pooled bearings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from grid.fusion.detection import Array, Detection
from grid.fusion.models import RangeBearingModel, altitude_measurement, altitude_of, target_position
from grid.fusion.track import DEFAULT_ALTITUDE_M

__all__ = ["Initiator", "Seed", "SensorInitiator", "triangulate"]


@dataclass(frozen=True, slots=True)
class Seed:
    """The first estimate of a new track, valid at the time of its last detection."""

    detections: tuple[Detection, ...]  # sorted by key
    state: Array
    covariance: Array
    altitude_m: float
    altitude_var: float

    @property
    def key(self) -> tuple[float, str, str]:
        """Fusion-order key of the seed: that of its last detection."""
        return self.detections[-1].key


class Initiator(Protocol):
    """Turns detections that fit no track into new tracks."""

    def initiate(self, detection: Detection, time: float) -> Seed | None:
        """A seed from ``detection`` (and earlier ones it kept), or None if it keeps it for later.

        ``time`` is the current simulation time, for expiring kept detections.
        """
        ...


def _bearing_lines(det: Detection) -> tuple[Array, Array]:
    """(direction, plane normal) of a bearing as theater-frame 3-vectors."""
    az = det.bearing_rad
    s, c = math.sin(az), math.cos(az)
    return det.rotation.T @ np.array([s, c, 0.0]), det.rotation.T @ np.array([c, -s, 0.0])


def triangulate(
    first: Detection,
    second: Detection,
    *,
    altitude_m: float = DEFAULT_ALTITUDE_M,
    min_crossing_rad: float = math.radians(10.0),
    speed_sigma_mps: float = 60.0,
) -> tuple[Array, Array] | None:
    """Least-squares crossing of two bearings in the horizontal theater plane.

    Each bearing defines a vertical plane through its sensor; its trace at the target's
    altitude is a line ``a . p = b``. Returns the crossing point (e, n) and its covariance,
    or None if the lines cross at less than ``min_crossing_rad``, behind a sensor or beyond
    a sensor's ``max_range_m``. The older bearing's perpendicular error is inflated by
    ``speed_sigma_mps`` times the time between the two, as the target moved meanwhile.
    """
    dirs, rows, rhs = [], [], []
    for det in (first, second):
        direction, normal = _bearing_lines(det)
        horiz = math.hypot(normal[0], normal[1])
        dirs.append(direction[:2] / math.hypot(direction[0], direction[1]))
        rows.append(normal[:2] / horiz)
        rhs.append((normal[:2] @ det.sensor_enu[:2], normal, horiz))
    cross = abs(dirs[0][0] * dirs[1][1] - dirs[0][1] * dirs[1][0])
    if cross < math.sin(min_crossing_rad):
        return None
    a = np.array(rows)
    point = np.zeros(2)
    for _ in range(2):  # the target's up coordinate depends on where it is: refine once
        up = target_position(float(point[0]), float(point[1]), altitude_m)[2]
        b = np.array(
            [
                (k - n[2] * (up - det.sensor_enu[2])) / h
                for (k, n, h), det in zip(rhs, (first, second), strict=True)
            ]
        )
        point = np.linalg.solve(a, b)
    weights = []
    older = min(first.time, second.time)
    for det, direction in zip((first, second), dirs, strict=True):
        offset = point - det.sensor_enu[:2]
        ground = math.hypot(offset[0], offset[1])
        if offset @ direction <= 0.0 or (det.max_range_m is not None and ground > det.max_range_m):
            return None
        lag = speed_sigma_mps * (max(first.time, second.time) - det.time) if det.time == older else 0.0
        weights.append(1.0 / ((ground * det.sigma_bearing_rad) ** 2 + lag**2))
    info = a.T @ (np.array(weights)[:, None] * a)
    return point, np.linalg.inv(info).astype(np.float64)


@dataclass(slots=True, kw_only=True)
class SensorInitiator:
    """Ranged detections start a track at once; bearings wait in a pool for a crossing partner.

    Attributes:
        speed_sigma_mps: prior standard deviation of each velocity component.
        pool_window_s: how long an unused bearing is kept.
        pair_window_s: largest time between two bearings that may be crossed.
        min_crossing_deg: smallest crossing angle accepted.
        default_altitude_m: altitude assumed until a radar elevation says otherwise.
        default_altitude_sigma_m: its standard deviation.
    """

    speed_sigma_mps: float = 60.0
    pool_window_s: float = 8.0
    pair_window_s: float = 3.0
    min_crossing_deg: float = 10.0
    default_altitude_m: float = DEFAULT_ALTITUDE_M
    default_altitude_sigma_m: float = 300.0
    _pool: list[Detection] = field(default_factory=list, init=False, repr=False)
    _model: RangeBearingModel = field(default_factory=RangeBearingModel, init=False, repr=False)

    @property
    def pool(self) -> tuple[Detection, ...]:
        """The bearings waiting for a partner."""
        return tuple(self._pool)

    def initiate(self, detection: Detection, time: float) -> Seed | None:
        """A seed from a ranged detection, or from ``detection`` crossed with a pooled bearing."""
        if detection.has_range:
            return self._from_range(detection)
        self._pool = [d for d in self._pool if d.time >= time - self.pool_window_s]
        best: tuple[float, Detection, Array, Array] | None = None
        for other in self._pool:
            if (
                other.sensor_id == detection.sensor_id
                or abs(other.time - detection.time) > self.pair_window_s
            ):
                continue
            pair = sorted((other, detection), key=lambda d: d.key)
            found = triangulate(
                pair[0],
                pair[1],
                altitude_m=self.default_altitude_m,
                min_crossing_rad=math.radians(self.min_crossing_deg),
                speed_sigma_mps=self.speed_sigma_mps,
            )
            if found is not None:
                size = float(np.linalg.det(found[1]))
                if best is None or size < best[0]:
                    best = (size, other, found[0], found[1])
        if best is None:
            self._pool.append(detection)
            return None
        _, other, point, position_cov = best
        self._pool.remove(other)
        return Seed(
            tuple(sorted((other, detection), key=lambda d: d.key)),
            np.array([point[0], point[1], 0.0, 0.0]),
            self._covariance(position_cov),
            self.default_altitude_m,
            self.default_altitude_sigma_m**2,
        )

    def _from_range(self, det: Detection) -> Seed:
        measured = altitude_measurement(det)
        r = float(det.range_m)  # type: ignore[arg-type]  # has_range checked by the caller
        az = det.bearing_rad
        if measured is not None:
            altitude, altitude_var = measured
            el = float(det.elevation_rad)  # type: ignore[arg-type]  # measured implies an elevation
        else:
            altitude, altitude_var = self.default_altitude_m, self.default_altitude_sigma_m**2
            el = 0.0
            for _ in range(3):  # find the elevation at which the ray reaches the assumed altitude
                sin_el = math.sin(el) + (altitude - altitude_of(self._position(det, r, az, el))) / r
                el = math.asin(min(1.0, max(-1.0, sin_el)))
        position = self._position(det, r, az, el)
        state = np.array([position[0], position[1], 0.0, 0.0])
        lin = self._model.linearise(state, det, altitude, altitude_var)
        h_inv = np.linalg.inv(lin.jacobian[:, :2])
        return Seed((det,), state, self._covariance(h_inv @ lin.noise @ h_inv.T), altitude, altitude_var)

    @staticmethod
    def _position(det: Detection, r: float, az: float, el: float) -> Array:
        ce = math.cos(el)
        los = np.array([r * math.sin(az) * ce, r * math.cos(az) * ce, r * math.sin(el)])
        position: Array = det.sensor_enu + det.rotation.T @ los
        return position

    def _covariance(self, position_cov: Array) -> Array:
        cov = np.zeros((4, 4))
        cov[:2, :2] = 0.5 * (position_cov + position_cov.T)
        cov[2, 2] = cov[3, 3] = self.speed_sigma_mps**2
        return cov
