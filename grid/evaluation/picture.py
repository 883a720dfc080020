"""The tracked picture: track updates as published, and the set of live estimates at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from grid.fusion import TrackSnapshot, TrackStatus

__all__ = ["TrackUpdate", "picture_at", "pictures", "updates_from_snapshots"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackUpdate:
    """One fused track update as published: what every measure of a tracked picture is computed from.

    ``time`` is the measurement time the estimate is valid at; ``issued`` is when the tracker
    produced it (the arrival time of the report that caused it), never before ``time``.
    """

    time: float
    issued: float
    track_id: str
    east: float
    north: float
    vel_east: float = 0.0
    vel_north: float = 0.0
    confirmed: bool = True
    deleted: bool = False


def updates_from_snapshots(stream: Iterable[tuple[float, TrackSnapshot]]) -> list[TrackUpdate]:
    """Track updates from (issue time, snapshot) pairs, in issue order."""
    out = []
    for issued, s in stream:
        east, north, ve, vn = (float(v) for v in s.state)
        out.append(
            TrackUpdate(
                time=s.time,
                issued=max(issued, s.time),
                track_id=s.track_id,
                east=east,
                north=north,
                vel_east=ve,
                vel_north=vn,
                confirmed=s.status is TrackStatus.CONFIRMED,
                deleted=s.status is TrackStatus.DELETED,
            )
        )
    return out


def pictures(
    updates: list[TrackUpdate],
    times: Iterable[float],
    *,
    max_age_s: float = 10.0,
    confirmed_only: bool = True,
) -> Iterator[dict[str, tuple[float, float]]]:
    """For each of ``times`` (ascending), track id -> (east, north) of every live track then.

    A track is live at ``t`` if its latest update issued by ``t`` is not a deletion and is at
    most ``max_age_s`` old; its position is extrapolated to ``t`` by its velocity. ``updates``
    must be in issue order.
    """
    latest: dict[str, TrackUpdate] = {}
    k = 0
    for t in times:
        while k < len(updates) and updates[k].issued <= t:
            latest[updates[k].track_id] = updates[k]
            k += 1
        out = {}
        for track_id, u in latest.items():
            dt = t - u.time
            if u.deleted or dt > max_age_s or (confirmed_only and not u.confirmed):
                continue
            out[track_id] = (u.east + u.vel_east * dt, u.north + u.vel_north * dt)
        yield out


def picture_at(
    updates: list[TrackUpdate], t: float, *, max_age_s: float = 10.0, confirmed_only: bool = True
) -> dict[str, tuple[float, float]]:
    """The picture at one time (see :func:`pictures`)."""
    return next(pictures(updates, [t], max_age_s=max_age_s, confirmed_only=confirmed_only))
