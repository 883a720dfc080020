"""The tracker end to end on synthetic sensors: accuracy, consistency, order, life cycle."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2  # type: ignore[import-untyped]

import grid.fusion
from grid.fusion import (
    Associator,
    CoastingDeleter,
    ConstantVelocity,
    Detection,
    GnnAssociator,
    JpdaAssociator,
    MOfNConfirmer,
    Tracker,
    TrackSnapshot,
    TrackStatus,
    UnscentedKalmanFilter,
    default_tracker,
)
from grid.fusion.tracker import COUNTERS
from tests.grid.fusion.fusion_sim import Sim, Site, Truth

DRONE = Sim.straight(-20_000.0, -10_000.0, 50.0, 33.166, 300.0)  # 60 m/s at 300 m


def _run(tracker: Tracker, detections: list[Detection]) -> list[TrackSnapshot]:
    """Feed detections one per update, at their own times, as the MQTT edge does."""
    out: list[TrackSnapshot] = []
    for det in detections:
        out.extend(tracker.update(det.time, [det]))
    return out


def _converged_rmse(snapshots: list[TrackSnapshot], truth: Truth, settle_s: float = 60.0) -> float:
    """Horizontal position RMSE of confirmed snapshots from ``settle_s`` after confirmation."""
    confirmed = [s for s in snapshots if s.status is TrackStatus.CONFIRMED]
    start = confirmed[0].time + settle_s
    errors = [np.hypot(*(s.state[:2] - np.array(truth(s.time)[:2]))) for s in confirmed if s.time >= start]
    assert len(errors) > 100
    return float(np.sqrt(np.mean(np.square(errors))))


def _raw_radar_rmse(detections: list[Detection], truth: Truth) -> float:
    """Horizontal RMSE of single radar detections converted to positions."""
    errors = []
    for d in detections:
        if d.range_m is None or d.elevation_rad is None:
            continue
        az, el, r = d.bearing_rad, d.elevation_rad, d.range_m
        los = r * np.array([math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), math.sin(el)])
        position = d.sensor_enu + d.rotation.T @ los
        errors.append(np.hypot(*(position[:2] - np.array(truth(d.time)[:2]))))
    return float(np.sqrt(np.mean(np.square(errors))))


def test_straight_drone_is_tracked_accurately(
    sim: Sim, radars: list[Site], bearing_sites: list[Site]
) -> None:
    """3 radars + 4 bearing sensors, 60 m/s drone: one confirmed track, RMSE < 120 m, below raw radar."""
    detections = sim.run(radars + bearing_sites, DRONE, "drone-1", 0.0, 600.0)
    tracker = default_tracker()
    snapshots = _run(tracker, detections)
    (track,) = tracker.tracks
    assert track.track_id == "T0001"
    assert track.status is TrackStatus.CONFIRMED
    assert track.truth_ids == frozenset({"drone-1"})
    assert track.node_ids == frozenset({"RO", "BG", "MD", "TR", "UA"})
    assert len(track.sensor_ids) == 7
    rmse = _converged_rmse(snapshots, DRONE)
    assert rmse < 120.0
    assert rmse < _raw_radar_rmse(detections, DRONE) / 3
    assert track.altitude_m == pytest.approx(300.0, abs=40.0)
    assert np.hypot(track.state[2] - 50.0, track.state[3] - 33.166) < 5.0
    assert track.updates == tracker.counters["associated"] + 1
    assert tracker.counters["detections"] == len(detections)


def test_ukf_tracks_the_drone(sim: Sim, radars: list[Site], bearing_sites: list[Site]) -> None:
    """The UKF in place of the EKF tracks the same drone as accurately."""
    detections = sim.run(radars + bearing_sites, DRONE, "drone-1", 0.0, 300.0)
    tracker = default_tracker(filter=UnscentedKalmanFilter())
    snapshots = _run(tracker, detections)
    assert [t.status for t in tracker.tracks] == [TrackStatus.CONFIRMED]
    assert _converged_rmse(snapshots, DRONE) < 120.0


def test_nees_is_consistent_on_pure_radar() -> None:
    """Average NEES over 30 Monte Carlo runs of a CV target seen by two radars is in the chi2 95% band."""
    sites = [
        Site(sensor_id="r1", node_id="RO", east=-15_000.0, north=25_000.0, period_s=1.0,
             sigma_bearing_deg=0.5, sigma_range_m=30.0, sigma_elevation_deg=0.5),
        Site(sensor_id="r2", node_id="BG", east=20_000.0, north=-30_000.0, period_s=1.0, phase_s=0.5,
             sigma_bearing_deg=0.5, sigma_range_m=30.0, sigma_elevation_deg=0.5),
    ]  # fmt: skip
    runs, step, duration = 30, 0.5, 150.0
    cv = ConstantVelocity(q=1.0)
    f, root_q = cv.transition(step), np.linalg.cholesky(cv.noise(step))
    per_run = []
    for run in range(runs):
        sim = Sim(seed=100 + run)
        x = np.array([-5_000.0, 0.0, 50.0, 33.0])
        states = []
        for _ in range(int(duration / step) + 1):  # truth follows the filter's own process model
            states.append(x)
            x = f @ x + root_q @ sim.rng.normal(size=4)
        truth_states = np.array(states)

        def truth(t: float, xs: np.ndarray = truth_states) -> tuple[float, float, float]:
            k = round(t / step)
            return float(xs[k, 0]), float(xs[k, 1]), 300.0

        nees = []
        for s in _run(default_tracker(), sim.run(sites, truth, "t", 0.0, duration)):
            if s.time >= 30.0:
                error = s.state - truth_states[round(s.time / step)]
                nees.append(float(error @ np.linalg.solve(s.covariance, error)))
        per_run.append(np.mean(nees))
    # Each run's time-average is treated as one chi2(4) draw: a wider band than 4*N samples would give.
    low, high = chi2.ppf([0.025, 0.975], 4 * runs) / runs
    assert low < float(np.mean(per_run)) < high


def test_out_of_order_equals_in_order(sim: Sim, radars: list[Site], bearing_sites: list[Site]) -> None:
    """Reports delayed up to 6 s and fused on arrival give the same track as time order, to 1e-9."""
    detections = sim.run(radars + bearing_sites, DRONE, "drone-1", 0.0, 120.0)
    assert detections[0].range_m is not None  # a radar report starts the track in both orders
    in_order = default_tracker()
    _run(in_order, detections)

    rng = np.random.default_rng(3)
    delays = np.concatenate([[0.0], rng.uniform(0.0, 6.0, len(detections) - 1)])
    arrivals = sorted(zip(delays + [d.time for d in detections], detections, strict=True), key=lambda a: a[0])
    late = sum(1 for k in range(1, len(arrivals)) if arrivals[k][1].time < arrivals[k - 1][1].time)
    assert late > 100
    shuffled = default_tracker()
    for arrival, det in arrivals:
        shuffled.update(float(arrival), [det])

    (a,), (b,) = in_order.tracks, shuffled.tracks
    assert shuffled.counters["too_late"] == 0
    assert a.time == b.time
    assert np.allclose(a.state, b.state, rtol=0.0, atol=1e-9)
    assert np.allclose(a.covariance, b.covariance, rtol=0.0, atol=1e-9)
    assert a.altitude_m == pytest.approx(b.altitude_m, abs=1e-9)
    assert (a.updates, a.status, a.sensor_ids) == (b.updates, b.status, b.sensor_ids)


def test_too_late_detections_are_counted_not_fused(sim: Sim, radars: list[Site]) -> None:
    """A report older than the replay window, or older than a track's first step, is counted and dropped."""
    detections = sim.run(radars, DRONE, "drone-1", 100.0, 130.0)
    tracker = default_tracker(replay_window_s=10.0)
    _run(tracker, detections)
    (before,) = tracker.tracks
    old = sim.detection(radars[0], 115.0, DRONE, "drone-1", n=999)
    assert tracker.update(130.0, [old]) == []
    assert tracker.counters["too_late"] == 1
    older_than_track = sim.detection(radars[1], 99.0, DRONE, "drone-1", n=998)
    assert tracker.update(105.0, [older_than_track]) == []
    assert tracker.counters["too_late"] == 2
    assert tracker.counters["initiated"] == 1
    (after,) = tracker.tracks
    assert after.updates == before.updates


