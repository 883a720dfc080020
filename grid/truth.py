"""Ground truth: where each scripted threat is at a simulation time.

A threat flies its waypoints in order at constant speed and altitude along straight legs in the
theater tangent plane, from ``start_s`` until it reaches its last waypoint; then it is gone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from grid.geo import LocalFrame
from grid.scenario import Scenario, Threat

__all__ = ["GroundTruth", "Trajectory", "TruthState"]


@dataclass(frozen=True, slots=True)
class TruthState:
    """One threat at one time: plane position, velocity and WGS84 position."""

    threat_id: str
    east: float
    north: float
    vel_east: float
    vel_north: float
    lat: float
    lon: float
    alt_m: float
    emits_rf: bool


class Trajectory:
    """The flight of one threat."""

    def __init__(self, threat: Threat, frame: LocalFrame) -> None:
        self.threat = threat
        self.frame = frame
        pts = np.array([frame.to_enu(lat, lon, 0.0)[:2] for lat, lon in threat.path])
        legs = np.diff(pts, axis=0)
        self._points = pts
        self._lengths = np.hypot(legs[:, 0], legs[:, 1])
        self._cumulative = np.concatenate([[0.0], np.cumsum(self._lengths)])
        self.end_s = threat.start_s + float(self._cumulative[-1]) / threat.speed_mps

    def plane_state(self, t: float) -> tuple[float, float, float, float] | None:
        """(east, north, vel_east, vel_north) at ``t``, or None when the threat is not flying."""
        if t < self.threat.start_s or t > self.end_s:
            return None
        s = (t - self.threat.start_s) * self.threat.speed_mps
        i = min(int(np.searchsorted(self._cumulative, s, side="right")) - 1, len(self._lengths) - 1)
        length = float(self._lengths[i])
        if length == 0.0:
            p = self._points[i]
            return float(p[0]), float(p[1]), 0.0, 0.0
        ux, uy = self._points[i + 1] - self._points[i]
        frac = (s - float(self._cumulative[i])) / length
        east = float(self._points[i][0] + frac * ux)
        north = float(self._points[i][1] + frac * uy)
        v = self.threat.speed_mps / length
        return east, north, float(ux * v), float(uy * v)

    def state(self, t: float) -> TruthState | None:
        """The full truth state at ``t``, or None when the threat is not flying."""
        plane = self.plane_state(t)
        if plane is None:
            return None
        east, north, ve, vn = plane
        lat, lon, alt = self.frame.surface_point(east, north, self.threat.altitude_m)
        return TruthState(self.threat.id, east, north, ve, vn, lat, lon, alt, self.threat.emits_rf)


class GroundTruth:
    """Every threat of a scenario, in scenario order."""

    def __init__(self, scenario: Scenario) -> None:
        self.frame = LocalFrame(*scenario.origin)
        self.trajectories = {t.id: Trajectory(t, self.frame) for t in scenario.threats}

    def at(self, t: float) -> list[TruthState]:
        """The threats flying at ``t``."""
        return [s for traj in self.trajectories.values() if (s := traj.state(t)) is not None]

    def distance_m(self, threat_id: str, t: float, east: float, north: float) -> float:
        """Horizontal distance from (east, north) to the threat at ``t`` (inf when not flying)."""
        plane = self.trajectories[threat_id].plane_state(t)
        if plane is None:
            return math.inf
        return math.hypot(east - plane[0], north - plane[1])
