"""Simulated sensors: what each sensor of the roster reports about the ground truth.

Determinism: a sensor scans at fixed times ``phase + k * period_s``. At each scan, for each
flying threat in the order given, it draws one uniform number (detection) and three normals
(noise) whether or not the threat is in coverage or detected. False alarms come from a separate
stream seeded by the seed, the sensor id and the scan index ``k``. So every random number
depends only on the scenario, the seed and the sensor id: the same scenario and seed give the
same measurements at any ``--speed``, and jamming or coverage never shift another draw.

Models, in the order applied to each threat (roster parameters in ``nodes/README.md``):

1. RF direction finders hear only threats that emit RF (``emits_rf``).
2. Coverage: ``min_range_m <= slant range <= range_m`` (acoustic arrays have short ranges).
3. Horizon (radar, aew, rf_df): the straight line must clear the Earth's bulge with standard
   refraction, i.e. an effective Earth radius ``k R`` with ``k = 4/3`` and ``R = 6371 km``:
   ground distance ``d <= sqrt(2 k R h_ant) + sqrt(2 k R h_tgt)``, heights above the ellipsoid.
   A 30 m mast sees a 50 m-high drone to about 52 km, a 300 m-high one to about 94 km.
   The AEW platform's horizon is taken from its orbit altitude, at its current orbit position.
4. Detection probability. Radar and AEW with ``ref_range_m`` use the radar equation,
   ``SNR = SNR_ref * (rcs / ref_rcs_m2) * (ref_range_m / R)^4`` with ``SNR_ref = 10^(ref_snr_db/10)``,
   and a Swerling-1 (slowly fluctuating) target against a threshold set for ``pfa``:
   ``Pd_snr = pfa^(1 / (1 + SNR))``; then ``Pd = pd * Pd_snr`` (``pd``: the ceiling). Other sensors,
   and radars without ``ref_range_m``, use ``Pd = pd``. Jamming multiplies Pd by ``pd_factor``.
5. Noise: Gaussian on bearing, range and elevation with the roster's standard deviations, times
   ``noise_factor`` (jamming).

False alarms: a Poisson number with mean ``false_alarm_rate`` per scan, each at a uniformly
random point of the coverage annulus (uniform in area between ``min_range_m`` and ``range_m`` of
ground distance) at a uniform height of 0-500 m, reported without further noise and with
``threat_id`` None.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from grid.geo import LocalFrame, Observation, observe
from grid.world.roster import SensorKind, SensorSpec
from grid.world.truth import TruthState

__all__ = [
    "CLUTTER_MAX_ALT_M",
    "EFFECTIVE_EARTH_RADIUS_M",
    "Measurement",
    "SimulatedSensor",
    "detection_probability",
    "radar_horizon_m",
    "radar_snr",
    "sensor_rng",
    "swerling1_pd",
]

EFFECTIVE_EARTH_RADIUS_M = 4.0 / 3.0 * 6_371_000.0
CLUTTER_MAX_ALT_M = 500.0
_CLUTTER_STREAM = 0xC1077E2  # tells the clutter streams apart from the detection stream


def _id_key(sensor_id: str) -> int:
    return int.from_bytes(hashlib.sha256(sensor_id.encode()).digest()[:8], "little")


def sensor_rng(seed: int, sensor_id: str) -> np.random.Generator:
    """The random stream of one sensor in one run: a function of the seed and the sensor id only."""
    return np.random.default_rng([seed, _id_key(sensor_id)])


def radar_horizon_m(antenna_alt_m: float, target_alt_m: float) -> float:
    """Greatest ground distance at which a target is above the 4/3-Earth radio horizon."""
    two_kr = 2.0 * EFFECTIVE_EARTH_RADIUS_M
    return math.sqrt(two_kr * max(0.0, antenna_alt_m)) + math.sqrt(two_kr * max(0.0, target_alt_m))


def radar_snr(spec: SensorSpec, rcs_m2: float, range_m: float) -> float:
    """Linear signal-to-noise ratio of a target by the radar equation (``spec.ref_range_m`` set)."""
    assert spec.ref_range_m is not None  # callers check
    ratio = spec.ref_range_m / max(range_m, 1.0)
    return float(10.0 ** (spec.ref_snr_db / 10.0) * (rcs_m2 / spec.ref_rcs_m2) * ratio**4)


def swerling1_pd(snr: float, pfa: float) -> float:
    """Detection probability of a Swerling-1 target at linear ``snr``: ``pfa ** (1 / (1 + snr))``."""
    return float(pfa ** (1.0 / (1.0 + max(0.0, snr))))


def detection_probability(spec: SensorSpec, rcs_m2: float, range_m: float) -> float:
    """Pd of a target in coverage, before jamming."""
    if spec.ref_range_m is None or not spec.kind.measures_range:
        return spec.pd
    return spec.pd * swerling1_pd(radar_snr(spec, rcs_m2, range_m), spec.pfa)


@dataclass(frozen=True, slots=True)
class Measurement:
    """One detection, as the sensor makes it (angles in degrees, in the sensor's local frame).

    ``threat_id`` is None for a false alarm. ``noise_factor`` is the factor the noise standard
    deviations were scaled by (jamming), so the report can state honest sigmas.
    """

    threat_id: str | None
    time_s: float
    sensor_lat: float
    sensor_lon: float
    sensor_alt_m: float
    bearing_deg: float
    range_m: float | None
    elevation_deg: float | None
    noise_factor: float = 1.0


class SimulatedSensor:
    """One roster sensor playing one run."""

    def __init__(self, spec: SensorSpec, *, seed: int) -> None:
        self.spec = spec
        self.seed = seed
        self.rng = sensor_rng(seed, spec.id)
        self.phase_s = float(self.rng.uniform(0.0, spec.period_s))  # stagger scans across sensors
        self._orbit_frame = (
            LocalFrame(spec.orbit.center.lat, spec.orbit.center.lon) if spec.orbit is not None else None
        )
        self._site_frame = LocalFrame(spec.site.lat, spec.site.lon) if spec.site is not None else None

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

    def visible(self, here: tuple[float, float, float], threat: TruthState) -> Observation | None:
        """What the sensor at ``here`` sees of ``threat`` when in coverage and line of sight, else None."""
        spec = self.spec
        if spec.kind is SensorKind.RF_DF and not threat.emits_rf:
            return None
        seen = observe(here, (threat.lat, threat.lon, threat.alt_m))
        if not spec.min_range_m <= seen.slant_range_m <= spec.range_m:
            return None
        if spec.kind.line_of_sight and seen.ground_range_m > radar_horizon_m(here[2], threat.alt_m):
            return None
        return seen

    def scan(
        self, t: float, threats: list[TruthState], *, pd_factor: float = 1.0, noise_factor: float = 1.0
    ) -> list[Measurement]:
        """The detections of one scan at ``t``, then its false alarms.

        Args:
            t: the scan time (one of :meth:`scan_times`).
            threats: the truth states flying at ``t`` (real and, for a spoofing node, phantom).
            pd_factor: multiplies every detection probability (jamming; 1 = none).
            noise_factor: multiplies every noise standard deviation (jamming; 1 = none).
        """
        spec = self.spec
        here = self.position(t)
        out: list[Measurement] = []
        for threat in threats:
            draw = float(self.rng.random())
            noise = self.rng.standard_normal(3) * noise_factor
            seen = self.visible(here, threat)
            if seen is None or draw >= pd_factor * detection_probability(
                spec, threat.rcs_m2, seen.slant_range_m
            ):
                continue
            bearing = (seen.azimuth_deg + spec.sigma_bearing_deg * float(noise[0])) % 360.0
            rng_m = elev = None
            if spec.kind.measures_range:
                assert spec.sigma_range_m is not None  # the schema requires both for ranging sensors
                assert spec.sigma_elevation_deg is not None
                rng_m = max(1.0, seen.slant_range_m + spec.sigma_range_m * float(noise[1]))
                elev = max(-90.0, min(90.0, seen.elevation_deg + spec.sigma_elevation_deg * float(noise[2])))
            out.append(Measurement(threat.threat_id, t, *here, bearing, rng_m, elev, noise_factor))
        out.extend(self.false_alarms(t, here))
        return out

    def false_alarms(self, t: float, here: tuple[float, float, float] | None = None) -> list[Measurement]:
        """The false alarms of the scan at ``t`` (the same for a given seed, sensor and scan)."""
        spec = self.spec
        if spec.false_alarm_rate <= 0.0:
            return []
        k = round((t - self.phase_s) / spec.period_s)
        rng = np.random.default_rng([self.seed, _id_key(spec.id), _CLUTTER_STREAM, max(0, k)])
        count = int(rng.poisson(spec.false_alarm_rate))
        if count == 0:
            return []
        here = here if here is not None else self.position(t)
        frame = self._site_frame or LocalFrame(here[0], here[1])
        u = rng.random((count, 3))
        r0, r1 = spec.min_range_m, spec.range_m
        out: list[Measurement] = []
        for a, b, c in u:
            ground = math.sqrt(r0 * r0 + float(a) * (r1 * r1 - r0 * r0))
            azimuth = 2.0 * math.pi * float(b)
            point = frame.surface_point(
                ground * math.sin(azimuth), ground * math.cos(azimuth), CLUTTER_MAX_ALT_M * float(c)
            )
            seen = observe(here, point)
            ranging = spec.kind.measures_range
            out.append(
                Measurement(
                    None,
                    t,
                    *here,
                    seen.azimuth_deg,
                    seen.slant_range_m if ranging else None,
                    seen.elevation_deg if ranging else None,
                )
            )
        return out
