"""Tests of the WGS84 and tangent-plane helpers in :mod:`grid.geo` against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grid.geo import LocalFrame, ecef_to_geodetic, enu_rotation, geodetic_to_ecef, observe

A = 6378137.0  # WGS84 semi-major axis
B = 6356752.314245  # WGS84 semi-minor axis
E2 = 6.69437999014e-3  # WGS84 first eccentricity squared
THEATER = LocalFrame(44.2, 28.8)

lats = st.floats(min_value=-85, max_value=85)
lons = st.floats(min_value=-179.999, max_value=179.999)
alts = st.floats(min_value=-500, max_value=30_000)
plane = st.floats(min_value=-250_000, max_value=250_000)


def angle_diff(a: float, b: float) -> float:
    """Smallest absolute difference between two angles in degrees."""
    return abs((a - b + 180.0) % 360.0 - 180.0)


def test_ecef_of_origin() -> None:
    """(0, 0, 0) lies on the x axis at the equatorial radius."""
    np.testing.assert_allclose(geodetic_to_ecef(0.0, 0.0, 0.0), [A, 0.0, 0.0], atol=1e-9)


def test_ecef_of_poles() -> None:
    """The poles lie on the z axis at the polar radius (plus altitude)."""
    np.testing.assert_allclose(geodetic_to_ecef(90.0, 0.0, 0.0), [0.0, 0.0, B], atol=1e-6)
    np.testing.assert_allclose(geodetic_to_ecef(-90.0, 45.0, 100.0), [0.0, 0.0, -(B + 100.0)], atol=1e-6)


def test_ecef_of_lon_90_and_altitude() -> None:
    """(0, 90, h) lies on the y axis at the equatorial radius plus h."""
    np.testing.assert_allclose(geodetic_to_ecef(0.0, 90.0, 1000.0), [0.0, A + 1000.0, 0.0], atol=1e-6)


def test_ecef_at_45_degrees() -> None:
    """At 45 N the prime-vertical radius gives x = N cos(lat), z = N (1 - e2) sin(lat)."""
    n = A / math.sqrt(1 - E2 / 2)
    s = math.sqrt(0.5)
    np.testing.assert_allclose(geodetic_to_ecef(45.0, 0.0, 0.0), [n * s, 0.0, n * (1 - E2) * s], atol=1e-3)


def test_geodetic_of_north_pole() -> None:
    """The ECEF point (0, 0, b) is the north pole at altitude 0."""
    lat, _, alt = ecef_to_geodetic(np.array([0.0, 0.0, B]))
    assert lat == pytest.approx(90.0, abs=1e-12)
    assert alt == pytest.approx(0.0, abs=1e-3)


@given(lats, lons, alts)
def test_geodetic_ecef_round_trip(lat: float, lon: float, alt: float) -> None:
    """geodetic -> ECEF -> geodetic returns the point (1e-9 deg, 1 mm)."""
    lat2, lon2, alt2 = ecef_to_geodetic(geodetic_to_ecef(lat, lon, alt))
    assert lat2 == pytest.approx(lat, abs=1e-9)
    assert angle_diff(lon2, lon) < 1e-9
    assert alt2 == pytest.approx(alt, abs=1e-3)


@pytest.mark.parametrize("lat", [88.5, 89.0, 89.5, 90.0, -89.9])
def test_round_trip_near_poles(lat: float) -> None:
    """The near-pole branch of ecef_to_geodetic keeps latitude and altitude."""
    lat2, _, alt2 = ecef_to_geodetic(geodetic_to_ecef(lat, 10.0, 500.0))
    assert lat2 == pytest.approx(lat, abs=1e-9)
    assert alt2 == pytest.approx(500.0, abs=1e-3)


def test_observe_due_north_one_degree() -> None:
    """1 deg of latitude north: ~111.1 km, azimuth 0, elevation -d/(2R) from curvature (~-0.5 deg)."""
    seen = observe((44.0, 28.8, 0.0), (45.0, 28.8, 0.0))
    assert seen.slant_range_m == pytest.approx(111_120.0, abs=50.0)
    assert angle_diff(seen.azimuth_deg, 0.0) < 1e-6
    drop_deg = math.degrees(seen.slant_range_m / (2 * 6_371_000))
    assert seen.elevation_deg == pytest.approx(-drop_deg, abs=0.01)
    assert seen.ground_range_m < seen.slant_range_m


def test_observe_due_east() -> None:
    """1 deg of longitude east at 44 N: azimuth 90 - (dlon/2) sin(lat), range N cos(lat) dlon."""
    seen = observe((44.0, 28.8, 0.0), (44.0, 29.8, 0.0))
    expected_az = 90.0 - 0.5 * math.sin(math.radians(44.0))
    assert seen.azimuth_deg == pytest.approx(expected_az, abs=0.01)
    n = A / math.sqrt(1 - E2 * math.sin(math.radians(44.0)) ** 2)
    arc = n * math.cos(math.radians(44.0)) * math.radians(1.0)
    assert seen.slant_range_m == pytest.approx(arc, rel=1e-4)


def test_observe_straight_up() -> None:
    """A target straight above the sensor is at elevation 90 and range equal to the height."""
    seen = observe((44.0, 28.8, 100.0), (44.0, 28.8, 1100.0))
    assert seen.elevation_deg == pytest.approx(90.0, abs=1e-6)
    assert seen.slant_range_m == pytest.approx(1000.0, abs=1e-6)
    assert seen.ground_range_m == pytest.approx(0.0, abs=1e-6)


def test_observe_azimuth_in_range() -> None:
    """Azimuths are in [0, 360): a target slightly west of north is just under 360."""
    seen = observe((44.0, 28.8, 0.0), (44.1, 28.799, 0.0))
    assert 359.0 < seen.azimuth_deg < 360.0


@given(plane, plane, st.floats(min_value=-500, max_value=20_000))
def test_local_frame_round_trip(east: float, north: float, up: float) -> None:
    """to_geodetic then to_enu returns the frame coordinates to 1 mm."""
    lat, lon, alt = THEATER.to_geodetic(east, north, up)
    np.testing.assert_allclose(THEATER.to_enu(lat, lon, alt), [east, north, up], atol=1e-3)


@given(st.floats(min_value=43.0, max_value=45.5), st.floats(min_value=27.5, max_value=30.5), alts)
def test_geodetic_local_round_trip(lat: float, lon: float, alt: float) -> None:
    """to_enu then to_geodetic returns the WGS84 point (1e-9 deg, 1 mm).

    Bowring's single step is the only approximation: over the theatre and -500 m to 30 km its
    error is at most 7.1e-11 deg and 1e-5 m (200,000 random points, and the fuzz profile's
    20,000 examples), so the bounds hold with a margin of 14 in latitude and 100 in altitude.
    """
    lat2, lon2, alt2 = THEATER.to_geodetic(*THEATER.to_enu(lat, lon, alt))
    assert lat2 == pytest.approx(lat, abs=1e-9)
    assert lon2 == pytest.approx(lon, abs=1e-9)
    assert alt2 == pytest.approx(alt, abs=1e-3)


def test_frame_origin_is_zero() -> None:
    """The origin maps to (0, 0, 0), and a point 1 km up to (0, 0, 1000)."""
    np.testing.assert_allclose(THEATER.to_enu(44.2, 28.8, 0.0), [0.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(THEATER.to_enu(44.2, 28.8, 1000.0), [0.0, 0.0, 1000.0], atol=1e-6)


@given(plane, plane, st.floats(min_value=0, max_value=20_000))
def test_surface_point_keeps_altitude_and_plane_position(east: float, north: float, alt: float) -> None:
    """surface_point returns the requested altitude at the requested plane position (< 1 mm)."""
    lat, lon, alt_out = THEATER.surface_point(east, north, alt)
    assert alt_out == alt
    np.testing.assert_allclose(THEATER.to_enu(lat, lon, alt)[:2], [east, north], atol=1e-3)


def test_up_of_is_curvature_drop() -> None:
    """100 km from the origin, the surface lies d^2/(2R) (~785 m) below the plane."""
    assert THEATER.up_of(100_000.0, 0.0, 0.0) == pytest.approx(-785.0, abs=1.0)
    assert THEATER.up_of(0.0, 0.0, 300.0) == 300.0


@given(st.floats(min_value=42.0, max_value=46.0), st.floats(min_value=26.0, max_value=32.0))
def test_rotation_to_is_orthonormal(lat: float, lon: float) -> None:
    """rotation_to is a proper rotation (orthonormal, determinant +1)."""
    rot = THEATER.rotation_to(lat, lon)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0, abs=1e-12)


def test_rotation_to_is_identity_at_origin() -> None:
    """At the frame origin the two frames coincide."""
    np.testing.assert_allclose(THEATER.rotation_to(44.2, 28.8), np.eye(3), atol=1e-12)


def test_enu_rotation_at_origin_of_ecef() -> None:
    """At (0, 0) east is +y, north is +z and up is +x in ECEF."""
    np.testing.assert_allclose(enu_rotation(0.0, 0.0), [[0, 1, 0], [0, 0, 1], [1, 0, 0]], atol=1e-12)


def test_meridian_convergence_100_km_east() -> None:
    """100 km east of the origin, frame north lies dlon*sin(lat) (~0.87 deg) east of local north."""
    lat0 = 44.2
    n = A / math.sqrt(1 - E2 * math.sin(math.radians(lat0)) ** 2)
    dlon_deg = math.degrees(100_000.0 / (n * math.cos(math.radians(lat0))))  # ~1.251 deg
    expected = dlon_deg * math.sin(math.radians(lat0))  # ~0.872 deg
    lat, lon, _ = THEATER.surface_point(100_000.0, 0.0, 0.0)
    assert lon - 28.8 == pytest.approx(dlon_deg, abs=0.005)
    east, north, _ = THEATER.rotation_to(lat, lon) @ np.array([0.0, 1.0, 0.0])
    assert math.degrees(math.atan2(east, north)) == pytest.approx(expected, abs=0.05)
    assert expected == pytest.approx(0.872, abs=0.005)
