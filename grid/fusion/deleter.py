"""Track deletion: coasting too long, growing too uncertain, or never confirmed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from grid.fusion.models import MotionModel
from grid.fusion.track import Track, TrackStatus, position_sigma

__all__ = ["CoastingDeleter", "Deleter"]


class Deleter(Protocol):
    """Decides which tracks to drop."""

    def should_delete(self, track: Track, time: float, motion: MotionModel) -> bool:
        """Whether ``track`` should be deleted at simulation time ``time``."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CoastingDeleter:
    """Deletes a track that coasted ``max_coast_s`` without an update, whose predicted position
    sigma (worst axis) exceeds ``max_position_sigma_m``, or that stayed tentative for
    ``tentative_timeout_s`` after its creation."""

    max_coast_s: float = 30.0
    max_position_sigma_m: float = 5000.0
    tentative_timeout_s: float = 15.0

    def should_delete(self, track: Track, time: float, motion: MotionModel) -> bool:
        """See class docstring."""
        coast = time - track.time
        if coast > self.max_coast_s:
            return True
        if track.status is TrackStatus.TENTATIVE and time - track.created_time > self.tentative_timeout_s:
            return True
        covariance = track.latest.covariance
        if coast > 0.0:
            f = motion.transition(coast)
            covariance = f @ covariance @ f.T + motion.noise(coast)
        return position_sigma(covariance) > self.max_position_sigma_m