def test_two_targets_two_tracks(sim: Sim, radars: list[Site], bearing_sites: list[Site]) -> None:
    """Two well-separated targets give two confirmed tracks with distinct ids and unmixed truth."""
    other = Sim.straight(30_000.0, -35_000.0, -10.0, 45.0, 800.0)
    detections = sorted(
        sim.run(radars + bearing_sites, DRONE, "a", 0.0, 400.0)
        + sim.run(radars + bearing_sites, other, "b", 0.0, 400.0),
        key=lambda d: d.key,
    )
    tracker = default_tracker()
    _run(tracker, detections)
    confirmed = [t for t in tracker.tracks if t.status is TrackStatus.CONFIRMED]
    assert len(confirmed) == 2
    assert len({t.track_id for t in confirmed}) == 2
    assert sorted(t.truth_ids for t in confirmed) == [frozenset({"a"}), frozenset({"b"})]
    for t in confirmed:
        truth = DRONE if t.truth_ids == {"a"} else other
        assert np.hypot(*(t.state[:2] - np.array(truth(t.time)[:2]))) < 300.0
    by_truth = {next(iter(t.truth_ids)): t for t in confirmed}
    assert by_truth["b"].altitude_m == pytest.approx(800.0, abs=80.0)


def test_two_radars_in_one_batch_start_one_track(sim: Sim, radars: list[Site]) -> None:
    """Two radars reporting a new target in the same update make one track, not two."""
    batch = [sim.detection(radars[0], 10.0, DRONE, "a"), sim.detection(radars[1], 10.2, DRONE, "a")]
    changed = default_tracker().update(10.5, batch)
    (track,) = changed
    assert track.updates == 2
    assert track.sensor_ids == frozenset({radars[0].sensor_id, radars[1].sensor_id})


