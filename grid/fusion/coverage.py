"""Radar coverage: where ranged sensors have looked, and which tracks they should have seen.

The fusion centre learns of a radar scan only from the reports it sends (a scan with nothing
to report sends nothing), so only scans that reported something count. A scan *covers* a track
when the track's position at the scan time is within ``reach`` of the sensor's maximum range
and above its radio horizon: close enough that a real target would most likely have been
plotted. A track inside coverage that gets no plot is evidence against it.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Protocol

from grid.fusion.detection import Detection
from grid.fusion.models import altitude_of
from grid.fusion.track import Track

__all__ = ["Coverage", "RadarCoverage", "Scan"]

_TWO_KR = 2.0 * 4.0 / 3.0 * 6_371_000.0  # twice the 4/3 effective Earth radius (standard refraction)


@dataclass(frozen=True, slots=True)
class Scan:
    """One scan of a ranged sensor, as known from a report of it."""

    time: float
    sensor_id: str
    east: float
    north: float
    antenna_horizon_m: float  # the antenna's own share of the radio horizon distance
    reach_m: float  # the ground distance within which it is expected to plot a target


class Coverage(Protocol):
    """Radar scans as seen through their reports, judged against tracks."""

    def observe(self, detection: Detection) -> None:
        """Note the scan ``detection`` belongs to (the tracker calls this for every report)."""
        ...

    def covers(self, track: Track) -> bool:
        """Whether a ranged sensor that reported recently covers the track's latest position."""
        ...

    def misses(self, track: Track, time: float) -> int:
        """Covering scans since the track's newest ranged detection that gave it none."""
        ...


def _key(scan: Scan) -> float:
    return scan.time


@dataclass(slots=True, kw_only=True)
class RadarCoverage:
    """Recent scans of ranged sensors (radars, AEW), each from the first report of it.

    Attributes:
        reach: fraction of a sensor's ``max_range_m`` within which it should plot a target (a
            small drone is plotted with Pd above about 0.5 there; beyond, a miss says little).
        active_s: a sensor covers a track only if it reported within this long before the
            newest report seen.
        settle_s: a scan is judged this long after its time, once its reports have arrived.
        keep_s: scans older than this before the newest report are forgotten.
    """

    reach: float = 0.4
    active_s: float = 30.0
    settle_s: float = 2.0
    keep_s: float = 60.0
    _scans: list[Scan] = field(default_factory=list, init=False, repr=False)  # by time
    _seen: set[tuple[float, str]] = field(default_factory=set, init=False, repr=False)
    _latest: dict[str, Scan] = field(default_factory=dict, init=False, repr=False)
    _now: float = field(default=-math.inf, init=False, repr=False)

    @property
    def scans(self) -> tuple[Scan, ...]:
        """The scans kept, oldest first."""
        return tuple(self._scans)

    def observe(self, detection: Detection) -> None:
        """Record the scan of a ranged detection (bearing-only reports are ignored)."""
        if not detection.has_range or detection.max_range_m is None:
            return
        key = (detection.time, detection.sensor_id)
        if key in self._seen:
            return
        e, n, _ = detection.site
        antenna = math.sqrt(_TWO_KR * max(0.0, altitude_of(detection.sensor_enu)))
        scan = Scan(detection.time, detection.sensor_id, e, n, antenna, self.reach * detection.max_range_m)
        self._seen.add(key)
        bisect.insort(self._scans, scan, key=_key)
        latest = self._latest.get(scan.sensor_id)
        if latest is None or latest.time < scan.time:
            self._latest[scan.sensor_id] = scan
        if scan.time > self._now:
            self._now = scan.time
            self._forget(scan.time - self.keep_s)

    def covers(self, track: Track) -> bool:
        """Whether a sensor that reported within ``active_s`` covers the track where it is now."""
        oldest = self._now - self.active_s
        time = track.time
        return any(scan.time >= oldest and _sees(scan, track, time) for scan in self._latest.values())

    def misses(self, track: Track, time: float) -> int:
        """Covering scans after the track's newest ranged detection (and after its creation), up
        to ``time - settle_s``, that gave it no ranged detection; kept on the track and counted
        incrementally."""
        since = max(track.ranged_time, track.created_time)
        if since != track.misses_since:
            track.misses, track.misses_since, track.judged_until = 0, since, since
        until = time - self.settle_s
        start = track.judged_until
        if until <= start:
            return track.misses
        scans = self._scans
        k = bisect.bisect_right(scans, start, key=_key)
        while k < len(scans) and scans[k].time <= until:
            if _sees(scans[k], track, scans[k].time):
                track.misses += 1
            k += 1
        track.judged_until = until
        return track.misses

    def _forget(self, before: float) -> None:
        k = bisect.bisect_left(self._scans, before, key=_key)
        if k:
            for scan in self._scans[:k]:
                self._seen.discard((scan.time, scan.sensor_id))
            del self._scans[:k]


def _sees(scan: Scan, track: Track, time: float) -> bool:
    """Whether ``scan`` should have plotted the track at ``time`` (its latest estimate moved
    there at constant velocity): within reach and above the radio horizon."""
    latest = track.history[-1]
    x = latest.estimate.x
    dt = time - latest.key[0]
    distance = math.hypot(x[0] + x[2] * dt - scan.east, x[1] + x[3] * dt - scan.north)
    if distance > scan.reach_m:
        return False
    # A target one sigma lower than estimated, as a clutter plot's altitude may be far off.
    low = max(0.0, latest.altitude_m - math.sqrt(latest.altitude_var))
    return distance <= scan.antenna_horizon_m + math.sqrt(_TWO_KR * low)
