"""Tracks: the mutable internal record and the frozen snapshot that is published."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from grid.fusion.detection import Array, Detection

__all__ = ["DEFAULT_ALTITUDE_M", "HistoryEntry", "Track", "TrackSnapshot", "TrackStatus", "position_sigma"]

DEFAULT_ALTITUDE_M = 300.0


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

    @property
    def position_sigma_m(self) -> float:
        """Root of the larger eigenvalue of the horizontal position covariance."""
        return position_sigma(self.covariance)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One fused step of a track: the detections fused and the posterior after them.

    The first entry of a history is the base: the initiation, or the newest step that has
    fallen out of the replay window. It is never re-applied.
    """

    key: tuple[float, str, str]
    detections: tuple[Detection, ...]
    state: Array
    covariance: Array
    altitude_m: float
    altitude_var: float

    @property
    def time(self) -> float:
        """Measurement time of the step."""
        return self.key[0]


@dataclass(slots=True, kw_only=True)
class Track:
    """A track while it lives in the tracker; only the tracker mutates it."""

    track_id: str
    created_time: float
    history: list[HistoryEntry]
    status: TrackStatus = TrackStatus.TENTATIVE
    updates: int = 0
    associations: int = 0
    node_ids: set[str] = field(default_factory=set)
    sensor_ids: set[str] = field(default_factory=set)
    truth_ids: set[str] = field(default_factory=set)

    @property
    def latest(self) -> HistoryEntry:
        """The newest posterior."""
        return self.history[-1]

    @property
    def time(self) -> float:
        """Measurement time of the newest fused detection."""
        return self.history[-1].time

    def record(self, detections: tuple[Detection, ...]) -> None:
        """Count ``detections`` as fused and collect their node, sensor and truth labels."""
        self.updates += len(detections)
        for det in detections:
            self.node_ids.add(det.node_id)
            self.sensor_ids.add(det.sensor_id)
            if det.truth_id is not None:
                self.truth_ids.add(det.truth_id)

    def snapshot(self) -> TrackSnapshot:
        """A frozen view of the track now."""
        latest = self.history[-1]
        return TrackSnapshot(
            track_id=self.track_id,
            status=self.status,
            time=latest.time,
            state=latest.state,
            covariance=latest.covariance,
            altitude_m=latest.altitude_m,
            node_ids=frozenset(self.node_ids),
            sensor_ids=frozenset(self.sensor_ids),
            truth_ids=frozenset(self.truth_ids),
            updates=self.updates,
        )


def position_sigma(covariance: Array) -> float:
    """Root of the larger eigenvalue of the (e, n) block of ``covariance``: the worst-axis sigma."""
    a, b, d = float(covariance[0, 0]), float(covariance[0, 1]), float(covariance[1, 1])
    half_trace = 0.5 * (a + d)
    return math.sqrt(half_trace + math.sqrt(max(0.25 * (a - d) ** 2 + b * b, 0.0)))
