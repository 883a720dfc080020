"""Run metrics, computed from what was observed on the broker and the scenario's ground truth.

Definitions (simulation seconds unless named otherwise):

- ``time_to_first_detection_s``: first report of the threat by any sensor, minus its ``start_s``.
- ``time_to_locate_s``: from ``start_s`` to the first *confirmed* fused track update within
  ``locate_radius_m`` (horizontal) of the threat's true position that stays within it for that
  track's next two updates; null when never located.
- ``rmse_m``: root mean square horizontal error of the confirmed track updates assigned to the
  threat from the locate time on (null when never located); ``rmse_all_m`` over all of them.
- A confirmed track update is *assigned* to the nearest flying threat within ``assoc_radius_m``.
  ``track_ids`` lists every track with an update assigned to the threat.
- ``time_to_awareness_s`` (per member state): when the node first learned of the threat, from its
  own sensors, a grid report, or a confirmed fused track, minus ``start_s``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

from grid.world.truth import GroundTruth

__all__ = ["TrackPoint", "assign_points", "assoc_radius_m", "locate", "threat_metrics", "time_to_locate"]


def assoc_radius_m(locate_radius_m: float) -> float:
    """How far a confirmed update may be from a threat and still be assigned to it."""
    return max(1000.0, 5 * locate_radius_m)


@dataclass(frozen=True, slots=True)
class TrackPoint:
    """One fused track update as published."""

    time: float
    track_id: str
    east: float
    north: float
    confirmed: bool


def assign_points(
    truth: GroundTruth, points: list[TrackPoint], assoc_radius_m: float
) -> dict[str, list[TrackPoint]]:
    """Confirmed updates per threat: each goes to the nearest flying threat within the radius."""
    out: dict[str, list[TrackPoint]] = defaultdict(list)
    for p in points:
        if not p.confirmed:
            continue
        best, best_d = None, assoc_radius_m
        for threat_id in truth.trajectories:
            d = truth.distance_m(threat_id, p.time, p.east, p.north)
            if d <= best_d:
                best, best_d = threat_id, d
        if best is not None:
            out[best].append(p)
    return out


def time_to_locate(
    truth: GroundTruth, threat_id: str, track_updates: dict[str, list[TrackPoint]], radius_m: float
) -> tuple[float, str] | None:
    """(locate time, track id) of the earliest located moment over the given tracks, or None."""
    best: tuple[float, str] | None = None
    for track_id, updates in track_updates.items():
        confirmed = sorted((p for p in updates if p.confirmed), key=lambda p: p.time)
        within = [truth.distance_m(threat_id, p.time, p.east, p.north) <= radius_m for p in confirmed]
        for i in range(len(confirmed) - 2):
            if within[i] and within[i + 1] and within[i + 2]:
                if best is None or confirmed[i].time < best[0]:
                    best = (confirmed[i].time, track_id)
                break
    return best


def _rmse(truth: GroundTruth, threat_id: str, points: list[TrackPoint]) -> float | None:
    errors = [truth.distance_m(threat_id, p.time, p.east, p.north) for p in points]
    errors = [e for e in errors if math.isfinite(e)]
    if not errors:
        return None
    return math.sqrt(sum(e * e for e in errors) / len(errors))


def locate(
    truth: GroundTruth,
    threat_id: str,
    assigned: list[TrackPoint],
    all_points: list[TrackPoint],
    locate_radius_m: float,
) -> tuple[float, str] | None:
    """(locate time, track id) for a threat over every track that has points assigned to it."""
    track_ids = {p.track_id for p in assigned}
    updates_by_track = {tid: [p for p in all_points if p.track_id == tid] for tid in sorted(track_ids)}
    return time_to_locate(truth, threat_id, updates_by_track, locate_radius_m)


def threat_metrics(
    truth: GroundTruth,
    threat_id: str,
    *,
    first_report_s: float | None,
    assigned: list[TrackPoint],
    all_points: list[TrackPoint],
    locate_radius_m: float,
    located: tuple[float, str] | Literal["compute"] | None = "compute",
) -> dict[str, Any]:
    """The summary entry of one threat (``located``: from :func:`locate`, computed here if not given)."""
    start = truth.trajectories[threat_id].threat.start_s
    track_ids = sorted({p.track_id for p in assigned})
    if located == "compute":
        located = locate(truth, threat_id, assigned, all_points, locate_radius_m)
    located_points = [p for p in assigned if located is not None and p.time >= located[0]]
    return {
        "id": threat_id,
        "detected": first_report_s is not None,
        "time_to_first_detection_s": None if first_report_s is None else round(first_report_s - start, 3),
        "time_to_locate_s": None if located is None else round(located[0] - start, 3),
        "located_by_track": None if located is None else located[1],
        "rmse_m": None if located is None else _round(_rmse(truth, threat_id, located_points)),
        "rmse_all_m": _round(_rmse(truth, threat_id, assigned)),
        "track_updates": len(assigned),
        "track_ids": track_ids,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
