"""Recorded reports for the benchmark: gridsim's own sensors against its ground truth, no MQTT.

A recording is deterministic for a scenario, roster and seed. Clutter is the benchmark's own:
uniformly distributed false bearings and radar plots, a Poisson number per scan, so cases stay
comparable whatever the roster's false-alarm settings (those are left out). Link delay is
applied separately (:func:`arrivals`), so the same measurements can be replayed with and
without it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from grid.fusion import Detection
from grid.geo import LocalFrame
from grid.world.roster import Roster, SensorSpec
from grid.world.scenario import Scenario
from grid.world.sensors import Measurement, SimulatedSensor
from grid.world.truth import GroundTruth

__all__ = ["Arrival", "Recording", "arrivals", "record"]

_CLUTTER_ELEVATION_DEG = 3.0  # false radar plots: elevation uniform in [0, this]


@dataclass(frozen=True, slots=True)
class Recording:
    """Every report of one scenario run, in measurement-time order.

    ``detections`` carry ``truth_id`` (None for clutter); only evaluation reads it.
    """

    scenario: Scenario
    truth: GroundTruth
    frame: LocalFrame
    detections: tuple[Detection, ...]
    sensors: dict[str, SensorSpec]

    def of_truth(self, threat_id: str) -> list[Detection]:
        """The detections of one threat, in time order."""
        return [d for d in self.detections if d.truth_id == threat_id]

    @property
    def clutter(self) -> int:
        """How many detections are clutter."""
        return sum(1 for d in self.detections if d.truth_id is None)


@dataclass(frozen=True, slots=True)
class Arrival:
    """A report reaching the fusion centre at ``time`` (its measurement time plus link delay)."""

    time: float
    detection: Detection


def _stream(seed: int, *labels: str) -> np.random.Generator:
    keys = [int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "little") for label in labels]
    return np.random.default_rng([seed, *keys])


class _Converter:
    """Measurements to detections in the theater frame; fixed sites are converted once."""

    def __init__(self, frame: LocalFrame, owner: dict[str, str]) -> None:
        self.frame = frame
        self.owner = owner
        self._sites: dict[tuple[float, float, float], tuple[np.ndarray, np.ndarray]] = {}
        self._count = 0

    def site(self, lat: float, lon: float, alt: float) -> tuple[np.ndarray, np.ndarray]:
        key = (lat, lon, alt)
        found = self._sites.get(key)
        if found is None:
            found = (self.frame.to_enu(lat, lon, alt), self.frame.rotation_to(lat, lon))
            if len(self._sites) < 10_000:  # an orbiting sensor is somewhere new at every scan
                self._sites[key] = found
        return found

    def detection(
        self,
        spec: SensorSpec,
        m: Measurement,
        *,
        bearing_deg: float | None = None,
        range_m: float | None = None,
        elevation_deg: float | None = None,
        clutter: bool = False,
    ) -> Detection:
        enu, rotation = self.site(m.sensor_lat, m.sensor_lon, m.sensor_alt_m)
        self._count += 1
        if clutter:
            bearing, rng, elev, truth = bearing_deg, range_m, elevation_deg, None
        else:
            bearing, rng, elev, truth = m.bearing_deg, m.range_m, m.elevation_deg, m.threat_id
        assert bearing is not None
        return Detection(
            time=m.time_s,
            report_id=f"{spec.id}#{self._count}",
            node_id=self.owner[spec.id],
            sensor_id=spec.id,
            sensor_enu=enu,
            rotation=rotation,
            bearing_rad=math.radians(bearing),
            sigma_bearing_rad=math.radians(spec.sigma_bearing_deg),
            range_m=rng,
            sigma_range_m=spec.sigma_range_m if rng is not None else None,
            elevation_rad=None if elev is None else math.radians(elev),
            sigma_elevation_rad=None
            if elev is None or spec.sigma_elevation_deg is None
            else math.radians(spec.sigma_elevation_deg),
            max_range_m=spec.range_m,
            truth_id=truth,
        )


def _clutter(
    conv: _Converter,
    *,
    spec: SensorSpec,
    t: float,
    here: tuple[float, float, float],
    rng: np.random.Generator,
    rate: float,
) -> list[Detection]:
    out = []
    for _ in range(int(rng.poisson(rate))):
        bearing = float(rng.uniform(0.0, 360.0))
        ranged = spec.sigma_range_m is not None
        range_m = float(rng.uniform(spec.min_range_m, spec.range_m)) if ranged else None
        elev = float(rng.uniform(0.0, _CLUTTER_ELEVATION_DEG)) if ranged else None
        m = Measurement(None, t, *here, bearing, range_m, elev)
        out.append(
            conv.detection(spec, m, bearing_deg=bearing, range_m=range_m, elevation_deg=elev, clutter=True)
        )
    return out


def record(scenario: Scenario, roster: Roster, *, clutter_per_scan: float = 0.0) -> Recording:
    """Play every roster sensor against the scenario's truth and collect the detections.

    Args:
        scenario: threats, duration and seed.
        roster: the member states and their sensors.
        clutter_per_scan: mean number of false reports per sensor scan (Poisson).
    """
    truth = GroundTruth(scenario)
    conv = _Converter(truth.frame, roster.sensor_owner())
    specs = {s.id: s for m in roster.values() for s in m.sensors}
    out: list[Detection] = []
    starts = [traj.threat.start_s for traj in truth.trajectories.values()]
    ends = [traj.end_s for traj in truth.trajectories.values()]
    first, last = min(starts), min(max(ends), scenario.duration_s)
    for spec in specs.values():
        sensor = SimulatedSensor(spec, seed=scenario.seed)
        clutter_rng = _stream(scenario.seed, spec.id, "bench-clutter")
        for t in sensor.scan_times(scenario.duration_s):
            flying = truth.at(t) if first <= t <= last else []
            scan = sensor.scan(t, flying)
            out.extend(conv.detection(spec, m) for m in scan if m.threat_id is not None)
            if clutter_per_scan > 0.0:
                out.extend(
                    _clutter(
                        conv, spec=spec, t=t, here=sensor.position(t), rng=clutter_rng, rate=clutter_per_scan
                    )
                )
    out.sort(key=lambda d: d.key)
    return Recording(scenario, truth, truth.frame, tuple(out), specs)


def arrivals(recording: Recording, *, delay_s: float = 0.0, seed: int = 0) -> list[Arrival]:
    """The reports in the order they reach the fusion centre.

    With ``delay_s`` > 0 each report is delayed by a uniform draw in ``[0, 2 delay_s]`` (mean
    ``delay_s``), so reports of different sensors overtake each other.
    """
    if delay_s <= 0.0:
        return [Arrival(d.time, d) for d in recording.detections]
    rng = np.random.default_rng([seed, 300])
    delays = rng.uniform(0.0, 2.0 * delay_s, len(recording.detections))
    out = [Arrival(d.time + float(x), d) for d, x in zip(recording.detections, delays, strict=True)]
    out.sort(key=lambda a: (a.time, a.detection.key))
    return out
