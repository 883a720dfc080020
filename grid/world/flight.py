"""Flight plans: the path language of scenario threats and spoofed phantoms, and how it is flown.

A path is a list of items flown in order, in the theater tangent plane:

- ``[lat, lon]``: a waypoint (WGS84 degrees).
- ``{lat, lon, speed_mps?, alt_m?}``: a waypoint that also sets the speed (m/s) and/or the
  altitude (m above the ellipsoid) of the leg that starts there. Both carry forward: they hold
  for every later leg until another item changes them. Altitude changes are steps.
- ``{loiter: {center: [lat, lon], radius_m, turns | duration_s, direction?, speed_mps?, alt_m?}}``:
  fly straight to the circle's entry point (the point of the circle nearest to where the flight
  is), orbit it ``turns`` full turns (or for ``duration_s`` seconds), ``direction: cw`` (default,
  clockwise seen from above) or ``ccw``, then fly on from where the orbit ends. Its ``speed_mps``
  and ``alt_m`` apply from the orbit on, and carry forward like a waypoint's.

The first item must be a waypoint. The plan's ``speed_mps`` and ``altitude_m`` are the values at
the first waypoint; either may be left out when the first waypoint sets it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from grid.geo import LocalFrame

__all__ = [
    "FlightPlan",
    "LatLon",
    "Loiter",
    "LoiterItem",
    "PathItem",
    "Segment",
    "Turn",
    "Waypoint",
    "fly",
    "item_position",
]

LatLon = Annotated[
    tuple[Annotated[float, Field(ge=-90, le=90)], Annotated[float, Field(ge=-180, le=180)]],
    Field(description="[lat, lon] in WGS84 degrees"),
]
Speed = Annotated[float, Field(gt=0, le=1500)]
Altitude = Annotated[float, Field(ge=0, le=20_000)]

PATH_ITEM_TAGS = frozenset({"point", "waypoint", "loiter"})  # union tags pydantic puts in error paths


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Turn(StrEnum):
    """Direction of a loiter orbit, seen from above."""

    CW = "cw"
    CCW = "ccw"


class Waypoint(_Strict):
    """A waypoint that may set the speed and altitude from here on."""

    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    speed_mps: Speed | None = None
    alt_m: Altitude | None = None


class Loiter(_Strict):
    """A circular orbit flown for a number of turns or a duration."""

    center: LatLon
    radius_m: Annotated[float, Field(gt=0, le=200_000)]
    turns: Annotated[float, Field(gt=0, le=1000)] | None = None
    duration_s: Annotated[float, Field(gt=0, le=86_400)] | None = None
    direction: Turn = Turn.CW
    speed_mps: Speed | None = None
    alt_m: Altitude | None = None

    @model_validator(mode="after")
    def _one_length(self) -> Self:
        if (self.turns is None) == (self.duration_s is None):
            raise ValueError("turns: give exactly one of turns or duration_s")
        return self


class LoiterItem(_Strict):
    """A path item holding one loiter."""

    loiter: Loiter


def _item_tag(value: Any) -> str | None:
    if isinstance(value, list | tuple):
        return "point"
    if isinstance(value, Waypoint | LoiterItem):
        return "loiter" if isinstance(value, LoiterItem) else "waypoint"
    if isinstance(value, dict):
        return "loiter" if "loiter" in value else "waypoint"
    return None


PathItem = Annotated[
    Annotated[LatLon, Tag("point")]
    | Annotated[Waypoint, Tag("waypoint")]
    | Annotated[LoiterItem, Tag("loiter")],
    Discriminator(
        _item_tag,
        custom_error_type="path_item",
        custom_error_message="expected [lat, lon], {lat, lon, speed_mps?, alt_m?} or {loiter: {...}}",
    ),
]


def item_position(item: tuple[float, float] | Waypoint | LoiterItem) -> tuple[float, float]:
    """(lat, lon) of a waypoint, or the centre of a loiter."""
    if isinstance(item, LoiterItem):
        return item.loiter.center
    if isinstance(item, Waypoint):
        return item.lat, item.lon
    return item


class FlightPlan(_Strict):
    """Speed, altitude and the path: what every flying thing of a scenario shares."""

    speed_mps: Speed | None = None
    altitude_m: Altitude | None = None
    path: Annotated[list[PathItem], Field(min_length=2, max_length=500)]

    @model_validator(mode="after")
    def _check_plan(self) -> Self:
        first = self.path[0]
        if isinstance(first, LoiterItem):
            raise ValueError("path[0]: a path starts at a waypoint, not a loiter")
        on_first = first if isinstance(first, Waypoint) else None
        if self.speed_mps is None and (on_first is None or on_first.speed_mps is None):
            raise ValueError("speed_mps: required field is missing (give it here or on the first waypoint)")
        if self.altitude_m is None and (on_first is None or on_first.alt_m is None):
            raise ValueError("altitude_m: required field is missing (give it here or on the first waypoint)")
        return self


@dataclass(frozen=True, slots=True)
class Segment:
    """One straight leg or orbit arc, in plane metres, from ``t0`` (seconds after the start)."""

    t0: float
    duration: float
    speed: float
    alt: float
    start: tuple[float, float]
    end: tuple[float, float]
    center: tuple[float, float] | None = None  # set for an arc
    radius: float = 0.0
    theta0: float = 0.0  # bearing (radians, clockwise from north) of the arc start, seen from the centre
    sweep: float = 0.0  # radians swept, positive clockwise

    def at(self, dt: float) -> tuple[float, float, float, float]:
        """(east, north, vel_east, vel_north) ``dt`` seconds into this segment."""
        if self.center is None:
            if self.duration == 0.0:
                return *self.start, 0.0, 0.0
            frac = dt / self.duration
            ux, uy = self.end[0] - self.start[0], self.end[1] - self.start[1]
            v = self.speed / math.hypot(ux, uy)
            return self.start[0] + frac * ux, self.start[1] + frac * uy, ux * v, uy * v
        sign = 1.0 if self.sweep >= 0 else -1.0
        theta = self.theta0 + sign * self.speed * dt / self.radius
        cx, cy = self.center
        return (
            cx + self.radius * math.sin(theta),
            cy + self.radius * math.cos(theta),
            sign * self.speed * math.cos(theta),
            -sign * self.speed * math.sin(theta),
        )


def _line(t0: float, a: tuple[float, float], b: tuple[float, float], speed: float, alt: float) -> Segment:
    return Segment(t0, math.hypot(b[0] - a[0], b[1] - a[1]) / speed, speed, alt, a, b)


def fly(plan: FlightPlan, frame: LocalFrame) -> list[Segment]:
    """The segments of ``plan`` in ``frame``'s plane, back to back from time 0."""
    assert plan.speed_mps is not None or isinstance(plan.path[0], Waypoint)  # checked by the schema

    def plane(lat: float, lon: float) -> tuple[float, float]:
        e, n = (float(v) for v in frame.to_enu(lat, lon, 0.0)[:2])
        return e, n

    speed = plan.speed_mps or 0.0
    alt = plan.altitude_m or 0.0
    here = plane(*item_position(plan.path[0]))
    t = 0.0
    out: list[Segment] = []
    for i, item in enumerate(plan.path):
        if isinstance(item, LoiterItem):
            orbit = item.loiter
            centre = plane(*orbit.center)
            dx, dy = here[0] - centre[0], here[1] - centre[1]
            theta0 = math.atan2(dx, dy) if math.hypot(dx, dy) > 0.0 else 0.0
            entry = (
                centre[0] + orbit.radius_m * math.sin(theta0),
                centre[1] + orbit.radius_m * math.cos(theta0),
            )
            out.append(_line(t, here, entry, speed, alt))
            t += out[-1].duration
            speed, alt = orbit.speed_mps or speed, orbit.alt_m if orbit.alt_m is not None else alt
            if orbit.turns is not None:
                angle = 2 * math.pi * orbit.turns
            else:
                assert orbit.duration_s is not None  # the schema gives one of the two
                angle = speed * orbit.duration_s / orbit.radius_m
            sweep = angle if orbit.direction is Turn.CW else -angle
            duration = angle * orbit.radius_m / speed
            end = theta0 + sweep
            here = (centre[0] + orbit.radius_m * math.sin(end), centre[1] + orbit.radius_m * math.cos(end))
            out.append(Segment(t, duration, speed, alt, entry, here, centre, orbit.radius_m, theta0, sweep))
            t += duration
            continue
        point = plane(*item_position(item))
        if i > 0:
            out.append(_line(t, here, point, speed, alt))
            t += out[-1].duration
        here = point
        if isinstance(item, Waypoint):
            speed = item.speed_mps or speed
            alt = item.alt_m if item.alt_m is not None else alt
    return out
