"""The synchronous multi-sensor tracker, assembled from injected components.

The MQTT edge turns each wire report into a :class:`Detection` and calls
``tracker.update(time, detections)``; everything here is synchronous and deterministic.
One call is one batch: detections are gated against every live track, assigned per sensor
(a track takes at most one detection of a sensor per batch), fused at their measurement
times (out-of-order ones by replay), and those that fit no track go to the initiator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from grid.fusion.associator import Associator, GnnAssociator
from grid.fusion.confirmer import Confirmer, UpdateCountConfirmer
from grid.fusion.deleter import CoastingDeleter, Deleter
from grid.fusion.detection import Detection
from grid.fusion.estimator import Prior, TrackEstimator
from grid.fusion.filter import ExtendedKalmanFilter, Filter
from grid.fusion.initiator import Initiator, Seed, SensorInitiator
from grid.fusion.models import ConstantVelocity, DetectionModel, MeasurementModel, MotionModel
from grid.fusion.track import HistoryEntry, Track, TrackSnapshot, TrackStatus

__all__ = ["COUNTERS", "Tracker", "default_tracker"]

COUNTERS = (
    "detections",  # every detection handed to update()
    "associated",  # fused into an existing track
    "initiated",  # tracks created
    "pooled",  # bearings kept by the initiator for a later crossing
    "too_late",  # older than the replay window or the history of the track they fit (or a repeat)
    "unassigned",  # inside some track's gate but lost the assignment: dropped
    "deleted",
    "confirmed",
)


@dataclass(slots=True)
class _Assignment:
    """The detections one batch assigns to one track, and the prior of the earliest."""

    track: Track
    detections: list[Detection] = field(default_factory=list)
    first_prior: Prior | None = None
    _first_key: tuple[float, str, str] | None = None

    def add(self, detection: Detection, prior: Prior) -> None:
        """Take ``detection``, whose prior against the track is ``prior``."""
        self.detections.append(detection)
        if self._first_key is None or detection.key < self._first_key:
            self._first_key, self.first_prior = detection.key, prior


class Tracker:
    """Multi-target tracker: ``update(time, detections) -> changed tracks``.

    Args:
        motion: motion model of the state ``[e, n, ve, vn]``.
        initiator: starts tracks from detections that fit none.
        associator: gate and assignment.
        deleter: decides which tracks to drop, checked at the start of every update.
        confirmer: promotes tentative tracks.
        filter: EKF (default) or UKF.
        measurement: measurement model for every detection kind.
        replay_window_s: how late (measurement time behind the current time, or behind a
            track's newest step) a detection may still be fused.
        delete_check_s: the deleter runs at most once per this much simulation time (the edge
            calls ``update`` per report, and tracks need not be judged that often).
    """

    def __init__(
        self,
        *,
        motion: MotionModel,
        initiator: Initiator,
        associator: Associator,
        deleter: Deleter,
        confirmer: Confirmer | None = None,
        filter: Filter | None = None,  # the Stone Soup name for this component
        measurement: MeasurementModel | None = None,
        replay_window_s: float = 10.0,
        delete_check_s: float = 1.0,
    ) -> None:
        self._motion = motion
        self._initiator = initiator
        self._associator = associator
        self._deleter = deleter
        self._confirmer = confirmer if confirmer is not None else UpdateCountConfirmer()
        self._estimator = TrackEstimator(
            motion=motion,
            filter=filter if filter is not None else ExtendedKalmanFilter(),
            model=measurement if measurement is not None else DetectionModel(),
            replay_window_s=replay_window_s,
        )
        self._replay_window_s = replay_window_s
        self._delete_check_s = delete_check_s
        self._next_delete_check = -math.inf
        self._tracks: dict[str, Track] = {}
        self._next_id = 1
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)

    @property
    def tracks(self) -> list[TrackSnapshot]:
        """Snapshots of the live (tentative and confirmed) tracks, oldest first."""
        return [track.snapshot() for track in self._tracks.values()]

    def update(self, time: float, detections: Sequence[Detection]) -> list[TrackSnapshot]:
        """Fuse one batch of detections.

        Args:
            time: current simulation time (deletion and lateness are judged against it).
            detections: the batch, in any order; each is fused at its own measurement time.

        Returns:
            Snapshots of every track created, updated, confirmed or deleted by this call.
        """
        counters = self.counters
        counters["detections"] += len(detections)
        changed: dict[str, Track] = {}
        if time >= self._next_delete_check:
            self._next_delete_check = time + self._delete_check_s
            for track_id, track in list(self._tracks.items()):
                if self._deleter.should_delete(track, time, self._motion):
                    track.status = TrackStatus.DELETED
                    del self._tracks[track_id]
                    changed[track_id] = track
                    counters["deleted"] += 1

        by_sensor: dict[str, list[Detection]] = {}
        for det in detections:
            if det.time < time - self._replay_window_s:
                counters["too_late"] += 1
            else:
                by_sensor.setdefault(det.sensor_id, []).append(det)

        assigned, leftovers = self._associate(by_sensor)
        for a in assigned:
            self._estimator.fuse(a.track, a.detections, a.first_prior)
            a.track.associations += len(a.detections)
            counters["associated"] += len(a.detections)
            changed[a.track.track_id] = a.track
        for track in self._start_tracks(sorted(leftovers, key=lambda d: d.key), time):
            changed[track.track_id] = track

        for track in changed.values():
            if track.status is TrackStatus.TENTATIVE and self._confirmer.is_confirmed(track):
                track.status = TrackStatus.CONFIRMED
                counters["confirmed"] += 1
        return [track.snapshot() for track in changed.values()]

    def _associate(self, by_sensor: dict[str, list[Detection]]) -> tuple[list[_Assignment], list[Detection]]:
        """Per-sensor assignment against the live tracks: each track with its detections and
        the prior of its earliest one, and the detections that fell in no gate."""
        tracks = list(self._tracks.values())
        assigned: dict[int, _Assignment] = {}
        leftovers: list[Detection] = []
        counters = self.counters
        for dets in by_sensor.values():
            # gated[i] lists (cost, track index, prior) of detection i
            gated = [self._gated(det, tracks) for det in dets]
            if len(dets) == 1:
                pairs = [(0, min(gated[0], key=lambda g: g[0])[1])] if gated[0] else []
            else:
                cost = np.full((len(dets), len(tracks)), math.inf)
                for i, row in enumerate(gated):
                    for c, j, _ in row:
                        cost[i, j] = c
                pairs = self._associator.assign(cost) if any(gated) else []
            used = [False] * len(dets)
            for i, j in pairs:
                used[i] = True
                prior = next(p for _, jj, p in gated[i] if jj == j)
                if not prior.fusable:
                    counters["too_late"] += 1
                    continue
                entry = assigned.setdefault(j, _Assignment(tracks[j]))
                entry.add(dets[i], prior)
            for i, det in enumerate(dets):
                if not used[i]:
                    if gated[i]:
                        counters["unassigned"] += 1
                    else:
                        leftovers.append(det)
        return list(assigned.values()), leftovers

    def _gated(self, det: Detection, tracks: Sequence[Track]) -> list[tuple[float, int, Prior]]:
        """(cost, track index, prior) of every track whose gate ``det`` falls in."""
        out = []
        for j, track in enumerate(tracks):
            if not self._estimator.may_gate(track, det):
                continue
            innovation, prior = self._estimator.innovation(track, det)
            if self._associator.gate(innovation.d2, innovation.y.shape[0]):
                out.append((innovation.d2 + innovation.log_det, j, prior))
        return out

    def _start_tracks(self, leftovers: list[Detection], time: float) -> list[Track]:
        """Initiate from detections that fit no track, first offering each to the tracks born
        earlier in this batch (so two radars seeing a new target make one track, not two)."""
        born: list[tuple[Track, set[str]]] = []
        for det in leftovers:
            candidates = [b for b in born if det.sensor_id not in b[1]]
            gated = [g for g in self._gated(det, [b[0] for b in candidates]) if g[2].fusable]
            if gated:
                _, j, prior = min(gated, key=lambda g: g[0])
                track, sensors = candidates[j]
                self._estimator.fuse(track, [det], prior)
                track.associations += 1
                sensors.add(det.sensor_id)
                self.counters["associated"] += 1
                continue
            seed = self._initiator.initiate(det, time)
            if seed is None:
                self.counters["pooled"] += 1
                continue
            track = self._create(seed)
            born.append((track, {d.sensor_id for d in seed.detections}))
        return [track for track, _ in born]

    def _create(self, seed: Seed) -> Track:
        track_id = f"T{self._next_id:04d}"
        self._next_id += 1
        seed.state.flags.writeable = False
        seed.covariance.flags.writeable = False
        entry = HistoryEntry(
            seed.key, seed.detections, seed.state, seed.covariance, seed.altitude_m, seed.altitude_var
        )
        track = Track(track_id=track_id, created_time=seed.key[0], history=[entry])
        track.record(seed.detections)
        self._tracks[track_id] = track
        self.counters["initiated"] += 1
        return track


def default_tracker(
    *,
    motion: MotionModel | None = None,
    initiator: Initiator | None = None,
    associator: Associator | None = None,
    deleter: Deleter | None = None,
    confirmer: Confirmer | None = None,
    filter: Filter | None = None,
    measurement: MeasurementModel | None = None,
    replay_window_s: float = 10.0,
    delete_check_s: float = 1.0,
) -> Tracker:
    """A tracker with the default components; any of them can be overridden by keyword."""
    return Tracker(
        motion=motion if motion is not None else ConstantVelocity(),
        initiator=initiator if initiator is not None else SensorInitiator(),
        associator=associator if associator is not None else GnnAssociator(),
        deleter=deleter if deleter is not None else CoastingDeleter(),
        confirmer=confirmer,
        filter=filter,
        measurement=measurement,
        replay_window_s=replay_window_s,
        delete_check_s=delete_check_s,
    )
