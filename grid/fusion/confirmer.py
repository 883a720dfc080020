"""Track confirmation: promote a tentative track once enough detections have followed it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from grid.fusion.track import Track

__all__ = ["Confirmer", "UpdateCountConfirmer"]


class Confirmer(Protocol):
    """Decides when a tentative track becomes confirmed."""

    def is_confirmed(self, track: Track) -> bool:
        """Whether ``track`` has earned confirmation."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateCountConfirmer:
    """Confirmed after ``confirm_updates`` associated detections (those that initiated the
    track do not count) from at least ``min_sensors`` distinct sensors (initiators included).

    With the defaults a radar-started track confirms on its 4th detection and a track started by
    two crossed bearings on its 5th: a false crossing rarely keeps attracting detections.
    """

    confirm_updates: int = 3
    min_sensors: int = 1

    def is_confirmed(self, track: Track) -> bool:
        """See class docstring."""
        return track.associations >= self.confirm_updates and len(track.sensor_ids) >= self.min_sensors
