"""The grid's MQTT messages as the live map's events, and the picture a newly opened page starts from.

Each event is a small JSON map with a kind ``k``:

- ``run``: a run started or ended (id, scenario name, speed, wall clock of simulation time 0);
- ``status``: a node's or service's retained status (online, running, offline);
- ``scan``: one sensor scan: the sensor's position, radar plots (range and bearing) and bearing
  rays (bearing only, drawn out to the sensor's maximum range);
- ``track``: a fused track: position, velocity and its 95 % position ellipse from the covariance;
- ``alert``: a member state's first awareness of a threat, a track confirmed, a node offline, a
  Joint Cyber Centre flag;
- ``indicator``: an indicator the cyber hub shared.

A message that does not decode is counted by reason, never fatal (:attr:`Feed.rejected`).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter, deque
from typing import Any

from grid.errors import MessageRejected
from grid.mqtt.transport import Received
from grid.wire import topics
from grid.wire.messages import (
    Awareness,
    CyberFlag,
    CyberObjects,
    Envelope,
    FusedTrack,
    NodeState,
    NodeStatus,
    RunAction,
    RunControl,
    SensorScan,
    ThreatReport,
)
from grid.world.roster import Roster

__all__ = ["SUBSCRIPTIONS", "Feed", "destination", "ellipse", "sites"]

Event = dict[str, Any]

SUBSCRIPTIONS = (
    topics.ALL_STATUS,
    topics.ALL_REPORTS,
    topics.TRACKS,
    topics.ALL_AWARENESS,
    topics.CONTROL,
    topics.CYBER_JCC,
    topics.CYBER_FLAGS,
)
_EARTH_M = 6_371_008.8
_CHI2_95_2D = 5.991  # 95 % of a 2-D Gaussian lies within this squared Mahalanobis distance
_RECENT_ALERTS = 50
_RECENT_INDICATORS = 50


def destination(lat: float, lon: float, bearing_deg: float, distance_m: float) -> tuple[float, float]:
    """The point ``distance_m`` from (lat, lon) along ``bearing_deg`` on a sphere (degrees, 5 decimals)."""
    phi, lam, theta = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    delta = distance_m / _EARTH_M
    phi2 = math.asin(math.sin(phi) * math.cos(delta) + math.cos(phi) * math.sin(delta) * math.cos(theta))
    lam2 = lam + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi), math.cos(delta) - math.sin(phi) * math.sin(phi2)
    )
    return round(math.degrees(phi2), 5), round((math.degrees(lam2) + 540) % 360 - 180, 5)


def ellipse(covariance: tuple[float, ...]) -> tuple[float, float, float]:
    """The 95 % position ellipse of a 4x4 [e, n, ve, vn] covariance: semi-axes (m) and the major
    axis's bearing (degrees clockwise from north)."""
    a, b, d = covariance[0], covariance[1], covariance[5]
    mean, half = (a + d) / 2, math.hypot((a - d) / 2, b)
    major, minor = max(mean + half, 0.0), max(mean - half, 0.0)
    east_angle = 0.5 * math.atan2(2 * b, a - d)  # the major axis, counter-clockwise from east
    k = math.sqrt(_CHI2_95_2D)
    return (
        round(k * math.sqrt(major), 1),
        round(k * math.sqrt(minor), 1),
        round(90 - math.degrees(east_angle), 1),
    )


def sites(roster: Roster) -> list[Event]:
    """Every member state's sensor sites (an airborne sensor at its orbit's centre), for the map."""
    out: list[Event] = []
    for member in roster.values():
        for sensor in member.sensors:
            point = sensor.site if sensor.site is not None else sensor.orbit.center if sensor.orbit else None
            if point is None:
                continue
            out.append(
                {
                    "node": member.id,
                    "name": member.name,
                    "sensor": sensor.id,
                    "kind": sensor.kind.value,
                    "at": [point.lat, point.lon],
                    "range_m": sensor.range_m,
                    "airborne": sensor.site is None,
                }
            )
    return out


def _scan_event(node: str, reports: tuple[ThreatReport, ...]) -> Event:
    first = reports[0]
    plots, rays = [], []
    for r in reports:
        if r.range_m is not None:
            elevation = math.radians(r.elevation_deg or 0.0)
            plots.append(
                destination(r.sensor_lat, r.sensor_lon, r.bearing_deg, r.range_m * math.cos(elevation))
            )
        else:
            rays.append(destination(r.sensor_lat, r.sensor_lon, r.bearing_deg, r.max_range_m))
    return {
        "k": "scan",
        "node": node,
        "sensor": first.sensor_id,
        "kind": first.sensor_kind,
        "t": round(first.time_s, 2),
        "from": [round(first.sensor_lat, 5), round(first.sensor_lon, 5)],
        "plots": plots,
        "rays": rays,
    }


def _track_event(body: FusedTrack) -> Event:
    major, minor, bearing = ellipse(body.covariance)
    return {
        "k": "track",
        "id": body.track_id,
        "status": body.status,
        "t": round(body.time_s, 2),
        "at": [round(body.lat, 5), round(body.lon, 5)],
        "speed_mps": round(math.hypot(body.vel_east_mps, body.vel_north_mps), 1),
        "course_deg": round(math.degrees(math.atan2(body.vel_east_mps, body.vel_north_mps)) % 360, 1),
        "ellipse": [major, minor, bearing],
        "nodes": list(body.node_ids),
        "updates": body.updates,
    }


