"""Radar coverage: scans known from reports, covering tracks, and the rules built on it."""

from __future__ import annotations

import math

import numpy as np

from grid.fusion import (
    CoastingDeleter,
    Confirmer,
    ConstantVelocity,
    CoverageConfirmer,
    Deleter,
    Detection,
    Gaussian,
    MissedScanDeleter,
    RadarCoverage,
    Track,
    TrackSnapshot,
    TrackStatus,
    UpdateCountConfirmer,
    default_tracker,
)
from grid.fusion.track import HistoryEntry
from tests.grid.fusion.fusion_sim import BEARINGS, Sim, Site, Truth

RADAR = Site(
    sensor_id="cov-radar", node_id="RO", east=0.0, north=0.0, period_s=2.0, sigma_bearing_deg=0.5,
    sigma_range_m=30.0, sigma_elevation_deg=0.5, max_range_m=100_000.0,
)  # fmt: skip
FAR_RADAR = Site(
    sensor_id="far-radar", node_id="TR", east=300_000.0, north=0.0, period_s=2.0, sigma_bearing_deg=0.5,
    sigma_range_m=30.0, sigma_elevation_deg=0.5, max_range_m=100_000.0,
)  # fmt: skip


ELSEWHERE = Sim.straight(30_000.0, 0.0, -20.0, 0.0)  # what the radar plots, keeping it active
REAL = Sim.straight(15_000.0, -10_000.0, -40.0, 30.0)  # plotted by the radar and heard by bearings
PHANTOM = Sim.straight(-20_000.0, 15_000.0, 20.0, 0.0)  # heard by bearings only (a clutter plot starts it)


def _track(east: float, north: float, *, time: float = 0.0, altitude_m: float = 300.0) -> Track:
    """A tentative track at (east, north), at rest, with a small covariance."""
    estimate = Gaussian.of(np.array([east, north, 0.0, 0.0]), np.diag([100.0**2, 100.0**2, 1.0, 1.0]))
    entry = HistoryEntry((time, "seed", "seed-1"), (), estimate, altitude_m, 50.0**2)
    return Track(track_id="T9999", created_time=time, history=[entry])


def _scans(sim: Sim, coverage: RadarCoverage, times: list[float], site: Site = RADAR) -> None:
    """Tell ``coverage`` of one scan of ``site`` at each time (a plot of ELSEWHERE)."""
    for k, t in enumerate(times):
        coverage.observe(sim.detection(site, t, ELSEWHERE, "elsewhere", n=k))


def test_observe_keeps_one_scan_per_ranged_report_time(sim: Sim) -> None:
    """Ranged reports make scans, once per (sensor, time); bearing-only reports make none."""
    coverage = RadarCoverage()
    _scans(sim, coverage, [1.0, 1.0, 3.0])
    coverage.observe(sim.detection(BEARINGS[0], 2.0, ELSEWHERE, "elsewhere"))
    assert [(s.time, s.sensor_id) for s in coverage.scans] == [(1.0, "cov-radar"), (3.0, "cov-radar")]
    assert math.isclose(coverage.scans[0].reach_m, 0.4 * RADAR.max_range_m)


def test_old_scans_are_forgotten(sim: Sim) -> None:
    """Scans older than keep_s before the newest are dropped."""
    coverage = RadarCoverage(keep_s=10.0)
    _scans(sim, coverage, [0.0, 5.0, 12.0, 20.0])
    assert [s.time for s in coverage.scans] == [12.0, 20.0]


def test_covers_within_reach_of_an_active_radar(sim: Sim) -> None:
    """A track 20 km from an active radar is covered; at 60 km (beyond 0.4 of 100 km) it is not."""
    coverage = RadarCoverage()
    _scans(sim, coverage, [10.0])
    assert coverage.covers(_track(-20_000.0, 0.0, time=10.0))
    assert not coverage.covers(_track(-60_000.0, 0.0, time=10.0))


def test_a_silent_radar_covers_nothing(sim: Sim) -> None:
    """A radar that has not reported for active_s no longer covers anything."""
    coverage = RadarCoverage(active_s=30.0)
    _scans(sim, coverage, [10.0])
    _scans(sim, coverage, [50.0], site=FAR_RADAR)
    assert not coverage.covers(_track(-20_000.0, 0.0, time=50.0))


def test_below_the_horizon_is_not_covered(sim: Sim) -> None:
    """A sea-skimming track 35 km out is below a 50 m mast's radio horizon: not covered."""
    coverage = RadarCoverage(reach=0.5)
    _scans(sim, coverage, [10.0])
    assert coverage.covers(_track(-35_000.0, 0.0, time=10.0, altitude_m=300.0))
    assert not coverage.covers(_track(-35_000.0, 0.0, time=10.0, altitude_m=5.0))


def test_misses_count_covering_scans_after_settling(sim: Sim) -> None:
    """Scans after the track's creation count once settled; a ranged detection restarts the count."""
    coverage = RadarCoverage(settle_s=2.0)
    track = _track(-20_000.0, 0.0, time=5.0)
    _scans(sim, coverage, [4.0, 6.0, 8.0, 10.0, 12.0])
    assert coverage.misses(track, 9.0) == 1  # 6 (4 is before the track; 8 is not yet settled)
    assert coverage.misses(track, 14.0) == 4  # 6, 8, 10, 12
    assert coverage.misses(track, 14.0) == 4  # judged once
    track.ranged_time = 10.0
    assert coverage.misses(track, 14.0) == 1  # 12 only