def test_deletion_after_coasting(sim: Sim, radars: list[Site]) -> None:
    """A confirmed track with no update for max_coast_s is returned once as deleted, then gone."""
    tracker = default_tracker(deleter=CoastingDeleter(max_coast_s=30.0))
    _run(tracker, sim.run(radars, DRONE, "a", 0.0, 60.0))
    (track,) = tracker.tracks
    assert track.status is TrackStatus.CONFIRMED
    assert tracker.update(track.time + 29.0, []) == []
    (deleted,) = tracker.update(track.time + 31.0, [])
    assert (deleted.track_id, deleted.status) == (track.track_id, TrackStatus.DELETED)
    assert tracker.tracks == []
    assert tracker.counters["deleted"] == 1


def test_unconfirmed_track_times_out(sim: Sim, radars: list[Site]) -> None:
    """A tentative track that is never confirmed is deleted after tentative_timeout_s."""
    tracker = default_tracker(deleter=CoastingDeleter(tentative_timeout_s=15.0))
    (created,) = tracker.update(5.0, [sim.detection(radars[0], 5.0, DRONE, "a")])
    assert created.status is TrackStatus.TENTATIVE
    assert tracker.update(19.0, []) == []
    (deleted,) = tracker.update(21.0, [])
    assert deleted.status is TrackStatus.DELETED


def test_uncertain_track_is_deleted(sim: Sim, radars: list[Site]) -> None:
    """A track whose predicted position sigma passes max_position_sigma_m is deleted before max_coast_s."""
    tracker = default_tracker(deleter=CoastingDeleter(max_position_sigma_m=500.0, tentative_timeout_s=60.0))
    tracker.update(0.0, [sim.detection(radars[0], 0.0, DRONE, "a")])
    assert tracker.update(2.0, []) == []
    (deleted,) = tracker.update(12.0, [])  # 60 m/s velocity sigma: ~720 m after 12 s
    assert deleted.status is TrackStatus.DELETED


def test_covariance_stays_spd_for_two_hours(sim: Sim, radars: list[Site], bearing_sites: list[Site]) -> None:
    """Two simulated hours of a circling target: every published covariance is symmetric and PD."""

    def circle(t: float) -> tuple[float, float, float]:
        angle = 20.0 * t / 5_000.0  # 20 m/s on a 5 km radius
        return 5_000.0 * math.cos(angle), 5_000.0 * math.sin(angle), 400.0

    slow = [Site(**{**s.__dict__, "period_s": 5.0}) for s in radars[:2] + bearing_sites[:2]]
    tracker = default_tracker()
    snapshots = _run(tracker, sim.run(slow, circle, "loop", 0.0, 7_200.0))
    assert len(snapshots) > 5_000
    for s in snapshots:
        assert np.array_equal(s.covariance, s.covariance.T)
        assert np.linalg.eigvalsh(s.covariance)[0] > 0.0
    live = [t for t in tracker.tracks if t.status is TrackStatus.CONFIRMED]
    assert [t.truth_ids for t in live] == [frozenset({"loop"})]
    assert tracker.counters["confirmed"] == 1  # a rare outlier may start a tentative track, never confirmed


