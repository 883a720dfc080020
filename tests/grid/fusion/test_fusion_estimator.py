"""Per-track estimation: replay order, history window, and the conservative pre-gate."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from grid.fusion import (
    ConstantVelocity,
    DetectionModel,
    ExtendedKalmanFilter,
    Gaussian,
    GnnAssociator,
    SensorInitiator,
    Track,
    TrackEstimator,
)
from grid.fusion.track import HistoryEntry
from tests.grid.fusion.fusion_sim import BEARINGS, RADARS, Sim, Site

DRONE = Sim.straight(-20_000.0, -10_000.0, 50.0, 33.166, 300.0)


def _estimator(window: float = 10.0) -> TrackEstimator:
    return TrackEstimator(
        motion=ConstantVelocity(),
        filter=ExtendedKalmanFilter(),
        model=DetectionModel(),
        replay_window_s=window,
    )


def _track(sim: Sim, t: float = 0.0) -> Track:
    """A track seeded by one radar detection at time ``t``."""
    seed = SensorInitiator().initiate(sim.detection(RADARS[0], t, DRONE, "a"), t)
    assert seed is not None
    entry = HistoryEntry(
        seed.key,
        seed.detections,
        Gaussian.of(seed.state, seed.covariance),
        seed.altitude_m,
        seed.altitude_var,
    )
    return Track(track_id="T0001", created_time=t, history=[entry])


def test_replay_in_any_order_matches_time_order(sim: Sim) -> None:
    """Fusing detections reversed, one by one, gives bit-for-bit the time-ordered result."""
    later = [d for d in sim.run(RADARS + BEARINGS, DRONE, "a", 0.0, 8.0) if d.time > 0.0]
    forward, backward = _track(Sim()), _track(Sim())
    estimator = _estimator()
    for det in later:
        estimator.fuse(forward, [det])
    for det in reversed(later):
        estimator.fuse(backward, [det])
    assert [e.key for e in forward.history] == [e.key for e in backward.history]
    assert np.array_equal(forward.latest.state, backward.latest.state)
    assert np.array_equal(forward.latest.covariance, backward.latest.covariance)
    assert forward.latest.altitude_m == backward.latest.altitude_m
    assert forward.updates == backward.updates == len(later)


def test_history_keeps_window_plus_base(sim: Sim) -> None:
    """After pruning, only one step is older than the window: the base replays start from."""
    track = _track(sim)
    estimator = _estimator(window=10.0)
    for det in sim.run(RADARS, DRONE, "a", 0.5, 60.0):
        estimator.fuse(track, [det])
    times = [e.time for e in track.history]
    cutoff = times[-1] - 10.0
    assert sum(t < cutoff for t in times) == 1
    assert times == sorted(times)


def test_prior_before_base_is_not_fusable(sim: Sim) -> None:
    """A detection older than the track's first step gets a retrodicted prior marked not fusable."""
    track = _track(sim, t=10.0)
    estimator = _estimator()
    early = estimator.prior(track, sim.detection(RADARS[1], 9.0, DRONE, "a"))
    late = estimator.prior(track, sim.detection(RADARS[1], 11.0, DRONE, "a"))
    assert not early.fusable
    assert late.fusable
    # Retrodicted from the seed (velocity 0): same position, grown uncertainty.
    assert np.array_equal(early.estimate.state[:2], track.latest.state[:2])
    assert early.estimate.covariance[0, 0] > track.latest.covariance[0, 0]


@settings(max_examples=200, deadline=None)
@given(
    east=st.floats(-60_000.0, 60_000.0),
    north=st.floats(-60_000.0, 60_000.0),
    offset_deg=st.floats(-30.0, 30.0),
    sigma=st.floats(50.0, 3_000.0),
    dt=st.floats(-5.0, 20.0),
    sensor=st.sampled_from(RADARS + BEARINGS),
)
def test_pregate_never_drops_a_gated_detection(
    *, east: float, north: float, offset_deg: float, sigma: float, dt: float, sensor: object
) -> None:
    """Within a sensor's coverage, whenever the chi-square gate passes, the cheap pre-gate passed too."""
    site: Site = sensor  # type: ignore[assignment]
    assume(math.hypot(east - site.east, north - site.north) <= site.max_range_m - 6 * 200.0)
    sim = Sim(seed=1)
    det = sim.detection(sensor, 100.0, lambda _t: (east, north, 300.0), "x")  # type: ignore[arg-type]
    det = replace(det, bearing_rad=det.bearing_rad + math.radians(offset_deg))
    state = np.array([east, north, 30.0, -20.0])
    covariance = np.diag([sigma**2, (sigma / 2) ** 2, 30.0**2, 30.0**2])
    entry = HistoryEntry((100.0 - dt, "z", "z"), (det,), Gaussian.of(state, covariance), 300.0, 100.0**2)
    track = Track(track_id="T", created_time=0.0, history=[entry])
    estimator = _estimator()
    innovation, _ = estimator.innovation(track, det)
    gated = GnnAssociator().gate(innovation.d2, innovation.dim)
    event(f"gated={gated}")
    if gated:
        assert estimator.may_gate(track, det)


def test_pregate_rejects_a_far_track(sim: Sim) -> None:
    """A bearing 40 degrees off a well-known track is rejected without linearising."""
    det = sim.detection(BEARINGS[0], 10.0, lambda _t: (0.0, 0.0, 300.0), "x", noise=False)
    off = replace(det, bearing_rad=det.bearing_rad + math.radians(40.0))
    entry = HistoryEntry(
        (9.0, "z", "z"), (det,), Gaussian.of([0.0, 0.0, 10.0, 0.0], np.eye(4) * 100.0), 300.0, 1e4
    )
    track = Track(track_id="T", created_time=0.0, history=[entry])
    assert _estimator().may_gate(track, det)
    assert not _estimator().may_gate(track, off)


def test_pregate_rejects_a_track_beyond_coverage(sim: Sim) -> None:
    """A bearing from a 60 km acoustic array cannot belong to a well-known track 90 km away."""
    acoustic = next(s for s in BEARINGS if s.sensor_id == "bg-acoustic-1")
    far = (acoustic.east + 90_000.0, acoustic.north)
    det = sim.detection(acoustic, 10.0, lambda _t: (*far, 300.0), "x", noise=False)
    entry = HistoryEntry(
        (9.0, "z", "z"), (det,), Gaussian.of([*far, 0.0, 0.0], np.eye(4) * 100.0), 300.0, 1e4
    )
    track = Track(track_id="T", created_time=0.0, history=[entry])
    assert not _estimator().may_gate(track, det)
    near = replace(acoustic, east=far[0] - 50_000.0)
    inside = sim.detection(near, 10.0, lambda _t: (*far, 300.0), "x", noise=False)
    assert _estimator().may_gate(track, inside)