def test_far_tracks_miss_nothing(sim: Sim) -> None:
    """Scans do not count against a track beyond the radar's reach."""
    coverage = RadarCoverage()
    track = _track(-60_000.0, 0.0)
    _scans(sim, coverage, [2.0, 4.0, 6.0, 8.0])
    assert coverage.misses(track, 20.0) == 0


def test_missed_scan_deleter_deletes_after_max_misses(sim: Sim) -> None:
    """A confirmed track the radar keeps missing is deleted at max_misses, not before."""
    coverage = RadarCoverage(settle_s=2.0)
    deleter = MissedScanDeleter(coverage=coverage, max_misses=3, inner=CoastingDeleter(max_coast_s=1e9))
    track = _track(-20_000.0, 0.0)
    track.status = TrackStatus.CONFIRMED
    motion = ConstantVelocity()
    _scans(sim, coverage, [2.0, 4.0, 6.0])
    assert not deleter.should_delete(track, 6.5, motion)  # 2, 4 settled
    assert deleter.should_delete(track, 8.5, motion)


def test_coverage_confirmer_waits_for_a_radar_plot(sim: Sim) -> None:
    """Inside coverage the track needs a ranged update to confirm; outside, the inner rule suffices."""
    coverage = RadarCoverage()
    confirmer = CoverageConfirmer(
        coverage=coverage, inner=UpdateCountConfirmer(confirm_updates=0, min_sensors=0)
    )
    _scans(sim, coverage, [10.0])
    near, far = _track(-20_000.0, 0.0, time=10.0), _track(-60_000.0, 0.0, time=10.0)
    assert not confirmer.is_confirmed(near)
    assert confirmer.is_confirmed(far)
    near.ranged_updates = 1
    assert confirmer.is_confirmed(near)


def _phantom_run(
    sim: Sim,
    *,
    coverage: RadarCoverage | None = None,
    confirmer: Confirmer | None = None,
    deleter: Deleter | None = None,
) -> list[TrackSnapshot]:
    """The radar plots ELSEWHERE and REAL; bearing sensors hear REAL and PHANTOM; one clutter plot
    of the radar falls on PHANTOM at 10 s."""
    end = 150.0
    detections: list[Detection] = [
        *sim.run([RADAR], ELSEWHERE, "elsewhere", 0.0, end),
        *sim.run([RADAR, *BEARINGS], REAL, "real", 0.0, end),
        *sim.run(list(BEARINGS), PHANTOM, "phantom", 9.0, end),
        sim.detection(RADAR, 10.0, PHANTOM, "phantom"),  # a clutter plot that happens to fall there
    ]
    detections.sort(key=lambda d: d.key)
    tracker = default_tracker(coverage=coverage, confirmer=confirmer, deleter=deleter)
    out: list[TrackSnapshot] = []
    for det in detections:
        out.extend(tracker.update(det.time, [det]))
    return out


def _near(snapshot: TrackSnapshot, truth: Truth) -> bool:
    e, n, _ = truth(snapshot.time)
    return bool(math.hypot(snapshot.state[0] - e, snapshot.state[1] - n) < 1_500.0)


def test_phantom_in_radar_coverage_is_never_confirmed(sim: Sim) -> None:
    """Bearings crossing where the radar sees nothing never confirm a track; the real target's
    track (radar and bearings) is confirmed at once and kept to the end."""
    snapshots = _phantom_run(sim)
    phantom = [s for s in snapshots if _near(s, PHANTOM)]
    assert phantom  # the clutter plot and the bearings did start tracks there
    assert all(s.status is not TrackStatus.CONFIRMED for s in phantom)
    assert any(s.status is TrackStatus.DELETED for s in phantom)
    real = [s for s in snapshots if _near(s, REAL) and "real" in s.truth_ids]
    (real_id,) = {s.track_id for s in real if s.status is TrackStatus.CONFIRMED}
    assert real[0].time < 5.0
    assert all(s.status is not TrackStatus.DELETED for s in real)
    assert real[-1].time > 149.0
    assert real[-1].track_id == real_id


def test_without_coverage_the_phantom_is_confirmed(sim: Sim) -> None:
    """With the coverage-blind confirmer and deleter the same phantom becomes a confirmed track."""
    snapshots = _phantom_run(sim, confirmer=UpdateCountConfirmer(), deleter=CoastingDeleter())
    assert any(s.status is TrackStatus.CONFIRMED for s in snapshots if _near(s, PHANTOM))


def test_confirmed_phantom_is_deleted_by_missed_scans(sim: Sim) -> None:
    """A phantom confirmed without coverage evidence is deleted once the radar has missed it
    max_misses times, long before the coasting rules would."""
    coverage = RadarCoverage()
    snapshots = _phantom_run(
        sim,
        coverage=coverage,
        confirmer=UpdateCountConfirmer(),
        deleter=MissedScanDeleter(coverage=coverage, max_misses=8),
    )
    phantom = [s for s in snapshots if _near(s, PHANTOM)]
    confirmed = [s for s in phantom if s.status is TrackStatus.CONFIRMED]
    assert confirmed
    first = confirmed[0].track_id
    (deleted,) = [s for s in phantom if s.track_id == first and s.status is TrackStatus.DELETED]
    assert deleted.time < confirmed[0].time + 30.0  # 8 scans of a 2 s radar, settled
