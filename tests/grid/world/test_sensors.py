"""Tests of the simulated sensors in :mod:`grid.world.sensors`."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from grid.geo import LocalFrame, observe
from grid.world.roster import GeoPoint, Orbit, SensorKind, SensorSpec
from grid.world.sensors import (
    Measurement,
    SimulatedSensor,
    detection_probability,
    radar_horizon_m,
    radar_snr,
    sensor_rng,
    swerling1_pd,
)
from grid.world.truth import TruthState

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
    east: float,
    north: float,
    alt_m: float = 300.0,
    *,
    threat_id: str = "uav-1",
    emits_rf: bool = True,
    rcs_m2: float = 1.0,
) -> TruthState:
    """A stationary target at (east, north) metres from the test site, at ``alt_m``."""
    lat, lon, alt = SITE_FRAME.surface_point(east, north, alt_m)
    return TruthState(threat_id, east, north, 0.0, 0.0, lat, lon, alt, emits_rf, rcs_m2)


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


# --- sensor realism -------------------------------------------------------------------------------

# A radar with the radar equation: a 1 m² target gives 13 dB at 150 km, thresholds set for 1e-6.
SNR_RADAR = RADAR.model_copy(
    update={"ref_range_m": 150_000.0, "ref_rcs_m2": 1.0, "ref_snr_db": 13.0, "pfa": 1e-6}
)
ACOUSTIC = SensorSpec(
    id="T-ACU",
    kind=SensorKind.ACOUSTIC,
    site=SITE,
    period_s=1.0,
    range_m=6_000.0,
    pd=1.0,
    sigma_bearing_deg=3.0,
)


def detections_of(spec: SensorSpec, threat: TruthState, scans: int, **kwargs: float) -> int:
    """How many of ``scans`` scans of ``spec`` detect ``threat`` (false alarms not counted)."""
    sensor = SimulatedSensor(spec, seed=21)
    times = list(sensor.scan_times(scans * spec.period_s))[:scans]
    return sum(1 for t in times for m in sensor.scan(t, [threat], **kwargs) if m.threat_id is not None)


def test_horizon_formula() -> None:
    """The 4/3-Earth horizon: a 30 m mast sees a 50 m target to ~52 km and a 300 m one to ~94 km."""
    assert radar_horizon_m(30.0, 50.0) == pytest.approx(51_700.0, rel=0.01)
    assert radar_horizon_m(30.0, 300.0) == pytest.approx(94_000.0, rel=0.01)
    assert radar_horizon_m(0.0, 0.0) == 0.0
    assert radar_horizon_m(-10.0, 100.0) == radar_horizon_m(0.0, 100.0)


def test_low_drone_beyond_the_horizon_is_missed() -> None:
    """A 50 m-high drone 60 km from a 30 m-high radar is never seen; at 300 m it is seen every scan."""
    low = target(0.0, 60_000.0, alt_m=50.0)
    high = target(0.0, 60_000.0, alt_m=300.0)
    assert detections_of(RADAR, low, 100) == 0
    assert detections_of(RADAR, high, 100) == 100
    close_low = target(0.0, 40_000.0, alt_m=50.0)  # inside the horizon of a 50 m target
    assert detections_of(RADAR, close_low, 100) == 100


def test_acoustic_arrays_have_no_horizon_but_short_range() -> None:
    """An acoustic array hears a target at 5 km even skimming the surface, and nothing at 8 km."""
    assert detections_of(ACOUSTIC, target(0.0, 5_000.0, alt_m=1.0), 50) == 50
    assert detections_of(ACOUSTIC, target(0.0, 8_000.0, alt_m=300.0), 50) == 0
    heard = run(SimulatedSensor(ACOUSTIC, seed=2), [target(3_000.0, 0.0)], until_s=20.0)
    assert heard
    assert all(m.range_m is None and m.elevation_deg is None for m in heard)


def test_swerling_formula() -> None:
    """Pd = pfa^(1/(1+SNR)): pfa at zero SNR, 0.5 at the SNR where the exponent halves, -> 1 with SNR."""
    assert swerling1_pd(0.0, 1e-6) == pytest.approx(1e-6)
    snr_half = math.log(1e-6) / math.log(0.5) - 1.0
    assert swerling1_pd(snr_half, 1e-6) == pytest.approx(0.5)
    assert swerling1_pd(1e6, 1e-6) > 0.9999
    assert swerling1_pd(130.0, 1e-6) == pytest.approx(0.9, abs=0.01)


def test_radar_equation_snr() -> None:
    """SNR is ref_snr_db at ref_range_m for ref_rcs_m2, falls as R^-4 and grows with the RCS."""
    assert 10 * math.log10(radar_snr(SNR_RADAR, 1.0, 150_000.0)) == pytest.approx(13.0)
    assert radar_snr(SNR_RADAR, 1.0, 75_000.0) == pytest.approx(16 * radar_snr(SNR_RADAR, 1.0, 150_000.0))
    assert radar_snr(SNR_RADAR, 0.01, 75_000.0) == pytest.approx(radar_snr(SNR_RADAR, 1.0, 75_000.0) / 100)


def test_legacy_radar_uses_constant_pd() -> None:
    """A radar without ref_range_m detects with its constant pd whatever the RCS and range."""
    assert detection_probability(RADAR, 0.001, 140_000.0) == RADAR.pd
    assert detection_probability(RF_DF, 0.001, 100_000.0) == RF_DF.pd


@pytest.mark.parametrize(
    ("rcs_m2", "range_m"),
    [(0.01, 20_000.0), (0.01, 40_000.0), (0.01, 60_000.0), (0.1, 60_000.0), (1.0, 120_000.0)],
)
def test_detection_rate_matches_the_radar_equation(rcs_m2: float, range_m: float) -> None:
    """Over 2000 scans, the detection rate is the radar-equation Pd within 4 binomial sigmas."""
    threat = target(0.0, range_m, alt_m=3_000.0, rcs_m2=rcs_m2)
    slant = observe((SITE.lat, SITE.lon, SITE.alt_m), (threat.lat, threat.lon, threat.alt_m)).slant_range_m
    pd = detection_probability(SNR_RADAR, rcs_m2, slant)
    n = 2_000
    rate = detections_of(SNR_RADAR, threat, n) / n
    assert rate == pytest.approx(pd, abs=4 * math.sqrt(pd * (1 - pd) / n) + 1e-9)


def test_pd_falls_with_range_and_rises_with_rcs() -> None:
    """A small drone is seen nearly always at 20 km, rarely at 60 km; a bigger target is seen further."""
    n = 1_000
    near, mid, far = (
        detections_of(SNR_RADAR, target(0.0, r, 3_000.0, rcs_m2=0.01), n) for r in (20e3, 40e3, 60e3)
    )
    assert near > mid > far
    assert near / n > 0.9
    assert far / n < 0.35
    bigger = detections_of(SNR_RADAR, target(0.0, 60e3, 3_000.0, rcs_m2=0.1), n)
    assert bigger > far + 200


def test_jamming_factor_scales_pd() -> None:
    """pd_factor multiplies the detection probability: 0.3 gives about 30% of scans."""
    n = 2_000
    hits = detections_of(RADAR, NEAR, n, pd_factor=0.3)
    assert hits / n == pytest.approx(0.3, abs=4 * math.sqrt(0.21 / n))
    assert detections_of(RADAR, NEAR, 100, pd_factor=0.0) == 0


def test_jamming_noise_scales_errors_without_shifting_draws() -> None:
    """noise_factor multiplies each measurement's error exactly: the same draws are used."""
    clean = run(SimulatedSensor(RADAR, seed=5), [NEAR])
    sensor = SimulatedSensor(RADAR, seed=5)
    noisy = [m for t in sensor.scan_times(300.0) for m in sensor.scan(t, [NEAR], noise_factor=3.0)]
    truth = observe((SITE.lat, SITE.lon, SITE.alt_m), (NEAR.lat, NEAR.lon, NEAR.alt_m))
    assert len(clean) == len(noisy) == 60
    for a, b in zip(clean, noisy, strict=True):
        assert a.range_m is not None
        assert b.range_m is not None
        assert b.range_m - truth.slant_range_m == pytest.approx(
            3 * (a.range_m - truth.slant_range_m), abs=1e-6
        )
        assert (a.noise_factor, b.noise_factor) == (1.0, 3.0)