def _indicators(body: CyberObjects) -> list[Event]:
    """The hub's shared indicators, one event each (other STIX objects are context only)."""
    try:
        objects = json.loads(body.objects)
    except ValueError as exc:
        raise MessageRejected("bad_value", f"cyber objects are not JSON: {exc}") from exc
    if not isinstance(objects, list):
        raise MessageRejected("bad_value", "cyber objects: expected a JSON list")
    return [
        {
            "k": "indicator",
            "key": body.key,
            "id": str(o.get("id", "")),
            "name": str(o.get("name", "")),
            "pattern": str(o.get("pattern", "")),
            "types": [str(t) for t in o.get("indicator_types", [])][:5],
        }
        for o in objects
        if isinstance(o, dict) and o.get("type") == "indicator"
    ]


class Feed:
    """Translates received messages into events and keeps the current picture.

    The picture (run, statuses, live tracks, recent alerts and indicators) is what a page that
    opens mid-run is sent first; reports are not kept, they are only worth seeing as they come.
    """

    def __init__(self) -> None:
        self.received = 0
        self.rejected: Counter[str] = Counter()
        self._run: Event | None = None
        self._status: dict[str, Event] = {}
        self._tracks: dict[str, Event] = {}
        self._alerts: deque[Event] = deque(maxlen=_RECENT_ALERTS)
        self._indicators: deque[Event] = deque(maxlen=_RECENT_INDICATORS)
        self._confirmed: set[str] = set()

    def snapshot(self) -> list[Event]:
        """The events that rebuild the current picture on a new page."""
        run = [self._run] if self._run is not None else []
        return [*run, *self._status.values(), *self._tracks.values(), *self._alerts, *self._indicators]

    def take(self, received: Received) -> list[Event]:
        """The events of one received message; a bad message is counted and gives none."""
        self.received += 1
        if not received.payload:
            return []  # a retained message cleared (the run control at a run's end)
        try:
            parsed = topics.parse_topic(received.topic)
            env = Envelope.from_bytes(received.payload)
            return self._events(env, parsed)
        except MessageRejected as exc:
            self.rejected[exc.reason] += 1
            return []

    def stats(self) -> Event:
        """The feed's counters."""
        return {"received": self.received, "rejected": dict(self.rejected), "tracks": len(self._tracks)}

    # One case, and one return, per message type the page shows.
    def _events(self, env: Envelope, parsed: topics.ParsedTopic) -> list[Event]:  # noqa: PLR0911
        body = env.body
        match body:
            case SensorScan() | ThreatReport() if parsed.kind is topics.TopicKind.REPORT:
                reports = body.reports if isinstance(body, SensorScan) else (body,)
                return [_scan_event(parsed.node or env.origin, reports)]
            case FusedTrack():
                return self._on_track(body)
            case NodeStatus():
                return self._on_status(body)
            case RunControl():
                return self._on_control(body)
            case Awareness():
                return [self._alert(body.time_s, f"{body.node_id} aware of {body.threat_id} ({body.source})")]
            case CyberObjects() if parsed.kind is topics.TopicKind.CYBER_JCC:
                events = _indicators(body)
                self._indicators.extend(events)
                return events
            case CyberFlag():
                return [self._alert(body.time_s, f"JCC flagged {body.key}", level="cyber")]
        raise MessageRejected("unexpected_type", f"{type(body).__name__} on {parsed.kind}")

    def _alert(self, time_s: float | None, text: str, *, level: str = "info") -> Event:
        event = {
            "k": "alert",
            "t": None if time_s is None else round(time_s, 1),
            "text": text,
            "level": level,
        }
        self._alerts.append(event)
        return event

    def _on_track(self, body: FusedTrack) -> list[Event]:
        event = _track_event(body)
        out = [event]
        if body.status == "deleted":
            self._tracks.pop(body.track_id, None)
            self._confirmed.discard(body.track_id)
        else:
            self._tracks[body.track_id] = event
            if body.status == "confirmed" and body.track_id not in self._confirmed:
                self._confirmed.add(body.track_id)
                out.append(self._alert(body.time_s, f"track {body.track_id} confirmed", level="track"))
        return out

    def _on_status(self, body: NodeStatus) -> list[Event]:
        event = {"k": "status", "node": body.node_id, "state": body.state.value}
        before = self._status.get(body.node_id)
        self._status[body.node_id] = event
        out: list[Event] = [event]
        was_up = before is not None and before["state"] != NodeState.OFFLINE.value
        if body.state is NodeState.OFFLINE and was_up:
            out.append(self._alert(self._sim_now(), f"{body.node_id} offline", level="warning"))
        return out

    def _sim_now(self) -> float | None:
        """The run's simulation time now, from its start's epoch and speed (a status carries no time)."""
        if self._run is None or self._run["action"] != RunAction.START.value:
            return None
        elapsed_s = (time.time_ns() // 1_000_000 - int(self._run["epoch_ms"])) / 1000
        return max(0.0, elapsed_s * float(self._run["speed"]))

    def _on_control(self, body: RunControl) -> list[Event]:
        if body.action is RunAction.START and (self._run is None or self._run["run"] != body.run_id):
            # A new run: the last one's tracks and alerts are gone from its picture.
            self._tracks.clear()
            self._confirmed.clear()
            self._alerts.clear()
            self._indicators.clear()
        self._run = {
            "k": "run",
            "action": body.action.value,
            "run": body.run_id,
            "name": str(body.scenario.get("name", "")),
            "speed": body.speed,
            "epoch_ms": body.epoch_ns // 1_000_000,
            "duration_s": body.scenario.get("duration_s"),
        }
        return [self._run]