def test_counters_and_snapshots_are_read_only(sim: Sim, radars: list[Site]) -> None:
    """Counters have the documented keys; snapshot arrays cannot be written."""
    tracker = default_tracker()
    (snapshot,) = tracker.update(0.0, [sim.detection(radars[0], 0.0, DRONE, "a")])
    assert tuple(tracker.counters) == COUNTERS
    assert tracker.counters["initiated"] == 1
    with pytest.raises(ValueError, match="read-only"):
        snapshot.state[0] = 1.0


def test_exports_are_sorted_and_complete() -> None:
    """grid.fusion.__all__ is sorted (plain and isort-style agree: no constants) and every name exists."""
    assert grid.fusion.__all__ == sorted(grid.fusion.__all__)
    assert all(hasattr(grid.fusion, name) for name in grid.fusion.__all__)


@pytest.mark.parametrize("associator", [GnnAssociator(), JpdaAssociator()], ids=["gnn", "jpda"])
def test_crossing_targets_keep_their_tracks(
    sim: Sim, radars: list[Site], bearing_sites: list[Site], associator: Associator
) -> None:
    """Two targets crossing at 37 degrees at the same altitude: each keeps its own track id."""
    a = Sim.straight(-15_000.0, -5_000.0, 100.0, 100.0 / 3.0, 300.0)  # both pass (0, 0) at t = 150 s
    b = Sim.straight(-15_000.0, 5_000.0, 100.0, -100.0 / 3.0, 300.0)
    detections = sorted(
        sim.run(radars + bearing_sites, a, "a", 0.0, 300.0)
        + sim.run(radars + bearing_sites, b, "b", 0.0, 300.0),
        key=lambda d: d.key,
    )
    tracker = default_tracker(associator=associator)
    snapshots = _run(tracker, detections)

    def nearest(truth: Truth, t0: float, t1: float) -> set[str]:
        """Ids of confirmed updates in [t0, t1] within 300 m of ``truth``."""
        return {
            s.track_id
            for s in snapshots
            if s.status is TrackStatus.CONFIRMED
            and t0 <= s.time <= t1
            and np.hypot(*(s.state[:2] - np.array(truth(s.time)[:2]))) < 300.0
        }

    before_a, before_b = nearest(a, 100.0, 130.0), nearest(b, 100.0, 130.0)
    after_a, after_b = nearest(a, 200.0, 300.0), nearest(b, 200.0, 300.0)
    assert len(before_a) == len(before_b) == 1
    assert before_a != before_b
    assert after_a == before_a
    assert after_b == before_b


def test_vectorised_pregate_gives_the_same_tracks(
    sim: Sim, radars: list[Site], bearing_sites: list[Site]
) -> None:
    """Six targets: the tracker with the array pre-gate from 2 tracks equals the scalar one."""
    targets = [
        Sim.straight(-20_000.0 + 7_000.0 * k, -10_000.0, 40.0, 30.0 - 12.0 * k, 300.0) for k in range(6)
    ]
    detections = sorted(
        (
            d
            for k, truth in enumerate(targets)
            for d in sim.run(radars + bearing_sites, truth, f"t{k}", 0.0, 120.0)
        ),
        key=lambda d: d.key,
    )
    scalar, banked = default_tracker(bank_from=10**9), default_tracker(bank_from=2)
    a, b = _run(scalar, detections), _run(banked, detections)
    assert len(a) == len(b) > len(detections) // 2
    assert [(s.track_id, s.time, s.status) for s in a] == [(s.track_id, s.time, s.status) for s in b]
    assert all(np.array_equal(x.state, y.state) for x, y in zip(a, b, strict=True))
    assert scalar.counters == banked.counters
    assert len([t for t in banked.tracks if t.status is TrackStatus.CONFIRMED]) >= 6


