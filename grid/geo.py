"""WGS84 geodesy and the local tangent plane (ENU) used for estimation.

Positions in files and on the wire are WGS84 latitude/longitude (degrees) and altitude (m).
Estimation runs in one east-north-up frame anchored at a theater origin. A sensor measures
azimuth and elevation in its *own* local frame; :meth:`LocalFrame.rotation_to` gives the
rotation between the two, which matters far from the origin (meridians converge by about
0.9 degrees over 100 km of longitude at 44 N).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "EARTH_RADIUS_M",
    "LocalFrame",
    "Observation",
    "ecef_to_geodetic",
    "enu_rotation",
    "geodetic_to_ecef",
    "observe",
]

Vector = npt.NDArray[np.float64]

_A = 6378137.0  # WGS84 semi-major axis
_F = 1 / 298.257223563
_E2 = _F * (2 - _F)
EARTH_RADIUS_M = 6371008.8  # mean radius, for curvature drop approximations


def geodetic_to_ecef(lat_deg: float, lon_deg: float, alt_m: float) -> Vector:
    """Earth-centred, earth-fixed coordinates (m) of a WGS84 point."""
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    n = _A / math.sqrt(1 - _E2 * math.sin(lat) ** 2)
    return np.array(
        [
            (n + alt_m) * math.cos(lat) * math.cos(lon),
            (n + alt_m) * math.cos(lat) * math.sin(lon),
            (n * (1 - _E2) + alt_m) * math.sin(lat),
        ]
    )


def ecef_to_geodetic(xyz: Vector) -> tuple[float, float, float]:
    """WGS84 (lat_deg, lon_deg, alt_m) of an ECEF point (Bowring's method, sub-mm near the surface)."""
    x, y, z = (float(v) for v in xyz)
    b = _A * (1 - _F)
    ep2 = (_A**2 - b**2) / b**2
    p = math.hypot(x, y)
    theta = math.atan2(z * _A, p * b)
    lat = math.atan2(z + ep2 * b * math.sin(theta) ** 3, p - _E2 * _A * math.cos(theta) ** 3)
    lon = math.atan2(y, x)
    n = _A / math.sqrt(1 - _E2 * math.sin(lat) ** 2)
    alt = (
        p / math.cos(lat) - n if abs(lat) < math.radians(89) else abs(z) / math.sin(abs(lat)) - n * (1 - _E2)
    )
    return math.degrees(lat), math.degrees(lon), alt


def enu_rotation(lat_deg: float, lon_deg: float) -> Vector:
    """Rotation matrix taking ECEF vectors to the east-north-up frame at (lat, lon)."""
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    sl, cl = math.sin(lat), math.cos(lat)
    so, co = math.sin(lon), math.cos(lon)
    return np.array(
        [
            [-so, co, 0.0],
            [-sl * co, -sl * so, cl],
            [cl * co, cl * so, sl],
        ]
    )


@dataclass(frozen=True, slots=True)
class Observation:
    """What a sensor at one point sees of a target at another, in the sensor's local frame."""

    azimuth_deg: float  # clockwise from true north, [0, 360)
    elevation_deg: float  # above the local horizontal
    slant_range_m: float
    ground_range_m: float  # horizontal component in the sensor's frame


def _observation(enu: Vector) -> Observation:
    e, n, u = (float(v) for v in enu)
    ground = math.hypot(e, n)
    return Observation(
        azimuth_deg=math.degrees(math.atan2(e, n)) % 360.0,
        elevation_deg=math.degrees(math.atan2(u, ground)),
        slant_range_m=math.sqrt(ground * ground + u * u),
        ground_range_m=ground,
    )


def observe(sensor: tuple[float, float, float], target: tuple[float, float, float]) -> Observation:
    """Exact azimuth, elevation and range from ``sensor`` to ``target``, both (lat, lon, alt)."""
    d = geodetic_to_ecef(*target) - geodetic_to_ecef(*sensor)
    return _observation(enu_rotation(sensor[0], sensor[1]) @ d)


@dataclass(frozen=True)
class LocalFrame:
    """An east-north-up tangent plane at a theater origin."""

    origin_lat: float
    origin_lon: float
    origin_alt: float = 0.0
    _ecef0: Vector = field(init=False, repr=False, compare=False)
    _rot: Vector = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_ecef0", geodetic_to_ecef(self.origin_lat, self.origin_lon, self.origin_alt)
        )
        object.__setattr__(self, "_rot", enu_rotation(self.origin_lat, self.origin_lon))

    def to_enu(self, lat_deg: float, lon_deg: float, alt_m: float = 0.0) -> Vector:
        """(east, north, up) in metres of a WGS84 point."""
        return self._rot @ (geodetic_to_ecef(lat_deg, lon_deg, alt_m) - self._ecef0)

    def to_geodetic(self, east: float, north: float, up: float = 0.0) -> tuple[float, float, float]:
        """WGS84 (lat, lon, alt) of a point given in this frame."""
        return ecef_to_geodetic(self._ecef0 + self._rot.T @ np.array([east, north, up]))

    def surface_point(self, east: float, north: float, alt_m: float) -> tuple[float, float, float]:
        """(lat, lon, alt) of the point at altitude ``alt_m`` above the plane point (east, north).

        The vertical is taken at the plane point's own latitude and longitude, so a target flying
        a straight line in the plane at constant altitude keeps that altitude.
        """
        target = np.array([east, north], dtype=np.float64)
        guess = target.copy()
        for _ in range(2):  # the normal leans away from the plane's vertical: correct twice, sub-mm
            lat, lon, _ = self.to_geodetic(
                float(guess[0]), float(guess[1]), self.up_of(float(guess[0]), float(guess[1]), alt_m)
            )
            guess += target - self.to_enu(lat, lon, alt_m)[:2]
        lat, lon, _ = self.to_geodetic(
            float(guess[0]), float(guess[1]), self.up_of(float(guess[0]), float(guess[1]), alt_m)
        )
        return lat, lon, alt_m

    def rotation_to(self, lat_deg: float, lon_deg: float) -> Vector:
        """Rotation taking vectors of this frame to the local ENU frame at (lat, lon)."""
        return enu_rotation(lat_deg, lon_deg) @ self._rot.T

    def up_of(self, east: float, north: float, alt_m: float) -> float:
        """This frame's up coordinate of a point at altitude ``alt_m`` over plane point (east, north)."""
        return alt_m - (east * east + north * north) / (2 * EARTH_RADIUS_M)
