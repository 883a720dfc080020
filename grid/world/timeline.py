"""The scenario's events as pure queries over simulation time, for nodes, the broker and the run.

:class:`Timeline` answers "what is in force at ``t``" for one scenario; it has no clock and no
side effects. An event is in force from ``at_s`` (inclusive) to ``at_s + duration_s``
(exclusive), or to the end of the run when it has no ``duration_s``. Overlapping events combine:

- outages and failures: out while any is in force;
- link impairments of one node: latencies and jitters add, losses combine as independent drops
  (``1 - prod(1 - loss)``), the narrowest bandwidth wins;
- jamming: the factors of every circle a sensor is inside multiply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from grid.geo import LocalFrame
from grid.world.events import (
    BrokerOutage,
    Event,
    Forgery,
    Jamming,
    LinkImpairment,
    NodeOutage,
    SensorFailure,
    Spoofing,
)
from grid.world.roster import SensorKind
from grid.world.scenario import Scenario, Threat
from grid.world.truth import Trajectory, TruthState

__all__ = ["Impairment", "JamEffect", "Timeline", "phantom_trajectory"]


def phantom_trajectory(event: Spoofing | Forgery, frame: LocalFrame) -> Trajectory:
    """Where an event's phantom flies (from the event's ``at_s``), as a threat would."""
    p = event.phantom
    threat = Threat(
        id=p.id,
        start_s=event.at_s,
        speed_mps=p.speed_mps,
        altitude_m=p.altitude_m,
        path=p.path,
        rcs_m2=p.rcs_m2,
        emits_rf=p.emits_rf,
    )
    return Trajectory(threat, frame)


@dataclass(frozen=True, slots=True, kw_only=True)
class Impairment:
    """What a node's link suffers at one time (all zero / None: a clean link)."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    bandwidth_kbps: float | None = None

    @property
    def clean(self) -> bool:
        """Whether the link is unimpaired."""
        return self == Impairment()


@dataclass(frozen=True, slots=True, kw_only=True)
class JamEffect:
    """Factors for one sensor: detection probability times ``pd_factor``, noise times ``noise_factor``."""

    pd_factor: float = 1.0
    noise_factor: float = 1.0


class Timeline:
    """Pure queries over the events of one scenario."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.events: tuple[Event, ...] = tuple(scenario.events)
        self._jam_frames = {
            i: LocalFrame(*e.center) for i, e in enumerate(self.events) if isinstance(e, Jamming)
        }
        frame = LocalFrame(*scenario.origin)
        self._phantoms: list[tuple[Spoofing, Trajectory]] = []
        for event in self.events:
            if isinstance(event, Spoofing):
                self._phantoms.append((event, phantom_trajectory(event, frame)))

    def is_node_out(self, node_id: str, t: float) -> bool:
        """Whether ``node_id`` is down (a ``node_outage``) at ``t``."""
        return any(isinstance(e, NodeOutage) and e.node == node_id and e.active(t) for e in self.events)

    def impairment_for(self, node_id: str, t: float) -> Impairment:
        """The combined link impairment of ``node_id`` at ``t`` (clean when none)."""
        latency = jitter = loss = 0.0
        bandwidth: float | None = None
        for e in self.events:
            if isinstance(e, LinkImpairment) and e.node == node_id and e.active(t):
                latency += e.latency_ms
                jitter += e.jitter_ms
                loss += e.loss - loss * e.loss  # independent drops
                if e.bandwidth_kbps is not None:
                    bandwidth = e.bandwidth_kbps if bandwidth is None else min(bandwidth, e.bandwidth_kbps)
        return Impairment(latency_ms=latency, jitter_ms=jitter, loss=loss, bandwidth_kbps=bandwidth)

    def sensor_failed(self, sensor_id: str, t: float) -> bool:
        """Whether ``sensor_id`` is failed (a ``sensor_failure``) at ``t``."""
        return any(
            isinstance(e, SensorFailure) and e.sensor == sensor_id and e.active(t) for e in self.events
        )

    def jamming_at(self, lat: float, lon: float, t: float, kind: SensorKind) -> JamEffect:
        """The jamming factors for a sensor of ``kind`` at (lat, lon) at ``t``."""
        pd, noise = 1.0, 1.0
        for i, frame in self._jam_frames.items():
            e = self.events[i]
            assert isinstance(e, Jamming)
            if kind not in e.affects or not e.active(t):
                continue
            east, north = (float(v) for v in frame.to_enu(lat, lon, 0.0)[:2])
            if math.hypot(east, north) <= e.radius_m:
                pd *= e.pd_factor
                noise *= e.noise_factor
        return JamEffect(pd_factor=pd, noise_factor=noise)

    def spoof_targets(self, node_id: str, t: float) -> list[TruthState]:
        """The phantom targets ``node_id`` reports at ``t`` (its sensors scan them like real ones)."""
        out: list[TruthState] = []
        for event, trajectory in self._phantoms:
            if event.node == node_id and event.active(t) and (state := trajectory.state(t)) is not None:
                out.append(state)
        return out

    def broker_outages(self) -> list[tuple[float, float]]:
        """(stop, restart) simulation times of each broker outage, in time order."""
        return sorted((e.at_s, e.end_s) for e in self.events if isinstance(e, BrokerOutage))
