"""Run metrics, computed from what was observed on the broker and the scenario's ground truth.

Definitions (simulation seconds unless named otherwise):

- ``time_to_first_detection_s``: first report of the threat by any sensor, minus its ``start_s``.
- ``time_to_locate_s``: from ``start_s`` to the first *confirmed* fused track update within
  ``locate_radius_m`` (horizontal) of the threat's true position that stays within it for that
  track's next two updates; null when never located.
- ``rmse_m``: root mean square horizontal error of the confirmed track updates assigned to the
  threat from the locate time on (null when never located); ``rmse_all_m`` over all of them.
- A confirmed track update is *assigned* to the nearest flying threat within ``assoc_radius_m``
  (:meth:`grid.evaluation.truth_table.TruthTable.nearest`, the one assignment every measure uses).
  ``track_ids`` lists every track with an update assigned to the threat.
- ``time_to_awareness_s`` (per member state): when the node first learned of the threat, from its
  own sensors, a grid report, or a confirmed fused track, minus ``start_s``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Literal

import numpy as np

from grid.evaluation.picture import TrackUpdate
from grid.evaluation.truth_table import TruthTable
from grid.world.truth import GroundTruth

__all__ = [
    "assign_updates",
    "assoc_radius_m",
    "group_by_threat",
    "locate",
    "threat_metrics",
    "time_to_locate",
]


def assoc_radius_m(locate_radius_m: float) -> float:
    """How far a confirmed update may be from a threat and still be assigned to it."""
    return max(1000.0, 5 * locate_radius_m)


def assign_updates(
    table: TruthTable, updates: list[TrackUpdate], assoc_radius_m: float
) -> dict[str, list[TrackUpdate]]:
    """Confirmed updates per threat: each goes to the nearest flying threat within the radius."""
    return group_by_threat(table, [u for u in updates if u.confirmed and not u.deleted], assoc_radius_m)


def group_by_threat(
    table: TruthTable, updates: list[TrackUpdate], radius_m: float
) -> dict[str, list[TrackUpdate]]:
    """``updates`` per threat, each given to the nearest flying threat within ``radius_m`` (if any)."""
    owners = table.nearest(
        np.array([u.time for u in updates]),
        np.array([(u.east, u.north) for u in updates]).reshape(-1, 2),
        radius_m,
    )
    out: dict[str, list[TrackUpdate]] = defaultdict(list)
    for u, threat_id in zip(updates, owners, strict=True):
        if threat_id is not None:
            out[threat_id].append(u)
    return out


def time_to_locate(
    truth: GroundTruth, threat_id: str, track_updates: dict[str, list[TrackUpdate]], radius_m: float
) -> tuple[float, str] | None:
    """(locate time, track id) of the earliest located moment over the given tracks, or None."""
    best: tuple[float, str] | None = None
    for track_id, updates in track_updates.items():
        confirmed = sorted((u for u in updates if u.confirmed and not u.deleted), key=lambda u: u.time)
        within = [truth.distance_m(threat_id, u.time, u.east, u.north) <= radius_m for u in confirmed]
        for i in range(len(confirmed) - 2):
            if within[i] and within[i + 1] and within[i + 2]:
                if best is None or confirmed[i].time < best[0]:
                    best = (confirmed[i].time, track_id)
                break
    return best


def _rmse(truth: GroundTruth, threat_id: str, updates: list[TrackUpdate]) -> float | None:
    errors = [truth.distance_m(threat_id, u.time, u.east, u.north) for u in updates]
    errors = [e for e in errors if math.isfinite(e)]
    if not errors:
        return None
    return math.sqrt(sum(e * e for e in errors) / len(errors))


def locate(
    truth: GroundTruth,
    threat_id: str,
    assigned: list[TrackUpdate],
    all_updates: list[TrackUpdate],
    locate_radius_m: float,
) -> tuple[float, str] | None:
    """(locate time, track id) for a threat over every track that has updates assigned to it."""
    track_ids = {u.track_id for u in assigned}
    updates_by_track = {tid: [u for u in all_updates if u.track_id == tid] for tid in sorted(track_ids)}
    return time_to_locate(truth, threat_id, updates_by_track, locate_radius_m)


def threat_metrics(
    truth: GroundTruth,
    threat_id: str,
    *,
    first_report_s: float | None,
    assigned: list[TrackUpdate],
    all_updates: list[TrackUpdate],
    locate_radius_m: float,
    located: tuple[float, str] | Literal["compute"] | None = "compute",
) -> dict[str, Any]:
    """The summary entry of one threat (``located``: from :func:`locate`, computed here if not given)."""
    start = truth.trajectories[threat_id].threat.start_s
    track_ids = sorted({u.track_id for u in assigned})
    if located == "compute":
        located = locate(truth, threat_id, assigned, all_updates, locate_radius_m)
    located_updates = [u for u in assigned if located is not None and u.time >= located[0]]
    return {
        "id": threat_id,
        "detected": first_report_s is not None,
        "time_to_first_detection_s": None if first_report_s is None else round(first_report_s - start, 3),
        "time_to_locate_s": None if located is None else round(located[0] - start, 3),
        "located_by_track": None if located is None else located[1],
        "rmse_m": None if located is None else _round(_rmse(truth, threat_id, located_updates)),
        "rmse_all_m": _round(_rmse(truth, threat_id, assigned)),
        "track_updates": len(assigned),
        "track_ids": track_ids,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
