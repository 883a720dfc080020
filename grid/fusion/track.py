"""Tracks: the mutable internal record and the frozen snapshot that is published."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from grid.fusion.detection import Array, Detection
from grid.fusion.gaussian import Gaussian

__all__ = ["DEFAULT_ALTITUDE_M", "HistoryEntry", "Track", "TrackSnapshot", "TrackStatus"]

DEFAULT_ALTITUDE_M = 300.0
_HITS_KEPT = 64


class TrackStatus(StrEnum):
    """Life cycle of a track."""

    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackSnapshot:
    """What the tracker returns and the fusion centre publishes about one track.

    ``time`` is the measurement time of the latest fused detection; ``state`` is
    ``[e, n, ve, vn]`` in the theater frame at that time (read-only arrays).
    """

    track_id: str
    status: TrackStatus
    time: float
    state: Array
    covariance: Array
    altitude_m: float
    node_ids: frozenset[str]
    sensor_ids: frozenset[str]
    truth_ids: frozenset[str]
    updates: int


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One fused step of a track: the detections fused and the estimate after them.

    The first entry of a history is the base: the initiation, or the newest step that has
    fallen out of the replay window. It is never re-applied.
    """

    key: tuple[float, str, str]
    detections: tuple[Detection, ...]
    estimate: Gaussian
    altitude_m: float
    altitude_var: float
    nis: float = 0.0  # the step's normalised innovation squared per dimension, d2 / dim
    weight: float = 1.0  # probability the detection is this track's (JPDA); 1 for GNN

    @property
    def time(self) -> float:
        """Measurement time of the step."""
        return self.key[0]

    @property
    def state(self) -> Array:
        """The posterior mean as a read-only array."""
        return self.estimate.state

    @property
    def covariance(self) -> Array:
        """The posterior covariance as a read-only array."""
        return self.estimate.covariance


@dataclass(slots=True, kw_only=True)
class Track:
    """A track while it lives in the tracker; only the tracker mutates it.

    ``associations`` counts detections fused after initiation, ``ranged_updates`` those of them
    with a range; ``nis`` is the exponentially weighted mean of their normalised innovation
    squared per dimension (about 1 for a track that follows a real target, well above for one
    fed by clutter). ``ranged_time`` is the measurement time of the newest ranged detection
    (initiating ones included). ``misses``, ``misses_since`` and ``judged_until`` are the
    coverage's running tally of radar scans that should have plotted the track and did not
    (:class:`~grid.fusion.coverage.RadarCoverage`).
    """

    track_id: str
    created_time: float
    history: list[HistoryEntry]
    status: TrackStatus = TrackStatus.TENTATIVE
    updates: int = 0
    associations: int = 0
    ranged_updates: int = 0
    nis: float = 1.0
    node_ids: frozenset[str] = frozenset()
    sensor_ids: frozenset[str] = frozenset()
    truth_ids: frozenset[str] = frozenset()
    hit_times: list[float] = field(default_factory=list)  # measurement times of its first detections
    ranged_time: float = -math.inf
    misses: int = 0
    misses_since: float = -math.inf
    judged_until: float = -math.inf

    @property
    def latest(self) -> HistoryEntry:
        """The newest posterior."""
        return self.history[-1]

    @property
    def time(self) -> float:
        """Measurement time of the newest fused detection."""
        return self.history[-1].time

    def record(self, detections: tuple[Detection, ...] | list[Detection]) -> None:
        """Count ``detections`` as fused and collect their node, sensor and truth labels."""
        self.updates += len(detections)
        for det in detections:
            if len(self.hit_times) < _HITS_KEPT:
                self.hit_times.append(det.time)
            if det.has_range and det.time > self.ranged_time:
                self.ranged_time = det.time
            self.relabel(det)

    def relabel(self, det: Detection) -> None:
        """Collect the node, sensor and truth labels of ``det`` (fused in place of another)."""
        # Frozensets are rebuilt only when a label is new: snapshots then share them for free.
        if det.node_id not in self.node_ids:
            self.node_ids = self.node_ids | {det.node_id}
        if det.sensor_id not in self.sensor_ids:
            self.sensor_ids = self.sensor_ids | {det.sensor_id}
        if det.truth_id is not None and det.truth_id not in self.truth_ids:
            self.truth_ids = self.truth_ids | {det.truth_id}

    def snapshot(self) -> TrackSnapshot:
        """A frozen view of the track now."""
        latest = self.history[-1]
        return TrackSnapshot(
            track_id=self.track_id,
            status=self.status,
            time=latest.key[0],
            state=latest.estimate.state,
            covariance=latest.estimate.covariance,
            altitude_m=latest.altitude_m,
            node_ids=self.node_ids,
            sensor_ids=self.sensor_ids,
            truth_ids=self.truth_ids,
            updates=self.updates,
        )
