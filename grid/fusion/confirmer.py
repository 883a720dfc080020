"""Track confirmation: promote a tentative track once enough detections have followed it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from grid.fusion.coverage import Coverage
from grid.fusion.gaussian import worst_axis_sigma
from grid.fusion.track import Track

__all__ = ["Confirmer", "CoverageConfirmer", "MOfNConfirmer", "UpdateCountConfirmer"]


class Confirmer(Protocol):
    """Decides when a tentative track becomes confirmed."""

    def is_confirmed(self, track: Track) -> bool:
        """Whether ``track`` has earned confirmation."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateCountConfirmer:
    """Confirmed after ``confirm_updates`` associated detections (those that initiated the
    track do not count) from at least ``min_sensors`` distinct sensors (initiators included),
    once its worst-axis position sigma is at most ``max_position_sigma_m``.

    With the defaults a radar-started track confirms on its 4th detection. The sigma rule
    holds back tracks that detections do not pin down: clutter crossings and bearing ghosts
    fed from one direction stay long and thin, and tentative until deleted.
    """

    confirm_updates: int = 3
    min_sensors: int = 1
    max_position_sigma_m: float = 500.0

    def is_confirmed(self, track: Track) -> bool:
        """See class docstring."""
        if track.associations < self.confirm_updates or len(track.sensor_ids) < self.min_sensors:
            return False
        p = track.latest.estimate.p
        return worst_axis_sigma(p[0], p[1], p[5]) <= self.max_position_sigma_m


@dataclass(frozen=True, slots=True, kw_only=True)
class MOfNConfirmer:
    """M-of-N: confirmed once ``m`` of the first ``n`` scans of ``scan_s`` seconds, from its first
    detection (initiating ones included), held a detection of it, and its worst-axis position
    sigma is at most ``max_position_sigma_m``. A track that misses its chance stays tentative
    until the deleter's tentative timeout.

    The fusion centre has no common scan: ``scan_s`` is a time window, about the revisit time of
    the sensors that see a target.
    """

    m: int = 3
    n: int = 5
    scan_s: float = 2.0
    max_position_sigma_m: float = 500.0

    def is_confirmed(self, track: Track) -> bool:
        """See class docstring."""
        if not track.hit_times:
            return False
        start = track.hit_times[0]
        scans = {int((t - start) // self.scan_s) for t in track.hit_times}
        if sum(1 for k in scans if k < self.n) < self.m:
            return False
        p = track.latest.estimate.p
        return worst_axis_sigma(p[0], p[1], p[5]) <= self.max_position_sigma_m


@dataclass(frozen=True, slots=True, kw_only=True)
class CoverageConfirmer:
    """``inner``'s rule, and where a radar covers the track (``coverage``), at least
    ``min_ranged_updates`` ranged detections after its initiation.

    Bearings alone are weak evidence in a crowd: with several targets about, some bearing of
    each direction finder passes near almost any point of the sector they look into, so a track
    started from a clutter plot keeps finding bearings to confirm it. A radar that covers the
    spot would plot a real target within a scan or two; until one does, the track waits (and
    the deleter's tentative timeout removes it if none ever does).
    """

    coverage: Coverage
    inner: Confirmer = field(default_factory=UpdateCountConfirmer)
    min_ranged_updates: int = 1

    def is_confirmed(self, track: Track) -> bool:
        """See class docstring."""
        if not self.inner.is_confirmed(track):
            return False
        return track.ranged_updates >= self.min_ranged_updates or not self.coverage.covers(track)
