"""Track quality of one run against its ground truth.

Definitions (simulation seconds; an update is *assigned* to the nearest flying threat within
``assoc_radius_m`` at its measurement time):

- ``time_to_first_detection_s``: first report of the threat by any sensor, minus ``start_s``.
- ``time_to_first_track_s``: first track update (tentative or confirmed) assigned to it.
- ``time_to_locate_s``: as the spine defines it (:func:`grid.evaluation.metrics.time_to_locate`): the first
  confirmed update within ``locate_radius_m`` that stays within it for that track's next two.
- ``converged_rmse_m``: horizontal RMSE of the confirmed updates of the track matched to the
  threat (below) from ``settle_s`` after its first detection on (the converged period). Not the
  run summary's ``rmse_m`` (:mod:`grid.evaluation.metrics`: every confirmed update assigned to
  the threat, from its locate time on).
- ``id_switches`` and ``track_breaks``: every ``step_s``, flying threats are matched to live
  confirmed tracks as in the CLEAR MOT metrics: a threat keeps its track while that track is
  live and within ``assoc_radius_m``, the others are matched by optimal assignment. A switch is
  a threat matched to a different track than the last one it was matched to; a break is a
  threat that lost its match and later regained one.
- ``false_tracks``: confirmed tracks never assigned to any threat.
- ``ospa_m`` / ``gospa_m``: means over the same steps, cut-off ``assoc_radius_m``, order 2.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

from grid.evaluation.metrics import group_by_threat, time_to_locate
from grid.evaluation.ospa import gospa, ospa
from grid.evaluation.picture import TrackUpdate, pictures
from grid.evaluation.truth_table import TruthTable

__all__ = ["RunQuality", "Scoring", "ThreatQuality", "evaluate", "labelled_quality"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Scoring:
    """How a run is scored: see the module docstring."""

    first_detection: dict[str, float]
    locate_radius_m: float
    assoc_radius_m: float = 1000.0
    settle_s: float = 60.0
    step_s: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreatQuality:
    """The measures of one threat (None: never reached)."""

    threat_id: str
    time_to_first_detection_s: float | None
    time_to_first_track_s: float | None
    time_to_locate_s: float | None
    converged_rmse_m: float | None
    squared_errors: tuple[tuple[float, float], ...]  # (time, squared horizontal error)
    track_ids: tuple[str, ...]
    id_switches: int
    track_breaks: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunQuality:
    """The measures of a run."""

    threats: dict[str, ThreatQuality]
    false_tracks: int
    ospa_m: float
    gospa_m: float
    ospa_series: tuple[tuple[float, float], ...]  # (time, OSPA m) every step
    gospa_series: tuple[tuple[float, float], ...] = ()  # (time, GOSPA m) every step

    @property
    def converged_rmse_m(self) -> float | None:
        """Converged RMSE pooled over every threat's converged updates."""
        errors = [e for q in self.threats.values() for _, e in q.squared_errors]
        return math.sqrt(sum(errors) / len(errors)) if errors else None

    @property
    def located(self) -> int:
        """How many threats were located."""
        return sum(1 for q in self.threats.values() if q.time_to_locate_s is not None)


def _switches(sequence: list[str | None]) -> tuple[int, int]:
    """(id switches, track breaks) of one threat's per-step matched track ids."""
    switches = breaks = 0
    last: str | None = None
    gap = False
    for track_id in sequence:
        if track_id is None:
            gap = last is not None
            continue
        if last is not None and track_id != last:
            switches += 1
        if gap:
            breaks += 1
            gap = False
        last = track_id
    return switches, breaks


def _match(
    flying: list[int],
    truths: list[tuple[float, float]],
    picture: dict[str, tuple[float, float]],
    previous: dict[int, str],
    radius: float,
) -> dict[int, str]:
    """Threat index -> track id at one step, CLEAR MOT style: a threat keeps its previous track
    while that track is live and within ``radius``; the rest are matched optimally."""
    matched: dict[int, str] = {}
    for j, (e, n) in zip(flying, truths, strict=True):
        track_id = previous.get(j)
        if track_id is not None and track_id in picture:
            te, tn = picture[track_id]
            if math.hypot(te - e, tn - n) <= radius:
                matched[j] = track_id
    taken = set(matched.values())
    rest = [(j, p) for j, p in zip(flying, truths, strict=True) if j not in matched]
    ids = [i for i in picture if i not in taken]
    if rest and ids:
        tp = np.array([p for _, p in rest])
        ep = np.array([picture[i] for i in ids])
        d = np.hypot(tp[:, None, 0] - ep[None, :, 0], tp[:, None, 1] - ep[None, :, 1])
        rows, cols = linear_sum_assignment(np.minimum(d, radius * 10.0))
        matched.update({rest[r][0]: ids[c] for r, c in zip(rows, cols, strict=True) if d[r, c] <= radius})
    return matched


