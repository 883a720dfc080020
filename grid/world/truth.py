"""Ground truth: where each scripted threat is at a simulation time.

A threat flies its flight plan (:mod:`grid.world.flight`: straight legs and loiter arcs, each at its
own speed and altitude) in the theater tangent plane, from ``start_s`` until the end of its path;
then it is gone. A swarm is expanded into its members (:meth:`Scenario.expanded_threats`), each
a trajectory of its own under its member id, so metrics treat every member as a threat.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from grid.geo import LocalFrame
from grid.world.flight import Segment, fly
from grid.world.scenario import Scenario, Threat

__all__ = ["GroundTruth", "Trajectory", "TruthState"]


@dataclass(frozen=True, slots=True)
class TruthState:
    """One threat at one time: plane position, velocity, WGS84 position and what sensors see of it.

    ``rcs_m2`` is the radar cross-section (m², default 1) that radar detection depends on.
    """

    threat_id: str
    east: float
    north: float
    vel_east: float
    vel_north: float
    lat: float
    lon: float
    alt_m: float
    emits_rf: bool
    rcs_m2: float = 1.0


class Trajectory:
    """The flight of one threat."""

    def __init__(self, threat: Threat, frame: LocalFrame) -> None:
        self.threat = threat
        self.frame = frame
        self.segments: list[Segment] = fly(threat, frame)
        self._starts = [s.t0 for s in self.segments]
        last = self.segments[-1]
        self.end_s = threat.start_s + last.t0 + last.duration

    def _segment(self, t: float) -> tuple[Segment, float] | None:
        if t < self.threat.start_s or t > self.end_s:
            return None
        dt = t - self.threat.start_s
        i = max(0, bisect.bisect_right(self._starts, dt) - 1)
        seg = self.segments[i]
        return seg, min(dt - seg.t0, seg.duration)

    def plane_state(self, t: float) -> tuple[float, float, float, float] | None:
        """(east, north, vel_east, vel_north) at ``t``, or None when the threat is not flying."""
        found = self._segment(t)
        if found is None:
            return None
        seg, dt = found
        return seg.at(dt)

    def altitude_m(self, t: float) -> float | None:
        """Altitude at ``t``, or None when the threat is not flying."""
        found = self._segment(t)
        return None if found is None else found[0].alt

    def state(self, t: float) -> TruthState | None:
        """The full truth state at ``t``, or None when the threat is not flying."""
        found = self._segment(t)
        if found is None:
            return None
        seg, dt = found
        east, north, ve, vn = seg.at(dt)
        lat, lon, alt = self.frame.surface_point(east, north, seg.alt)
        threat = self.threat
        return TruthState(threat.id, east, north, ve, vn, lat, lon, alt, threat.emits_rf, threat.rcs_m2)


class GroundTruth:
    """Every flying threat of a scenario (swarm members expanded), in scenario order."""

    def __init__(self, scenario: Scenario) -> None:
        self.frame = LocalFrame(*scenario.origin)
        self.trajectories = {t.id: Trajectory(t, self.frame) for t in scenario.expanded_threats()}

    def at(self, t: float) -> list[TruthState]:
        """The threats flying at ``t``."""
        return [s for traj in self.trajectories.values() if (s := traj.state(t)) is not None]

    def distance_m(self, threat_id: str, t: float, east: float, north: float) -> float:
        """Horizontal distance from (east, north) to the threat at ``t`` (inf when not flying)."""
        plane = self.trajectories[threat_id].plane_state(t)
        if plane is None:
            return math.inf
        return math.hypot(east - plane[0], north - plane[1])
