"""Track deletion: coasting too long, growing too uncertain, never confirmed, or unseen by radars."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from grid.fusion.coverage import Coverage
from grid.fusion.gaussian import worst_axis_sigma
from grid.fusion.models import MotionModel
from grid.fusion.track import Track, TrackStatus

__all__ = ["CoastingDeleter", "Deleter", "MissedScanDeleter"]


class Deleter(Protocol):
    """Decides which tracks to drop."""

    def should_delete(self, track: Track, time: float, motion: MotionModel) -> bool:
        """Whether ``track`` should be deleted at simulation time ``time``."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CoastingDeleter:
    """Deletes a track that coasted ``max_coast_s`` without an update, whose predicted position
    sigma (worst axis) exceeds ``max_position_sigma_m``, that stayed tentative for
    ``tentative_timeout_s`` after its creation, or that was fed by bearings only from fewer
    than ``min_bearing_sensors`` distinct sensors over its replay history (at least
    ``diversity_age_s`` old; 0 disables the rule).

    The last rule removes ghosts: two bearing sensors looking at two different targets see
    lines that cross where nothing flies, and keep crossing there as the targets move; a third
    sensor's bearings, or any range, would not fit the ghost.
    """

    max_coast_s: float = 30.0
    max_position_sigma_m: float = 5000.0
    tentative_timeout_s: float = 15.0
    min_bearing_sensors: int = 3
    diversity_age_s: float = 20.0

    def should_delete(self, track: Track, time: float, motion: MotionModel) -> bool:
        """See class docstring."""
        coast = time - track.time
        if coast > self.max_coast_s:
            return True
        if track.status is TrackStatus.TENTATIVE and time - track.created_time > self.tentative_timeout_s:
            return True
        if self.min_bearing_sensors > 0 and time - track.created_time > self.diversity_age_s:
            sensors = set()
            for entry in track.history[1:]:
                det = entry.detections[0]
                if det.has_range:
                    break
                sensors.add(det.sensor_id)
            else:
                if len(track.history) > 1 and len(sensors) < self.min_bearing_sensors:
                    return True
        estimate = track.latest.estimate
        if coast > 0.0:
            estimate = motion.predict(estimate, coast)
        p = estimate.p
        return worst_axis_sigma(p[0], p[1], p[5]) > self.max_position_sigma_m


@dataclass(frozen=True, slots=True, kw_only=True)
class MissedScanDeleter:
    """``inner``'s rules, and a track that ``max_misses`` radar scans covering it
    (``coverage``) since its newest ranged detection did not plot (0 disables the rule).

    Bearings can feed a track that no target makes (a clutter plot's, where several targets'
    lines of sight pass); radars that cover it and keep plotting nothing there say it is not
    real.
    """

    coverage: Coverage
    inner: Deleter = field(default_factory=CoastingDeleter)
    max_misses: int = 8

    def should_delete(self, track: Track, time: float, motion: MotionModel) -> bool:
        """See class docstring."""
        if self.inner.should_delete(track, time, motion):
            return True
        return self.max_misses > 0 and self.coverage.misses(track, time) >= self.max_misses