def _matches(
    table: TruthTable, updates: list[TrackUpdate], times: list[float], radius: float
) -> tuple[dict[str, dict[int, str | None]], list[tuple[float, float]], list[float]]:
    """Per-threat matched track id at each step it flies (by step index), and OSPA and GOSPA per step."""
    sequences: dict[str, dict[int, str | None]] = {tid: {} for tid in table.ids}
    ospas: list[tuple[float, float]] = []
    gospas: list[float] = []
    positions = table.positions(np.array(times)) if times else np.empty((0, len(table.ids), 2))
    previous: dict[int, str] = {}
    for k, (t, pos, picture) in enumerate(zip(times, positions, pictures(updates, times), strict=True)):
        flying = [j for j in range(len(table.ids)) if not np.isnan(pos[j, 0])]
        truths = [(float(pos[j, 0]), float(pos[j, 1])) for j in flying]
        ids = list(picture)
        estimates = [picture[i] for i in ids]
        ospas.append((t, ospa(truths, estimates, c=radius)))
        gospas.append(gospa(truths, estimates, c=radius).distance)
        matched = _match(flying, truths, picture, previous, radius)
        previous = matched
        for j in flying:
            sequences[table.ids[j]][k] = matched.get(j)
    return sequences, ospas, gospas


def evaluate(
    table: TruthTable,
    updates: list[TrackUpdate],
    scoring: Scoring,
    *,
    located: Mapping[str, tuple[float, str] | None] | None = None,
) -> RunQuality:
    """Every measure of a run from its track updates (in issue order).

    ``located``: each threat's (locate time, track id) when the caller has it already (the run
    summary does); computed here otherwise, by the same definition.
    """
    truth = table.truth
    radius = scoring.assoc_radius_m
    by_threat = group_by_threat(table, updates, radius)
    updates_by_track: dict[str, list[TrackUpdate]] = defaultdict(list)
    for u in updates:
        updates_by_track[u.track_id].append(u)
    end = float(table.end.max()) if len(table.end) else 0.0
    times = [float(t) for t in np.arange(table.t0, end + 1e-9, scoring.step_s)]
    sequences, ospas, gospas = _matches(table, updates, times, radius)
    threats: dict[str, ThreatQuality] = {}
    for threat_id, traj in truth.trajectories.items():
        start = traj.threat.start_s
        mine = by_threat.get(threat_id, [])
        confirmed = [u for u in mine if u.confirmed and not u.deleted]
        track_ids = sorted({u.track_id for u in confirmed})
        located_at = (
            located[threat_id]
            if located is not None and threat_id in located
            else time_to_locate(
                truth, threat_id, {tid: updates_by_track[tid] for tid in track_ids}, scoring.locate_radius_m
            )
        )
        first = scoring.first_detection.get(threat_id)
        matched = sequences[threat_id]
        errors: tuple[tuple[float, float], ...] = ()
        if first is not None:
            # Only the track matched to the threat counts; a duplicate nearby is a false estimate.
            errors = tuple(
                (u.time, truth.distance_m(threat_id, u.time, u.east, u.north) ** 2)
                for u in confirmed
                if u.time >= first + scoring.settle_s
                and matched.get(math.ceil((u.issued - table.t0) / scoring.step_s - 1e-9)) == u.track_id
            )
        switches, breaks = _switches(list(matched.values()))
        first_track = min((u.time for u in mine if not u.deleted), default=None)
        threats[threat_id] = ThreatQuality(
            threat_id=threat_id,
            time_to_first_detection_s=None if first is None else first - start,
            time_to_first_track_s=None if first_track is None else first_track - start,
            time_to_locate_s=None if located_at is None else located_at[0] - start,
            converged_rmse_m=math.sqrt(sum(e for _, e in errors) / len(errors)) if errors else None,
            squared_errors=errors,
            track_ids=tuple(track_ids),
            id_switches=switches,
            track_breaks=breaks,
        )
    true_tracks = {u.track_id for us in by_threat.values() for u in us if u.confirmed}
    all_confirmed = {u.track_id for u in updates if u.confirmed}
    return RunQuality(
        threats=threats,
        false_tracks=len(all_confirmed - true_tracks),
        ospa_m=float(np.mean([v for _, v in ospas])) if ospas else 0.0,
        gospa_m=float(np.mean(gospas)) if gospas else 0.0,
        ospa_series=tuple(ospas),
        gospa_series=tuple((t, g) for (t, _), g in zip(ospas, gospas, strict=True)),
    )


def labelled_quality(
    table: TruthTable, updates: list[TrackUpdate], scoring: Scoring
) -> dict[str, ThreatQuality]:
    """Measures of single-target filter runs whose track id is the threat id (no assignment)."""
    truth = table.truth
    by_threat: dict[str, list[TrackUpdate]] = defaultdict(list)
    for u in updates:
        by_threat[u.track_id].append(u)
    out = {}
    for threat_id, mine in by_threat.items():
        start = truth.trajectories[threat_id].threat.start_s
        # A filter's every estimate counts (it has no track confirmation of its own).
        estimates = [dataclasses.replace(u, confirmed=True, deleted=False) for u in mine]
        located = time_to_locate(truth, threat_id, {threat_id: estimates}, scoring.locate_radius_m)
        first = scoring.first_detection.get(threat_id, math.inf)
        errors = tuple(
            (u.time, truth.distance_m(threat_id, u.time, u.east, u.north) ** 2)
            for u in mine
            if u.time >= first + scoring.settle_s
        )
        out[threat_id] = ThreatQuality(
            threat_id=threat_id,
            time_to_first_detection_s=None if math.isinf(first) else first - start,
            time_to_first_track_s=mine[0].time - start if mine else None,
            time_to_locate_s=None if located is None else located[0] - start,
            converged_rmse_m=math.sqrt(sum(e for _, e in errors) / len(errors)) if errors else None,
            squared_errors=errors,
            track_ids=(threat_id,),
            id_switches=0,
            track_breaks=0,
        )
    return out
