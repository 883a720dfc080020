"""gridsim on recorded reports: the streaming tracker, and its filter alone on labelled reports.

``run_tracker`` is the product: every report (clutter and all targets) goes through
``Tracker.update(arrival_time, [detection])`` as the fusion centre's edge calls it, and the
time of each call is measured. ``run_filters`` is the like-for-like comparison with Stone Soup:
for each threat, the same initial state and the same detections (those labelled with that
threat, in time order), each one predict plus update.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from grid.app.bench.recording import Arrival, Recording
from grid.evaluation.picture import TrackUpdate, updates_from_snapshots
from grid.fusion import (
    Associator,
    ConstantVelocity,
    Detection,
    DetectionModel,
    ExtendedKalmanFilter,
    Gaussian,
    Seed,
    SensorInitiator,
    Track,
    TrackEstimator,
    TrackSnapshot,
    default_tracker,
)
from grid.fusion.track import HistoryEntry

__all__ = ["FilterInput", "RunResult", "filter_inputs", "run_filters", "run_given_association", "run_tracker"]


@dataclass(frozen=True, slots=True)
class RunResult:
    """Track updates (in issue order), the mean cost of one update in microseconds, and how many."""

    updates: list[TrackUpdate]
    us_per_update: float
    calls: int
    counters: dict[str, int]
    costs_us: tuple[float, ...] = ()  # per call, for the tracker


@dataclass(frozen=True, slots=True)
class FilterInput:
    """One threat's single-target filtering problem: an initial state and the detections after it."""

    threat_id: str
    seed: Seed
    detections: list[Detection]


def run_tracker(arrivals: Sequence[Arrival], associator: Associator | None = None) -> RunResult:
    """Feed every report to a fresh default tracker (with ``associator`` if given) at its arrival
    time, one call per report."""
    tracker = default_tracker(associator=associator)
    clock = time.perf_counter
    stream: list[tuple[float, TrackSnapshot]] = []
    costs = []
    for a in arrivals:
        started = clock()
        changed = tracker.update(a.time, [a.detection])
        costs.append(clock() - started)
        stream.extend((a.time, s) for s in changed)
    mean = sum(costs) / max(len(costs), 1) * 1e6
    return RunResult(
        updates_from_snapshots(stream),
        mean,
        len(arrivals),
        dict(tracker.counters),
        tuple(c * 1e6 for c in costs),
    )


def filter_inputs(recording: Recording, threat_ids: Sequence[str]) -> list[FilterInput]:
    """For each threat: the first seed the default initiator makes from its own detections, and
    its detections after that seed."""
    out = []
    for threat_id in threat_ids:
        detections = recording.of_truth(threat_id)
        initiator = SensorInitiator()
        for k, det in enumerate(detections):
            seed = initiator.initiate(det, det.time)
            if seed is not None:
                out.append(FilterInput(threat_id, seed, detections[k + 1 :]))
                break
    return out


def run_filters(
    inputs: Sequence[FilterInput], altitude: Callable[[str, float], float] | None = None
) -> RunResult:
    """gridsim's EKF on each threat's labelled detections; times each predict plus update.

    With ``altitude`` (threat id, time -> true altitude) each track starts from the true altitude,
    as Stone Soup's 2D models are given it; without, from the seed's estimate.
    """
    estimator = TrackEstimator(
        motion=ConstantVelocity(), filter=ExtendedKalmanFilter(), model=DetectionModel()
    )
    clock = time.perf_counter
    updates: list[TrackUpdate] = []
    spent, calls = 0.0, 0
    for problem in inputs:
        seed = problem.seed
        known = altitude is not None
        entry = HistoryEntry(
            seed.key,
            seed.detections,
            Gaussian.of(seed.state, seed.covariance),
            altitude(problem.threat_id, seed.key[0]) if altitude is not None else seed.altitude_m,
            1.0 if known else seed.altitude_var,
        )
        track = Track(track_id=problem.threat_id, created_time=seed.key[0], history=[entry])
        for det in problem.detections:
            started = clock()
            estimator.fuse(track, [det])
            spent += clock() - started
            calls += 1
            e, n, ve, vn = track.latest.estimate.x
            updates.append(
                TrackUpdate(
                    time=det.time,
                    issued=det.time,
                    track_id=problem.threat_id,
                    east=e,
                    north=n,
                    vel_east=ve,
                    vel_north=vn,
                )
            )
    return RunResult(updates, spent / max(calls, 1) * 1e6, calls, {})


def run_given_association(recording: Recording, threat_ids: Sequence[str]) -> list[TrackUpdate]:
    """The default tracker once per threat, on that threat's labelled reports only (no clutter,
    no other threat): the same tracker with data association taken out of the problem.

    Track ids are prefixed with the threat id so the runs stay apart in one picture.
    """
    out: list[TrackUpdate] = []
    for threat_id in threat_ids:
        tracker = default_tracker()
        stream: list[tuple[float, TrackSnapshot]] = []
        for det in recording.of_truth(threat_id):
            stream.extend((det.time, s) for s in tracker.update(det.time, [det]))
        out.extend(
            dataclasses.replace(u, track_id=f"{threat_id}/{u.track_id}")
            for u in updates_from_snapshots(stream)
        )
    return out