CLUTTER_RADAR = RADAR.model_copy(
    update={"false_alarm_rate": 0.7, "min_range_m": 2_000.0, "range_m": 80_000.0}
)


def test_false_alarm_count_is_poisson_with_the_configured_mean() -> None:
    """Over 4000 scans the false alarms per scan have the configured mean and a Poisson variance."""
    sensor = SimulatedSensor(CLUTTER_RADAR, seed=3)
    counts = [len(sensor.scan(t, [])) for t in list(sensor.scan_times(4_000 * 5.0))[:4_000]]
    assert statistics.fmean(counts) == pytest.approx(0.7, abs=4 * math.sqrt(0.7 / 4_000))
    assert statistics.variance(counts) == pytest.approx(0.7, rel=0.15)
    assert SimulatedSensor(RADAR, seed=3).false_alarms(10.0) == []  # the default rate is zero


def test_false_alarms_lie_in_the_coverage_annulus_without_truth() -> None:
    """False alarms carry no threat id and fall in [min_range_m, range_m], spread over bearings."""
    sensor = SimulatedSensor(CLUTTER_RADAR, seed=4)
    alarms = [m for t in sensor.scan_times(5_000.0) for m in sensor.false_alarms(t)]
    assert len(alarms) > 500
    assert all(m.threat_id is None for m in alarms)
    ranges = [m.range_m for m in alarms if m.range_m is not None]
    assert len(ranges) == len(alarms)
    assert min(ranges) >= 2_000.0
    assert max(ranges) <= 80_100.0
    # uniform in area: the median ground range is near sqrt((r0² + r1²) / 2)
    assert statistics.median(ranges) == pytest.approx(math.sqrt((2_000.0**2 + 80_000.0**2) / 2), rel=0.08)
    quadrants = {int(m.bearing_deg // 90) for m in alarms}
    assert quadrants == {0, 1, 2, 3}


def test_false_alarms_are_deterministic_per_scan() -> None:
    """The same seed, sensor and scan give the same false alarms, whatever the threats or call order."""
    a, b = SimulatedSensor(CLUTTER_RADAR, seed=9), SimulatedSensor(CLUTTER_RADAR, seed=9)
    times = list(a.scan_times(500.0))
    with_threats = [m for t in times for m in a.scan(t, [NEAR, FAR]) if m.threat_id is None]
    alone = [m for t in reversed(times) for m in b.false_alarms(t)]
    assert with_threats
    assert sorted(with_threats, key=lambda m: m.time_s) == sorted(alone, key=lambda m: m.time_s)
    other_seed = SimulatedSensor(CLUTTER_RADAR, seed=10)
    assert [m for t in times for m in other_seed.false_alarms(t)] != alone[::-1]


def test_clutter_does_not_shift_the_detection_stream() -> None:
    """Turning clutter on leaves every true detection unchanged."""
    clean = run(SimulatedSensor(RADAR, seed=12), [NEAR])
    cluttered = [
        m
        for m in run(
            SimulatedSensor(CLUTTER_RADAR.model_copy(update={"range_m": 150_000.0}), seed=12), [NEAR]
        )
        if m.threat_id is not None
    ]
    assert cluttered == clean


def test_aew_coverage_moves_with_its_orbit() -> None:
    """A target 120 km north of the orbit centre is seen with the platform north, not half an orbit on."""
    assert AEW.orbit is not None
    spec = AEW.model_copy(update={"range_m": 100_000.0})
    orbit = spec.orbit
    assert orbit is not None
    centre = LocalFrame(orbit.center.lat, orbit.center.lon)
    lat, lon, alt = centre.surface_point(0.0, 120_000.0, 1_000.0)
    far_north = TruthState("t", 0.0, 0.0, 0.0, 0.0, lat, lon, alt, True)
    sensor = SimulatedSensor(spec, seed=1)
    half_orbit_s = math.pi * orbit.radius_m / orbit.speed_mps
    assert len(sensor.scan(0.0, [far_north])) == 1  # platform 50 km north of the centre: 70 km away
    assert sensor.scan(half_orbit_s, [far_north]) == []  # platform 50 km south: 170 km away
    assert sensor.visible(sensor.position(0.0), far_north) is not None
    assert sensor.visible(sensor.position(half_orbit_s), far_north) is None


def test_rf_df_is_limited_by_the_horizon_too() -> None:
    """A direction finder on a 30 m mast does not hear a 50 m-high emitter 70 km away."""
    assert detections_of(RF_DF, target(0.0, 70_000.0, alt_m=50.0), 50) == 0
    assert detections_of(RF_DF, target(0.0, 70_000.0, alt_m=1_000.0), 50) == 50