def test_m_of_n_confirmation(sim: Sim, radars: list[Site]) -> None:
    """3 of 5 two-second scans with a detection confirm; hits in only 2 of the first 5 do not."""
    confirmer = MOfNConfirmer(m=3, n=5, scan_s=2.0)
    tracker = default_tracker(confirmer=confirmer)
    site = radars[0]
    statuses = [
        s.status
        for t in (0.0, 0.5, 4.5, 9.5)  # scans 0, 0, 2, 4
        for s in tracker.update(t, [sim.detection(site, t, DRONE, "a", n=int(t * 10))])
    ]
    assert statuses == [TrackStatus.TENTATIVE] * 3 + [TrackStatus.CONFIRMED]
    sparse = default_tracker(confirmer=confirmer)
    for t in (0.0, 4.5, 10.5, 12.5):  # scans 0, 2, 5, 6: only two of the first five
        (last,) = sparse.update(t, [sim.detection(site, t, DRONE, "a", n=int(t * 10))])
    assert last.status is TrackStatus.TENTATIVE


def _held_scan_setup(sim: Sim, radars: list[Site]) -> tuple[list[Detection], Detection, Detection]:
    """A minute of one target's radar reports, then one scan of radar 0 at 62 s with a report
    50 m off the target (``other``) and the target's own report (``own``), both noise-free."""
    history = sim.run(radars, DRONE, "a", 0.0, 60.0)

    def beside(t: float) -> tuple[float, float, float]:
        e, n, alt = DRONE(t)
        return e + 50.0, n, alt

    own = sim.detection(radars[0], 62.0, DRONE, "a", noise=False, n=999)
    other = sim.detection(radars[0], 62.0, beside, "b", noise=False, n=999)
    return history, own, other


def test_a_track_takes_one_report_per_scan(sim: Sim, radars: list[Site]) -> None:
    """Of two reports of one radar scan, the better-fitting one ends in the track whatever the
    arrival order, with the same estimate as if only it had come."""
    history, own, other = _held_scan_setup(sim, radars)
    swapped = default_tracker()
    _run(swapped, [*history, other, own])
    alone = default_tracker()
    _run(alone, [*history, own])
    (track,) = swapped.tracks
    (reference,) = alone.tracks
    assert swapped.counters["reassigned"] == 1
    assert swapped.counters["unassigned"] == 1
    assert track.updates == reference.updates
    np.testing.assert_allclose(track.state, reference.state, rtol=0, atol=1e-9)
    np.testing.assert_allclose(track.covariance, reference.covariance, rtol=0, atol=1e-9)


def test_one_per_scan_can_be_turned_off(sim: Sim, radars: list[Site]) -> None:
    """With ``one_per_scan=False`` the track takes both reports of the scan, first come first served."""
    history, own, other = _held_scan_setup(sim, radars)
    tracker = default_tracker(one_per_scan=False)
    _run(tracker, [*history, other, own])
    alone = default_tracker()
    _run(alone, [*history, own])
    (track,) = tracker.tracks
    assert tracker.counters["reassigned"] == 0
    assert track.updates == alone.tracks[0].updates + 1


def test_a_detection_older_than_a_young_track_is_fused_by_retrodiction(sim: Sim, radars: list[Site]) -> None:
    """A plot measured just before the one that started a track, arriving after it, is fused.

    Out of order across nodes, a plot of the first scan can arrive after the next scan's plot
    started the track: the track takes it (retrodicted), the same track as in time order, close.
    """
    detections = sim.run(radars, DRONE, "drone-1", 100.0, 110.0)
    first, rest = detections[0], detections[1:]
    in_order = default_tracker()
    _run(in_order, detections)

    swapped = default_tracker()
    swapped.update(rest[0].time, [rest[0]])  # starts the track
    swapped.update(rest[0].time, [first])  # older than the track's initiation: retrodicted
    for det in rest[1:]:
        swapped.update(det.time, [det])

    (a,), (b,) = in_order.tracks, swapped.tracks
    assert swapped.counters["too_late"] == 0
    assert swapped.counters["initiated"] == 1
    assert (a.updates, a.time) == (b.updates, b.time)
    error = b.state[:2] - a.state[:2]
    spread = float(np.sqrt(np.trace(a.covariance[:2, :2])))
    assert float(np.hypot(*error)) < spread, (
        "the retrodicted track agrees with time order within its own sigma"
    )
