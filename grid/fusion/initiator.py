"""Track initiation: at once from a ranged detection, or by crossing two pooled bearings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from grid.fusion.detection import Array, Detection
from grid.fusion.models import (
    RangeBearingModel,
    altitude_measurement,
    altitude_of,
    target_position,
    wrap_angle,
)
from grid.fusion.track import DEFAULT_ALTITUDE_M

__all__ = ["Initiator", "Seed", "SensorInitiator", "bearing_fits", "triangulate", "triangulate_all"]


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
    """The crossing of two bearings: :func:`triangulate_all` of the pair."""
    return triangulate_all(
        (first, second),
        altitude_m=altitude_m,
        min_crossing_rad=min_crossing_rad,
        speed_sigma_mps=speed_sigma_mps,
    )


def triangulate_all(
    detections: Sequence[Detection],
    *,
    altitude_m: float = DEFAULT_ALTITUDE_M,
    min_crossing_rad: float = math.radians(10.0),
    speed_sigma_mps: float = 60.0,
) -> tuple[Array, Array] | None:
    """Weighted least-squares crossing of two or more bearings in the horizontal theater plane.

    Each bearing defines a vertical plane through its sensor; its trace at the target's
    altitude is a line ``a . p = b``. Returns the crossing point (e, n) and its covariance,
    or None if no two lines cross at ``min_crossing_rad`` or more, or the point is behind a
    sensor or beyond a sensor's ``max_range_m``. Each bearing's perpendicular error is
    inflated by ``speed_sigma_mps`` times its age relative to the newest, as the target moved
    meanwhile. Two bearings give their exact crossing.
    """
    dirs, rows, rhs = [], [], []
    for det in detections:
        direction, normal = _bearing_lines(det)
        horiz = math.hypot(normal[0], normal[1])
        dirs.append(direction[:2] / math.hypot(direction[0], direction[1]))
        rows.append(normal[:2] / horiz)
        rhs.append((normal[:2] @ det.sensor_enu[:2], normal, horiz))
    widest = max(abs(u[0] * v[1] - u[1] * v[0]) for k, u in enumerate(dirs) for v in dirs[k + 1 :])
    if widest < math.sin(min_crossing_rad):
        return None
    a = np.array(rows)
    newest = max(det.time for det in detections)
    lags = [speed_sigma_mps * (newest - det.time) for det in detections]
    # Weights for the solve: angular errors at a nominal 30 km until the point is known.
    weights = np.array(
        [
            1.0 / ((30_000.0 * det.sigma_bearing_rad) ** 2 + lag**2)
            for det, lag in zip(detections, lags, strict=True)
        ]
    )
    point = np.zeros(2)
    for _ in range(2):  # the target's up coordinate depends on where it is: refine once
        up = target_position(float(point[0]), float(point[1]), altitude_m)[2]
        b = np.array(
            [
                (k - n[2] * (up - det.sensor_enu[2])) / h
                for (k, n, h), det in zip(rhs, detections, strict=True)
            ]
        )
        point = np.linalg.solve(a.T @ (weights[:, None] * a), a.T @ (weights * b))
        grounds = [math.hypot(*(point - det.sensor_enu[:2])) for det in detections]
        weights = np.array(
            [
                1.0 / ((g * det.sigma_bearing_rad) ** 2 + lag**2)
                for g, det, lag in zip(grounds, detections, lags, strict=True)
            ]
        )
    for det, direction in zip(detections, dirs, strict=True):
        offset = point - det.sensor_enu[:2]
        if offset @ direction <= 0.0 or (
            det.max_range_m is not None and math.hypot(*offset) > det.max_range_m
        ):
            return None
    info = a.T @ (weights[:, None] * a)
    return point, np.linalg.inv(info).astype(np.float64)


def bearing_fits(
    det: Detection, point: Array, covariance: Array, *, altitude_m: float, lag_m: float = 0.0
) -> float:
    """Squared normalised residual of bearing ``det`` against a position estimate."""
    e, n, u = target_position(float(point[0]), float(point[1]), altitude_m)
    s0, s1, s2 = det.site
    r = det.frame
    de, dn, du = e - s0, n - s1, u - s2
    le, ln = r[0] * de + r[1] * dn + r[2] * du, r[3] * de + r[4] * dn + r[5] * du
    ground2 = le * le + ln * ln
    residual = wrap_angle(det.bearing_rad - math.atan2(le, ln))
    # Position spread across the line of sight, in the theater plane (the frames differ by under a degree).
    across = np.array([math.cos(math.atan2(de, dn)), -math.sin(math.atan2(de, dn))])
    spread = float(across @ covariance @ across) + lag_m * lag_m
    return residual * residual / (det.sigma_bearing_rad**2 + spread / ground2)


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
        min_bearings: bearings of distinct sensors a bearing-only seed needs (2 or more); a
            third one that agrees with a crossing rejects most ghosts and clutter crossings.
        support_gate: largest squared normalised residual of an agreeing bearing.
    """

    speed_sigma_mps: float = 60.0
    pool_window_s: float = 8.0
    pair_window_s: float = 3.0
    min_crossing_deg: float = 10.0
    default_altitude_m: float = DEFAULT_ALTITUDE_M
    default_altitude_sigma_m: float = 300.0
    min_bearings: int = 3
    support_gate: float = 9.0
    _pool: list[Detection] = field(default_factory=list, init=False, repr=False)
    _model: RangeBearingModel = field(default_factory=RangeBearingModel, init=False, repr=False)

    @property
    def pool(self) -> tuple[Detection, ...]:
        """The bearings waiting for a partner."""
        return tuple(self._pool)

    def initiate(self, detection: Detection, time: float) -> Seed | None:
        """A seed from a ranged detection, or from ``detection`` crossed with pooled bearings."""
        if detection.has_range:
            return self._from_range(detection)
        self._pool = [d for d in self._pool if d.time >= time - self.pool_window_s]
        near = [
            d
            for d in self._pool
            if d.sensor_id != detection.sensor_id and abs(d.time - detection.time) <= self.pair_window_s
        ]
        best: tuple[float, list[Detection], Array, Array] | None = None
        for other in near:
            group = [other, detection]
            found = self._cross(group)
            if found is not None and self.min_bearings > 2:
                extra = self._support(group, found, near)
                found = None if extra is None else self._cross(group := [*group, *extra])
            if found is not None:
                size = float(np.linalg.det(found[1]))
                if best is None or size < best[0]:
                    best = (size, group, found[0], found[1])
        if best is None:
            self._pool.append(detection)
            return None
        _, group, point, position_cov = best
        for used in group[:1] + group[2:]:
            self._pool.remove(used)
        return Seed(
            tuple(sorted(group, key=lambda d: d.key)),
            np.array([point[0], point[1], 0.0, 0.0]),
            self._covariance(position_cov),
            self.default_altitude_m,
            self.default_altitude_sigma_m**2,
        )

    def _cross(self, group: list[Detection]) -> tuple[Array, Array] | None:
        return triangulate_all(
            sorted(group, key=lambda d: d.key),
            altitude_m=self.default_altitude_m,
            min_crossing_rad=math.radians(self.min_crossing_deg),
            speed_sigma_mps=self.speed_sigma_mps,
        )

    def _support(
        self, group: list[Detection], found: tuple[Array, Array], near: list[Detection]
    ) -> list[Detection] | None:
        """The best-fitting pooled bearings of other sensors that agree with a crossing, one per
        sensor, as many as ``min_bearings`` needs; None if too few agree."""
        point, covariance = found
        newest = max(d.time for d in group)
        taken = {d.sensor_id for d in group}
        fits = []
        for d in near:
            if d.sensor_id in taken:
                continue
            lag = self.speed_sigma_mps * abs(newest - d.time)
            score = bearing_fits(d, point, covariance, altitude_m=self.default_altitude_m, lag_m=lag)
            if score <= self.support_gate:
                fits.append((score, d))
        chosen: list[Detection] = []
        for _, d in sorted(fits, key=lambda f: f[0]):
            if d.sensor_id not in taken:
                chosen.append(d)
                taken.add(d.sensor_id)
        needed = self.min_bearings - len(group)
        return chosen[:needed] if len(chosen) >= needed else None

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
