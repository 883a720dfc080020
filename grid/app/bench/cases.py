"""The benchmark's cases: a single drone, a swarm of 12 in clutter, a 100-target stress case.

Scenarios are built in code through the public scenario schema (plain threats with offset or
random straight paths), so they do not depend on scenario files or swarm syntax.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from grid.geo import LocalFrame
from grid.world.scenario import Scenario, load_scenario, scenario_from_dict

__all__ = ["BenchCase", "cases"]

_SWARM_BASE = ((44.25, 29.10), (44.15, 28.85))  # the default scenario's inbound path


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchCase:
    """One case: a scenario, its clutter, and how it is scored.

    Attributes:
        name: the case id in the results.
        scenario: threats, duration and seed.
        clutter_per_scan: mean false reports per sensor scan.
        settle_s: the converged period starts this long after each threat's first detection.
        delay_s: also replay the case with this mean added link delay (0: do not).
        stonesoup_targets: run Stone Soup on at most this many threats (its cost grows with them).
        jpda: also run the tracker with JPDA association instead of GNN.
        gnn_reports: time Stone Soup's own multi-target GNN on this many reports (0: do not).
    """

    name: str
    scenario: Scenario
    clutter_per_scan: float = 0.0
    settle_s: float = 60.0
    delay_s: float = 0.0
    stonesoup_targets: int = 1000
    jpda: bool = False
    gnn_reports: int = 0

    def describe(self) -> dict[str, Any]:
        """The case's settings for the results file."""
        return {
            "threats": len(self.scenario.threats),
            "duration_s": self.scenario.duration_s,
            "seed": self.scenario.seed,
            "clutter_per_scan": self.clutter_per_scan,
            "settle_s": self.settle_s,
            "delay_s": self.delay_s,
            "stonesoup_targets": self.stonesoup_targets,
            "jpda": self.jpda,
            "gnn_reports": self.gnn_reports,
        }


def _threat(
    threat_id: str, start_s: float, speed: float, alt: float, path: list[tuple[float, float]]
) -> dict[str, Any]:
    return {
        "id": threat_id,
        "kind": "drone",
        "start_s": start_s,
        "speed_mps": speed,
        "altitude_m": alt,
        "path": [list(p) for p in path],
    }


def single_drone(duration_s: float | None = None) -> Scenario:
    """The bundled default scenario (one drone inbound to Constanța), optionally shortened."""
    base = load_scenario()
    if duration_s is None:
        return base
    return scenario_from_dict({**base.to_dict(), "duration_s": duration_s}, source="bench single drone")


def swarm(
    count: int = 12, *, spacing_m: float = 1_000.0, duration_s: float = 400.0, seed: int = 7
) -> Scenario:
    """``count`` drones in a grid formation ``spacing_m`` apart on the default inbound path."""
    frame = LocalFrame(44.2, 28.8)
    (a_lat, a_lon), (b_lat, b_lon) = _SWARM_BASE
    a = frame.to_enu(a_lat, a_lon, 0.0)[:2]
    b = frame.to_enu(b_lat, b_lon, 0.0)[:2]
    along = (b - a) / float(np.hypot(*(b - a)))
    across = np.array([-along[1], along[0]])
    columns = 4
    threats = []
    for k in range(count):
        row, col = divmod(k, columns)
        offset = across * (col - (columns - 1) / 2) * spacing_m - along * row * spacing_m
        path = [
            frame.surface_point(float(p[0] + offset[0]), float(p[1] + offset[1]), 0.0)[:2] for p in (a, b)
        ]
        threats.append(_threat(f"swarm-{k + 1:02d}", 5.0 + row * 2.0, 60.0, 300.0 + 50.0 * col, path))
    return scenario_from_dict(
        {"name": f"bench-swarm-{count}", "duration_s": duration_s, "seed": seed, "threats": threats},
        source="bench swarm",
    )


def stress(count: int = 100, *, duration_s: float = 120.0, seed: int = 11) -> Scenario:
    """``count`` drones on random straight inbound paths over the western Black Sea."""
    frame = LocalFrame(44.2, 28.8)
    rng = np.random.default_rng(seed)
    threats = []
    for k in range(count):
        east, north = float(rng.uniform(0.0, 60_000.0)), float(rng.uniform(-60_000.0, 40_000.0))
        heading = math.radians(float(rng.uniform(225.0, 315.0)))  # toward the coast, westward
        speed = float(rng.uniform(40.0, 80.0))
        length = speed * (duration_s + 60.0)
        end = (east + length * math.sin(heading), north + length * math.cos(heading))
        path = [frame.surface_point(east, north, 0.0)[:2], frame.surface_point(*end, 0.0)[:2]]
        threats.append(
            _threat(
                f"t{k + 1:03d}", float(rng.uniform(0.0, 10.0)), speed, float(rng.uniform(150, 1000)), path
            )
        )
    return scenario_from_dict(
        {"name": f"bench-stress-{count}", "duration_s": duration_s, "seed": seed, "threats": threats},
        source="bench stress",
    )


def cases(*, quick: bool = False) -> list[BenchCase]:
    """The benchmark's cases; ``quick`` shortens every run for a smoke test."""
    if quick:
        return [
            BenchCase(name="single-drone", scenario=single_drone(150.0), settle_s=40.0, delay_s=0.3),
            BenchCase(
                name="swarm-12", scenario=swarm(12, duration_s=80.0), clutter_per_scan=0.2, settle_s=30.0,
                stonesoup_targets=2,
            ),
            BenchCase(
                # Judged on 20 threats, as the full case: on 2 the tracker's start-up error dominates.
                name="stress-100", scenario=stress(100, duration_s=15.0), settle_s=5.0, stonesoup_targets=20
            ),
        ]  # fmt: skip
    return [
        BenchCase(name="single-drone", scenario=single_drone(), delay_s=0.3),
        BenchCase(
            name="swarm-12", scenario=swarm(12), clutter_per_scan=0.2, delay_s=0.3, jpda=True, gnn_reports=600
        ),
        BenchCase(
            name="stress-100", scenario=stress(100), settle_s=30.0, stonesoup_targets=20, gnn_reports=100
        ),
    ]
