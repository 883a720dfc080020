"""Tests of the simulated sensors in :mod:`grid.sensors`."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from grid.geo import LocalFrame, observe
from grid.roster import GeoPoint, Orbit, SensorKind, SensorSpec
from grid.sensors import Measurement, SimulatedSensor, sensor_rng
from grid.truth import TruthState

SITE = GeoPoint(lat=44.0, lon=28.8, alt_m=30.0)
SITE_FRAME = LocalFrame(SITE.lat, SITE.lon, SITE.alt_m)

RADAR = SensorSpec(
    id="T-RAD",
    kind=SensorKind.RADAR,
    site=SITE,
    period_s=5.0,
    range_m=150_000.0,
    min_range_m=500.0,
    pd=1.0,
    sigma_bearing_deg=0.4,
    sigma_range_m=30.0,
    sigma_elevation_deg=0.8,
)
RF_DF = SensorSpec(
    id="T-RFDF",
    kind=SensorKind.RF_DF,
    site=SITE,
    period_s=1.0,
    range_m=120_000.0,
    pd=1.0,
    sigma_bearing_deg=1.5,
)
AEW = SensorSpec(
    id="T-AEW",
    kind=SensorKind.AEW,
    orbit=Orbit(center=GeoPoint(lat=43.8, lon=29.5, alt_m=9_000.0), radius_m=50_000.0, speed_mps=200.0),
    period_s=10.0,
    range_m=400_000.0,
    pd=1.0,
    sigma_bearing_deg=0.3,
    sigma_range_m=50.0,
    sigma_elevation_deg=0.5,
)


def target(
    east: float, north: float, alt_m: float = 300.0, *, threat_id: str = "uav-1", emits_rf: bool = True
) -> TruthState:
    """A stationary target at (east, north) metres from the test site, at ``alt_m``."""
    lat, lon, alt = SITE_FRAME.surface_point(east, north, alt_m)
    return TruthState(threat_id, east, north, 0.0, 0.0, lat, lon, alt, emits_rf)


NEAR = target(0.0, 20_000.0)  # 20 km due north of the site
FAR = target(0.0, 200_000.0, threat_id="far")  # beyond every test sensor's range


def run(sensor: SimulatedSensor, threats: list[TruthState], until_s: float = 300.0) -> list[Measurement]:
    """Every measurement of ``sensor`` scanning ``threats`` up to ``until_s``."""
    return [m for t in sensor.scan_times(until_s) for m in sensor.scan(t, threats)]


def test_sensor_rng_is_a_function_of_seed_and_id() -> None:
    """The same seed and id give the same stream; another seed or id gives another."""
    a = sensor_rng(7, "RO-RAD").random(8)
    assert np.array_equal(a, sensor_rng(7, "RO-RAD").random(8))
    assert not np.array_equal(a, sensor_rng(8, "RO-RAD").random(8))
    assert not np.array_equal(a, sensor_rng(7, "RO-RAD2").random(8))


def test_same_spec_and_seed_give_identical_measurements() -> None:
    """Two sensors with the same spec and seed produce identical measurement sequences."""
    threats = [NEAR, target(15_000.0, 5_000.0, threat_id="uav-2")]
    first = run(SimulatedSensor(RADAR, seed=7), threats)
    second = run(SimulatedSensor(RADAR, seed=7), threats)
    assert len(first) > 100
    assert first == second


def test_different_seed_differs() -> None:
    """A different seed gives a different phase and different noise."""
    a, b = SimulatedSensor(RADAR, seed=7), SimulatedSensor(RADAR, seed=8)
    assert a.phase_s != b.phase_s
    assert [m.range_m for m in run(a, [NEAR])] != [m.range_m for m in run(b, [NEAR])]


def test_draws_do_not_depend_on_coverage() -> None:
    """A threat out of coverage (or unheard) still uses its draws, so the next threat's noise is unchanged."""
    with_far = run(SimulatedSensor(RF_DF, seed=3), [FAR, NEAR])
    with_silent = run(SimulatedSensor(RF_DF, seed=3), [target(0.0, 1_000.0, emits_rf=False), NEAR])
    assert len(with_far) > 100
    assert with_far == with_silent


@pytest.mark.parametrize("seed", range(8))
def test_scan_times_spacing_and_phase(seed: int) -> None:
    """Scans are one period apart from a phase in [0, period), up to until_s inclusive."""
    sensor = SimulatedSensor(RADAR, seed=seed)
    assert 0.0 <= sensor.phase_s < RADAR.period_s
    times = list(sensor.scan_times(100.0))
    assert times[0] == sensor.phase_s
    assert np.allclose(np.diff(times), RADAR.period_s)
    assert times[-1] <= 100.0 < times[-1] + RADAR.period_s
    assert list(sensor.scan_times(times[3])) == times[:4]


def test_scan_times_after() -> None:
    """scan_times(after_s=...) starts at the first scan at or after that time, on the same grid."""
    sensor = SimulatedSensor(RADAR, seed=1)
    times = list(sensor.scan_times(200.0))
    assert list(sensor.scan_times(200.0, after_s=times[5])) == times[5:]
    assert list(sensor.scan_times(200.0, after_s=times[5] - 0.01)) == times[5:]
    assert list(sensor.scan_times(200.0, after_s=times[5] + 0.01)) == times[6:]


