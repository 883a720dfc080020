"""A ``forgery`` event's entry in the summary: what the outsider did, who refused it, and whether
its phantom was tracked.

The run's receivers count what they refuse by reason, not by sender: the entry gives the fusion
centre's counts and those of the member's peers (the nodes that read its topic). In the bundled
scenarios nothing but the outsider is refused; a run with other faults may add to the counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grid.evaluation.picture import TrackUpdate
from grid.geo import LocalFrame
from grid.wire.counters import REJECTED_PREFIX
from grid.world.events import Forgery
from grid.world.roster import Roster
from grid.world.timeline import phantom_trajectory

__all__ = ["ForgeryView", "add_outsider", "forgery_entry"]

_NOT_PLAYED = "not played: only `gridsim run` plays an outsider (not `gridsim up` with `inject`)"


@dataclass(frozen=True, kw_only=True)
class ForgeryView:
    """What the summary knows that a forgery's entry needs: the fused tracks and the centre's refusals."""

    frame: LocalFrame
    track_updates: Sequence[TrackUpdate]
    radius_m: float  # a confirmed update this close to the phantom tracks it
    fusion_rejected: Mapping[str, int]
    fusion_duplicates: int = 0


def _phantom_tracks(e: Forgery, view: ForgeryView) -> tuple[list[str], float | None]:
    """Confirmed tracks that came within the radius of the phantom, and the nearest any came (m)."""
    trajectory = phantom_trajectory(e, view.frame)
    near: set[str] = set()
    nearest = math.inf
    for u in view.track_updates:
        if not u.confirmed or u.deleted or not e.active(u.time):
            continue
        plane = trajectory.plane_state(u.time)
        if plane is None:
            continue
        d = math.hypot(u.east - plane[0], u.north - plane[1])
        nearest = min(nearest, d)
        if d <= view.radius_m:
            near.add(u.track_id)
    return sorted(near), None if math.isinf(nearest) else round(nearest, 1)


def forgery_entry(
    e: Forgery, view: ForgeryView, *, roster: Roster, per_node: Mapping[str, Mapping[str, int]]
) -> dict[str, Any]:
    """The entry's fields from the run's own records; :func:`add_outsider` adds the outsider's account."""
    tracks, nearest = _phantom_tracks(e, view)
    peers: dict[str, int] = {}
    for node in roster.peers(e.as_node):
        for key, n in per_node.get(node, {}).items():
            if key.startswith(REJECTED_PREFIX) and n:
                reason = key.removeprefix(REJECTED_PREFIX)
                peers[reason] = peers.get(reason, 0) + n
    entry: dict[str, Any] = {
        "as_node": e.as_node,
        "phantom": e.phantom.id,
        "forms": [f.value for f in e.forms],
        "rate_hz": e.rate_hz,
        "rejected_by_fusion": dict(sorted((k, v) for k, v in view.fusion_rejected.items() if v)),
        "fusion_duplicates": view.fusion_duplicates,
        "rejected_by_peers": dict(sorted(peers.items())),
        "peers": len(roster.peers(e.as_node)),
        "phantom_tracked": bool(tracks),
        "phantom_tracks": tracks,
        "nearest_track_m": nearest,
        "track_radius_m": view.radius_m,
        "outsider": None,
    }
    entry["caught_by"] = _caught_by(entry)
    return entry


def add_outsider(entry: dict[str, Any], account: Mapping[str, Any]) -> None:
    """Put the outsider's account (:meth:`OutsiderAccount.to_dict`) in a forgery entry, and the verdict."""
    entry["outsider"] = dict(account)
    entry["caught_by"] = _caught_by(entry)


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


def _caught_by(entry: Mapping[str, Any]) -> str:
    """What stopped the outsider, if anything: the broker, the receivers' checks, or nothing."""
    outsider = entry["outsider"]
    tracks = entry["phantom_tracks"]
    tracked = (
        f"; its phantom was tracked ({', '.join(tracks)})" if tracks else "; its phantom was never tracked"
    )
    if outsider is None:
        return _NOT_PLAYED
    if outsider["refused_by_broker"] is not None:
        return (
            f"the broker: it refused the outsider's connection, so nothing was published{tracked} "
            f"[{outsider['refused_by_broker']}]"
        )
    sent = outsider["published_total"]
    refused, peers = entry["rejected_by_fusion"], entry["rejected_by_peers"]
    counted = (
        f"the fusion centre refused {sum(refused.values())} of the outsider's {sent} messages "
        f"({_counts(refused)}), {entry['as_node']}'s {entry['peers']} peers {sum(peers.values())} in all"
    )
    if outsider.get("connection_lost"):
        counted += f" (then it lost its connection: {outsider['connection_lost']})"
    if entry["fusion_duplicates"]:
        # Counted by report, not by message: a replayed scan may hold several.
        counted += f", and the centre dropped {entry['fusion_duplicates']} reports as duplicates"
    if tracks:
        return f"nothing: {counted}; it took the rest as {entry['as_node']}'s{tracked}"
    if refused:
        return f"the receivers' checks: {counted}{tracked}"
    return f"nothing refused of {sent} forged messages{tracked}"
