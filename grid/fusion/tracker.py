"""The synchronous multi-sensor tracker, assembled from injected components.

The MQTT edge turns each wire report into a :class:`Detection` and calls
``tracker.update(time, detections)``; everything here is synchronous and deterministic.
One call is one batch: detections are gated against every live track, assigned per sensor
(a track takes at most one detection of a sensor per batch), fused at their measurement
times (out-of-order ones by replay), and those that fit no track go to the initiator. A
single report (the edge's case) goes to the best-fitting track that does not already hold a
better detection of the same sensor scan, displacing a worse one. With a JPDA associator, a
single report is instead shared among the tracks it gates with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from grid.fusion.associator import Associator, GnnAssociator
from grid.fusion.confirmer import Confirmer, CoverageConfirmer, UpdateCountConfirmer
from grid.fusion.coverage import Coverage, RadarCoverage
from grid.fusion.deleter import Deleter, MissedScanDeleter
from grid.fusion.detection import Detection
from grid.fusion.estimator import TrackEstimator
from grid.fusion.filter import ExtendedKalmanFilter, Filter
from grid.fusion.gaussian import Gaussian
from grid.fusion.initiator import Initiator, Seed, SensorInitiator
from grid.fusion.models import ConstantVelocity, DetectionModel, MeasurementModel, MotionModel
from grid.fusion.pregate import TrackBank
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
    "reassigned",  # took the place of a worse-fitting detection of the same scan in a track
)

_MAX_DISPLACED = 4  # a chain of displaced detections stops after this many


_Candidate = tuple[float, int, bool, int]  # (cost, track index, fusable, measurement dimension)


def _key(d: Detection) -> tuple[float, str, str]:
    return d.key


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
        bank_from: with at least this many live tracks, a report's pre-gate runs vectorised
            over all of them (:class:`~grid.fusion.pregate.TrackBank`); the result is the same.
        one_per_scan: a track takes at most one detection of a sensor's scan (same sensor,
            same measurement time) also when reports come one per call, as a batch assignment
            would give it; False restores first come, first served.
        coverage: told of every detection, so that the confirmer and deleter that share it
            know which radar scans should have plotted a track (None: nothing to tell).
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
        bank_from: int = 12,
        one_per_scan: bool = True,
        coverage: Coverage | None = None,
    ) -> None:
        self._motion = motion
        self._coverage = coverage
        self._one_per_scan = one_per_scan
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
        self._bank = TrackBank(motion)
        self._bank_from = bank_from
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
        if self._coverage is not None:
            for det in detections:
                self._coverage.observe(det)
        if time >= self._next_delete_check:
            self._next_delete_check = time + self._delete_check_s
            self._delete(time, changed)
        if len(detections) == 1:  # the edge's case: one report per call, no batch bookkeeping
            det = detections[0]
            if det.time < time - self._replay_window_s:
                counters["too_late"] += 1
            else:
                self._single(det, time, changed)
        else:
            self._batch(detections, time, changed)
        for track in changed.values():
            if track.status is TrackStatus.TENTATIVE and self._confirmer.is_confirmed(track):
                track.status = TrackStatus.CONFIRMED
                counters["confirmed"] += 1
        return [track.snapshot() for track in changed.values()]

    def _delete(self, time: float, changed: dict[str, Track]) -> None:
        for track_id, track in list(self._tracks.items()):
            if self._deleter.should_delete(track, time, self._motion):
                track.status = TrackStatus.DELETED
                del self._tracks[track_id]
                self._bank.remove(track_id)
                changed[track_id] = track
                self.counters["deleted"] += 1

    def _batch(self, detections: Sequence[Detection], time: float, changed: dict[str, Track]) -> None:
        """Per-sensor assignment of a batch, then initiation from what fits no track."""
        by_sensor: dict[str, list[Detection]] = {}
        for det in detections:
            if det.time < time - self._replay_window_s:
                self.counters["too_late"] += 1
            else:
                by_sensor.setdefault(det.sensor_id, []).append(det)
        assigned, early, leftovers = self._associate(by_sensor)
        for track, dets in assigned:
            self._fuse(track, dets)
            changed[track.track_id] = track
        for track, det in early:
            self._before_birth(track, det, changed)
        for track in self._start_tracks(sorted(leftovers, key=_key), time):
            changed[track.track_id] = track

    def _single(self, det: Detection, time: float, changed: dict[str, Track], depth: int = 0) -> None:
        """Gate, assign and fuse one detection, or hand it to the initiator.

        A track takes at most one detection of a sensor's scan, as a batch assignment would
        give it: a detection that fits a track better than the one it holds of the same scan
        takes its place, and the one displaced is offered to the other tracks in turn.
        """
        if len(self._bank) >= self._bank_from:
            tracks, checked = self._bank.near(det), True
        else:
            tracks, checked = list(self._tracks.values()), False
        candidates = self._candidates(det, tracks, prechecked=checked)
        if not candidates:
            for track in self._start_tracks([det], time):
                changed[track.track_id] = track
            return
        weights = self._associator.share([c[0] for c in candidates], candidates[0][3])
        if weights is not None:
            self._share(det, tracks, candidates, weights, changed)
            return
        self._assign(det, tracks, candidates, changed=changed, time=time, depth=depth)

    def _assign(
        self,
        det: Detection,
        tracks: Sequence[Track],
        candidates: list[_Candidate],
        *,
        changed: dict[str, Track],
        time: float,
        depth: int,
    ) -> None:
        """GNN for one report: the cheapest track that holds no better detection of its scan."""
        if len(candidates) > 1:
            candidates.sort()
        estimator = self._estimator
        for cost, j, fusable, _ in candidates:
            track = tracks[j]
            held = estimator.held(track, det) if self._one_per_scan else -1
            if held < 0:
                if not fusable:
                    self._before_birth(track, det, changed)
                    return
                self._fuse(track, [det])
                changed[track.track_id] = track
                return
            if held == 0 or not fusable:
                continue  # the scan's detection is in the track's base: it cannot be swapped out
            rival_d2, rival_log_det, _, _ = estimator.held_gate(track, held)
            if rival_d2 + rival_log_det <= cost:
                continue
            displaced = estimator.replace(track, held, det)
            self._bank.touch(track)
            changed[track.track_id] = track
            self.counters["reassigned"] += 1
            if depth < _MAX_DISPLACED:
                self._single(displaced, time, changed, depth + 1)
            else:
                self.counters["unassigned"] += 1
            return
        # Every track it fits holds a better detection of this scan: dropped, as in a batch.
        self.counters["unassigned"] += 1

    def _share(
        self,
        det: Detection,
        tracks: Sequence[Track],
        candidates: list[_Candidate],
        weights: list[float],
        changed: dict[str, Track],
    ) -> None:
        """JPDA: every gated track takes the detection with its weight."""
        fused = False
        for (_, j, fusable, _), weight in zip(candidates, weights, strict=True):
            if weight <= 0.0 or not fusable:
                continue
            track = tracks[j]
            self._estimator.fuse(track, [det], weight=weight)
            self._bank.touch(track)
            if weight >= 0.5:
                track.associations += 1
                track.ranged_updates += det.has_range
            changed[track.track_id] = track
            fused = True
        self.counters["associated" if fused else "too_late"] += 1

    def _fuse(self, track: Track, detections: list[Detection]) -> None:
        self._estimator.fuse(track, detections)
        self._bank.touch(track)
        track.associations += len(detections)
        track.ranged_updates += sum(1 for det in detections if det.has_range)
        self.counters["associated"] += len(detections)

    def _associate(
        self, by_sensor: dict[str, list[Detection]]
    ) -> tuple[list[tuple[Track, list[Detection]]], list[tuple[Track, Detection]], list[Detection]]:
        """Per-sensor assignment against the live tracks: each track with its detections, each
        detection assigned to a track it is older than (with the track), and the detections that
        fell in no gate."""
        tracks = list(self._tracks.values())
        assigned: dict[int, list[Detection]] = {}
        early: list[tuple[Track, Detection]] = []
        leftovers: list[Detection] = []
        counters = self.counters
        for dets in by_sensor.values():
            gated = [self._candidates(det, tracks) for det in dets]
            if len(dets) == 1:
                pairs = [(0, min(gated[0])[1])] if gated[0] else []
            else:
                cost = np.full((len(dets), len(tracks)), math.inf)
                for i, row in enumerate(gated):
                    for c, j, _, _ in row:
                        cost[i, j] = c
                pairs = self._associator.assign(cost) if any(gated) else []
            used = [False] * len(dets)
            for i, j in pairs:
                used[i] = True
                if not next(f for _, jj, f, _ in gated[i] if jj == j):
                    early.append((tracks[j], dets[i]))
                    continue
                assigned.setdefault(j, []).append(dets[i])
            for i, det in enumerate(dets):
                if not used[i]:
                    if gated[i]:
                        counters["unassigned"] += 1
                    else:
                        leftovers.append(det)
        return [(tracks[j], dets) for j, dets in assigned.items()], early, leftovers

    def _before_birth(self, track: Track, det: Detection, changed: dict[str, Track]) -> None:
        """Fuse a detection that fits ``track`` but is older than all of its history, if it may be.

        Reports from many nodes arrive out of measurement order: a plot measured just before the
        one that started a track can arrive after it. A young track (its base still its
        initiation) takes it by retrodiction, within the replay window; anything else older than
        a track's history (or a repeat of a step) is too late.
        """
        base, latest = track.history[0], track.history[-1]
        young = base.key[0] == track.created_time
        if not (young and det.key < base.key and det.time >= latest.key[0] - self._replay_window_s):
            self.counters["too_late"] += 1
            return
        self._estimator.retrodict(track, det)
        track.created_time = det.time
        track.associations += 1
        track.ranged_updates += det.has_range
        self._bank.touch(track)
        self.counters["associated"] += 1
        changed[track.track_id] = track

    def _candidates(
        self, det: Detection, tracks: Sequence[Track], *, prechecked: bool = False
    ) -> list[_Candidate]:
        """(cost, track index, fusable) of every track whose gate ``det`` falls in; the cost
        ``d2 + ln det S`` is the negative log-likelihood up to a constant. ``prechecked``: the
        tracks already passed the pre-gate."""
        out: list[_Candidate] = []
        estimator, gate = self._estimator, self._associator.gate
        for j, track in enumerate(tracks):
            if not prechecked and not estimator.may_gate(track, det):
                continue
            d2, log_det, dim, fusable = estimator.gate(track, det)
            if gate(d2, dim):
                out.append((d2 + log_det, j, fusable, dim))
        return out

    def _start_tracks(self, leftovers: list[Detection], time: float) -> list[Track]:
        """Initiate from detections that fit no track, first offering each to the tracks born
        earlier in this batch (so two radars seeing a new target make one track, not two)."""
        born: list[tuple[Track, set[str]]] = []
        for det in leftovers:
            candidates = [b for b in born if det.sensor_id not in b[1]]
            gated = [g for g in self._candidates(det, [b[0] for b in candidates]) if g[2]]
            if gated:
                track, sensors = candidates[min(gated)[1]]
                self._fuse(track, [det])
                sensors.add(det.sensor_id)
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
        entry = HistoryEntry(
            seed.key,
            seed.detections,
            Gaussian.of(seed.state, seed.covariance),
            seed.altitude_m,
            seed.altitude_var,
        )
        track = Track(track_id=track_id, created_time=seed.key[0], history=[entry])
        track.record(seed.detections)
        self._tracks[track_id] = track
        self._bank.add(track)
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
    bank_from: int = 12,
    one_per_scan: bool = True,
    coverage: Coverage | None = None,
) -> Tracker:
    """A tracker with the default components; any of them can be overridden by keyword.

    The default confirmer and deleter share ``coverage`` (a new :class:`RadarCoverage` if None):
    a track a radar covers needs a radar plot to confirm, and is deleted after radar scans that
    cover it keep missing it. Components given here are used as they are.
    """
    coverage = coverage if coverage is not None else RadarCoverage()
    return Tracker(
        motion=motion if motion is not None else ConstantVelocity(),
        initiator=initiator if initiator is not None else SensorInitiator(),
        associator=associator if associator is not None else GnnAssociator(),
        deleter=deleter if deleter is not None else MissedScanDeleter(coverage=coverage),
        confirmer=confirmer if confirmer is not None else CoverageConfirmer(coverage=coverage),
        filter=filter,
        measurement=measurement,
        replay_window_s=replay_window_s,
        delete_check_s=delete_check_s,
        bank_from=bank_from,
        one_per_scan=one_per_scan,
        coverage=coverage,
    )