def test_radar_range_within_a_few_sigma() -> None:
    """A radar 20 km from a target reports slant range, bearing and elevation near the truth."""
    sensor = SimulatedSensor(RADAR, seed=11)
    truth = observe((SITE.lat, SITE.lon, SITE.alt_m), (NEAR.lat, NEAR.lon, NEAR.alt_m))
    assert truth.slant_range_m == pytest.approx(20_000.0, rel=0.01)
    measurements = run(sensor, [NEAR], until_s=1_000.0)
    assert len(measurements) == 200  # pd = 1: one detection per scan
    ranges = [m.range_m for m in measurements if m.range_m is not None]
    elevations = [m.elevation_deg for m in measurements if m.elevation_deg is not None]
    assert len(ranges) == len(elevations) == 200
    assert all(abs(r - truth.slant_range_m) < 5 * 30.0 for r in ranges)
    assert statistics.fmean(ranges) == pytest.approx(truth.slant_range_m, abs=4 * 30.0 / math.sqrt(200))
    assert statistics.stdev(ranges) == pytest.approx(30.0, rel=0.25)
    assert all(min(m.bearing_deg, 360.0 - m.bearing_deg) < 5 * 0.4 for m in measurements)
    assert all(0.0 <= m.bearing_deg < 360.0 for m in measurements)
    assert statistics.fmean(elevations) == pytest.approx(truth.elevation_deg, abs=4 * 0.8 / math.sqrt(200))


def test_measurement_carries_sensor_position_and_time() -> None:
    """A measurement names the threat, the scan time and where the sensor was."""
    sensor = SimulatedSensor(RADAR, seed=2)
    t = next(iter(sensor.scan_times(100.0)))
    (m,) = sensor.scan(t, [NEAR])
    assert (m.threat_id, m.time_s) == ("uav-1", t)
    assert (m.sensor_lat, m.sensor_lon, m.sensor_alt_m) == (SITE.lat, SITE.lon, SITE.alt_m)


def test_out_of_range_no_detection() -> None:
    """A target beyond range_m, or inside min_range_m, is never detected."""
    sensor = SimulatedSensor(RADAR, seed=5)
    assert run(sensor, [FAR]) == []
    too_close = target(0.0, 200.0, alt_m=50.0)
    assert run(sensor, [too_close]) == []


def test_detection_probability() -> None:
    """With pd = 0.5 about half the scans detect an in-range target."""
    spec = RADAR.model_copy(update={"pd": 0.5})
    detections = run(SimulatedSensor(spec, seed=9), [NEAR], until_s=5_000.0)
    assert 400 < len(detections) < 600  # 1000 scans, binomial sd ~16


def test_rf_df_does_not_hear_silent_targets() -> None:
    """A direction finder never reports a threat with emits_rf=False, and gives bearing only."""
    sensor = SimulatedSensor(RF_DF, seed=4)
    silent = target(0.0, 20_000.0, emits_rf=False)
    assert run(sensor, [silent]) == []
    heard = run(SimulatedSensor(RF_DF, seed=4), [NEAR])
    assert len(heard) == 300
    assert all(m.range_m is None and m.elevation_deg is None for m in heard)


def test_aew_moves_along_its_orbit_at_orbit_speed() -> None:
    """The AEW platform stays on its circle, at its altitude, clockwise, at its orbit speed."""
    assert AEW.orbit is not None
    orbit = AEW.orbit
    sensor = SimulatedSensor(AEW, seed=1)
    centre = LocalFrame(orbit.center.lat, orbit.center.lon)
    quarter_s = (math.pi / 2) * orbit.radius_m / orbit.speed_mps

    def offset(t: float) -> np.ndarray:
        lat, lon, alt = sensor.position(t)
        assert alt == orbit.center.alt_m
        return centre.to_enu(lat, lon, alt)[:2]

    np.testing.assert_allclose(offset(0.0), [0.0, orbit.radius_m], atol=1e-3)  # phase 0: due north
    np.testing.assert_allclose(offset(quarter_s), [orbit.radius_m, 0.0], atol=1e-3)  # clockwise: then east
    for t in (0.0, 100.0, 1_234.5):
        assert float(np.hypot(*offset(t))) == pytest.approx(orbit.radius_m, abs=1e-3)
        chord = float(np.hypot(*(offset(t + 1.0) - offset(t))))
        assert chord == pytest.approx(orbit.speed_mps, rel=1e-4)


def test_aew_measures_from_its_current_position() -> None:
    """An AEW measurement reports the platform position at the scan time, with range."""
    sensor = SimulatedSensor(AEW, seed=6)
    t = list(sensor.scan_times(100.0))[-1]
    (m,) = sensor.scan(t, [NEAR])
    assert (m.sensor_lat, m.sensor_lon, m.sensor_alt_m) == sensor.position(t)
    assert m.range_m is not None
    assert m.elevation_deg is not None
    truth = observe(sensor.position(t), (NEAR.lat, NEAR.lon, NEAR.alt_m))
    assert m.range_m == pytest.approx(truth.slant_range_m, abs=5 * 50.0)
    assert m.elevation_deg < 0  # looking down from 9 km
