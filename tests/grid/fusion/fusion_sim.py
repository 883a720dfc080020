"""Synthetic sensors and targets for the fusion tests, observed exactly through ``grid.geo``.

A helper module (not a test file): the tests import it by name, as the test folder has no
``__init__.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from grid.fusion import Detection
from grid.geo import LocalFrame, observe

Truth = Callable[[float], tuple[float, float, float]]  # time -> (east, north, altitude)

ORIGIN = (44.2, 28.8)


@dataclass(frozen=True, kw_only=True)
class Site:
    """A simulated sensor: where it is, how often it reports and how noisy it is."""

    sensor_id: str
    node_id: str
    east: float
    north: float
    period_s: float
    sigma_bearing_deg: float
    sigma_range_m: float | None = None
    sigma_elevation_deg: float | None = None
    altitude_m: float = 50.0
    phase_s: float = 0.0
    max_range_m: float = 150_000.0


class Sim:
    """Observes truth trajectories with sites, in a theater frame, with seeded noise."""

    def __init__(self, seed: int = 7) -> None:
        self.frame = LocalFrame(*ORIGIN)
        self.rng = np.random.default_rng(seed)

    def site_geodetic(self, site: Site) -> tuple[float, float, float]:
        """(lat, lon, alt) of a site."""
        return self.frame.surface_point(site.east, site.north, site.altitude_m)

    def target_geodetic(self, east: float, north: float, alt: float) -> tuple[float, float, float]:
        """(lat, lon, alt) of a target over the plane point (east, north)."""
        return self.frame.surface_point(east, north, alt)

    def detection(
        self, site: Site, t: float, truth: Truth, truth_id: str, *, noise: bool = True, n: int = 0
    ) -> Detection:
        """One detection of the target ``truth`` by ``site`` at time ``t``."""
        sensor = self.site_geodetic(site)
        obs = observe(sensor, self.target_geodetic(*truth(t)))
        rng = self.rng
        ranged = site.sigma_range_m is not None
        sb = math.radians(site.sigma_bearing_deg)
        az = math.radians(obs.azimuth_deg) + (rng.normal(0, sb) if noise else 0.0)
        sigma_range = site.sigma_range_m
        rng_m = obs.slant_range_m + (rng.normal(0, sigma_range) if noise and sigma_range is not None else 0.0)
        sel = site.sigma_elevation_deg
        el = math.radians(obs.elevation_deg) + (rng.normal(0, math.radians(sel)) if noise and sel else 0.0)
        return Detection(
            time=t,
            report_id=f"{site.sensor_id}-{truth_id}-{n}",
            node_id=site.node_id,
            sensor_id=site.sensor_id,
            sensor_enu=self.frame.to_enu(*sensor),
            rotation=self.frame.rotation_to(sensor[0], sensor[1]),
            bearing_rad=az % (2 * math.pi),
            sigma_bearing_rad=math.radians(site.sigma_bearing_deg),
            range_m=rng_m if ranged else None,
            sigma_range_m=site.sigma_range_m,
            elevation_rad=el if sel else None,
            sigma_elevation_rad=math.radians(sel) if sel else None,
            max_range_m=site.max_range_m,
            truth_id=truth_id,
        )

    def run(self, sites: list[Site], truth: Truth, truth_id: str, t0: float, t1: float) -> list[Detection]:
        """Every detection of ``truth`` by ``sites`` in [t0, t1], sorted by time."""
        out: list[Detection] = []
        for site in sites:
            k = 0
            t = t0 + site.phase_s
            while t <= t1:
                out.append(self.detection(site, t, truth, truth_id, n=k))
                k += 1
                t = t0 + site.phase_s + k * site.period_s
        return sorted(out, key=lambda d: d.key)

    @staticmethod
    def straight(east0: float, north0: float, ve: float, vn: float, alt: float = 300.0) -> Truth:
        """A constant-velocity target."""
        return lambda t: (east0 + ve * t, north0 + vn * t, alt)


RADARS = [
    Site(sensor_id="ro-radar-1", node_id="RO", east=-15_000.0, north=25_000.0, period_s=2.0,
         sigma_bearing_deg=0.5, sigma_range_m=30.0, sigma_elevation_deg=0.5),
    Site(sensor_id="bg-radar-1", node_id="BG", east=20_000.0, north=-30_000.0, period_s=3.0, phase_s=0.7,
         sigma_bearing_deg=0.5, sigma_range_m=30.0, sigma_elevation_deg=0.5),
    Site(sensor_id="md-radar-1", node_id="MD", east=45_000.0, north=30_000.0, period_s=4.0, phase_s=1.3,
         sigma_bearing_deg=0.7, sigma_range_m=40.0, sigma_elevation_deg=0.7),
]  # fmt: skip
BEARINGS = [
    Site(sensor_id="ro-rf-1", node_id="RO", east=-40_000.0, north=-20_000.0, period_s=1.0, phase_s=0.2,
         sigma_bearing_deg=1.5),
    Site(sensor_id="bg-acoustic-1", node_id="BG", east=10_000.0, north=12_000.0, period_s=2.0, phase_s=0.4,
         sigma_bearing_deg=2.0, max_range_m=60_000.0),
    Site(sensor_id="tr-rf-1", node_id="TR", east=55_000.0, north=-5_000.0, period_s=5.0, phase_s=0.9,
         sigma_bearing_deg=1.5),
    Site(sensor_id="ua-rf-1", node_id="UA", east=-5_000.0, north=-45_000.0, period_s=3.0, phase_s=2.1,
         sigma_bearing_deg=1.5),
]  # fmt: skip
