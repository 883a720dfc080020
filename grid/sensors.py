"""Simulated sensors: what each sensor of the roster reports about the ground truth.

A sensor scans at fixed times ``phase + k * period_s``. At each scan, for each flying threat in
scenario order, it draws one uniform number (detection) and three normals (noise) whether or
not the threat is in coverage, so every random stream depends only on the scenario, the seed
and the sensor id: the same scenario and seed give the same measurements at any ``--speed``.

Spine models: coverage is ``min_range_m <= slant range <= range_m``; detection with
probability ``pd``; RF direction finders hear only threats that emit RF; Gaussian noise on
bearing, range and elevation with the roster's standard deviations.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from grid.geo import LocalFrame, observe
from grid.roster import SensorKind, SensorSpec
from grid.truth import TruthState

__all__ = ["Measurement", "SimulatedSensor", "sensor_rng"]


def sensor_rng(seed: int, sensor_id: str) -> np.random.Generator:
    """The random stream of one sensor in one run: a function of the seed and the sensor id only."""
    digest = hashlib.sha256(sensor_id.encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


@dataclass(frozen=True, slots=True)
class Measurement:
    """One detection, as the sensor makes it (angles in degrees, in the sensor's local frame)."""

    threat_id: str
    time_s: float
    sensor_lat: float
    sensor_lon: float
    sensor_alt_m: float
    bearing_deg: float
    range_m: float | None
    elevation_deg: float | None


class SimulatedSensor:
    """One roster sensor playing one run."""

    def __init__(self, spec: SensorSpec, *, seed: int) -> None:
        self.spec = spec
        self.rng = sensor_rng(seed, spec.id)
        self.phase_s = float(self.rng.uniform(0.0, spec.period_s))  # stagger scans across sensors
        self._orbit_frame = (
            LocalFrame(spec.orbit.center.lat, spec.orbit.center.lon) if spec.orbit is not None else None
        )

    def scan_times(self, until_s: float, *, after_s: float = 0.0) -> Iterator[float]:
        """Scan times from the first at or after ``after_s`` up to ``until_s`` inclusive."""
        k = max(0, math.ceil((after_s - self.phase_s) / self.spec.period_s))
        while (t := self.phase_s + k * self.spec.period_s) <= until_s:
            yield t
            k += 1

    def position(self, t: float) -> tuple[float, float, float]:
        """(lat, lon, alt) of the sensor at ``t``."""
        if self.spec.site is not None:
            return self.spec.site.lat, self.spec.site.lon, self.spec.site.alt_m
        assert self.spec.orbit is not None  # the schema gives an aew sensor an orbit
        assert self._orbit_frame is not None
        east, north = self.spec.orbit.position_enu_offset(t)
        return self._orbit_frame.surface_point(east, north, self.spec.orbit.center.alt_m)

    def scan(self, t: float, threats: list[TruthState]) -> list[Measurement]:
        """The detections of one scan at ``t``."""
        spec = self.spec
        here = self.position(t)
        out: list[Measurement] = []
        for threat in threats:
            draw = float(self.rng.random())
            noise = self.rng.standard_normal(3)
            if spec.kind is SensorKind.RF_DF and not threat.emits_rf:
                continue
            seen = observe(here, (threat.lat, threat.lon, threat.alt_m))
            if not spec.min_range_m <= seen.slant_range_m <= spec.range_m or draw >= spec.pd:
                continue
            bearing = (seen.azimuth_deg + spec.sigma_bearing_deg * float(noise[0])) % 360.0
            rng_m = elev = None
            if spec.kind.measures_range:
                assert spec.sigma_range_m is not None  # the schema requires both for ranging sensors
                assert spec.sigma_elevation_deg is not None
                rng_m = max(1.0, seen.slant_range_m + spec.sigma_range_m * float(noise[1]))
                elev = max(-90.0, min(90.0, seen.elevation_deg + spec.sigma_elevation_deg * float(noise[2])))
            out.append(Measurement(threat.threat_id, t, *here, bearing, rng_m, elev))
        return out
