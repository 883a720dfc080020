"""The one track-to-threat assignment (:meth:`TruthTable.nearest`) against the exact truth.

The table interpolates between samples, but its answers must be those of the exact distances
(:meth:`GroundTruth.distance_m`): at the radius, on loiter arcs and corners, and between threats.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from grid.evaluation.truth_table import TruthTable
from grid.world.flight import Loiter, LoiterItem
from grid.world.scenario import Scenario, Threat
from grid.world.truth import GroundTruth

RADIUS = 1_000.0
# A fast aircraft (a large interpolation error) that flies a corner, then a tight orbit.
LOITERER = Threat(
    id="loiterer",
    start_s=0.0,
    speed_mps=250.0,
    altitude_m=3_000.0,
    path=[
        (44.00, 29.00),
        (44.10, 29.00),
        (44.10, 29.20),
        LoiterItem(loiter=Loiter(center=(44.12, 29.20), radius_m=1_500.0, turns=2.0)),
        (44.30, 29.40),
    ],
)
TRUTH = GroundTruth(Scenario(name="table-test", duration_s=600, threats=[LOITERER]))


def exact_nearest(truth: GroundTruth, t: float, east: float, north: float, radius_m: float) -> str | None:
    """The definition: the nearest flying threat by exact distance within the radius, first on ties."""
    best, best_d = None, math.inf
    for threat_id in truth.trajectories:
        d = truth.distance_m(threat_id, t, east, north)
        if d <= radius_m and d < best_d:
            best, best_d = threat_id, d
    return best


def points_around(
    truth: GroundTruth, offsets: list[float], count: int = 600
) -> tuple[np.ndarray, np.ndarray]:
    """Times over every flight and points ``offsets`` metres from the true position, in turning directions."""
    times, points = [], []
    for trajectory in truth.trajectories.values():
        for i, t in enumerate(np.linspace(trajectory.threat.start_s, trajectory.end_s, count)):
            plane = trajectory.plane_state(float(t))
            assert plane is not None
            for k, offset in enumerate(offsets):
                angle = 0.7 * i + 2.1 * k
                times.append(float(t))
                points.append((plane[0] + offset * math.sin(angle), plane[1] + offset * math.cos(angle)))
    return np.array(times), np.array(points)


def test_interpolation_error_is_within_its_bound() -> None:
    """On the corner and the orbit the table is off the truth, but never by more than its bound."""
    table = TruthTable(TRUTH)
    times = np.linspace(0.0, TRUTH.trajectories["loiterer"].end_s, 20_000)
    error = np.array(
        [
            TRUTH.distance_m("loiterer", float(t), *(float(v) for v in table.positions(np.array([t]))[0, 0]))
            for t in times
        ]
    )
    assert error.max() > 1.0, "the orbit's sagitta makes the interpolation visibly inexact"
    assert error.max() <= table.error_bound_m


@pytest.mark.parametrize("offset", [RADIUS - 0.5, RADIUS - 1e-6, RADIUS, RADIUS + 1e-6, RADIUS + 0.5])
def test_nearest_is_exact_at_the_radius(offset: float) -> None:
    """Points a hair inside or outside the radius, all along a corner and an orbit, get the exact answer."""
    table = TruthTable(TRUTH)
    times, points = points_around(TRUTH, [offset])
    expected = [
        exact_nearest(TRUTH, float(t), float(p[0]), float(p[1]), RADIUS)
        for t, p in zip(times, points, strict=True)
    ]
    assert table.nearest(times, points, RADIUS) == expected
    assert None in expected or offset < RADIUS


def test_point_exactly_at_the_radius_is_assigned() -> None:
    """The radius is inclusive: a point at exactly the radius is assigned, one ulp beyond it is not."""
    start = TRUTH.trajectories["loiterer"].plane_state(0.0)
    assert start is not None
    t, point = np.array([0.0]), np.array([(start[0] + RADIUS, start[1])])
    exact = TRUTH.distance_m("loiterer", 0.0, *point[0])
    table = TruthTable(TRUTH)
    assert table.nearest(t, point, exact) == ["loiterer"]
    assert table.nearest(t, point, math.nextafter(exact, 0.0)) == [None]


# Two drones 1.2 km apart on parallel tracks, and a third on exactly the first one's path.
A = Threat(id="a", start_s=10.0, speed_mps=60.0, altitude_m=300.0, path=[(44.25, 29.10), (44.15, 28.85)])
B = Threat(id="b", start_s=10.0, speed_mps=60.0, altitude_m=300.0, path=[(44.26, 29.10), (44.16, 28.85)])
TWIN_OF_A = A.model_copy(update={"id": "a-twin"})


def test_nearest_between_threats_matches_exact_distances() -> None:
    """Points between two threats, near the midline where the table could confuse them, go to the nearest."""
    truth = GroundTruth(Scenario(name="two", duration_s=400, threats=[A, B]))
    table = TruthTable(truth)
    times, points = [], []
    for t in np.linspace(10.0, 300.0, 400):
        a, b = truth.trajectories["a"].plane_state(float(t)), truth.trajectories["b"].plane_state(float(t))
        assert a is not None
        assert b is not None
        for fraction in (0.2, 0.4999, 0.5, 0.5001, 0.8, 2.0):
            times.append(float(t))
            points.append((a[0] + fraction * (b[0] - a[0]), a[1] + fraction * (b[1] - a[1])))
    t_arr, p_arr = np.array(times), np.array(points)
    expected = [
        exact_nearest(truth, t, float(p[0]), float(p[1]), RADIUS) for t, p in zip(times, p_arr, strict=True)
    ]
    assert table.nearest(t_arr, p_arr, RADIUS) == expected
    assert {"a", "b", None} <= set(expected)


def test_ties_go_to_the_first_threat_in_scenario_order() -> None:
    """Two threats at exactly the same place: the update goes to the first listed."""
    truth = GroundTruth(Scenario(name="twins", duration_s=400, threats=[A, TWIN_OF_A]))
    plane = truth.trajectories["a"].plane_state(50.0)
    assert plane is not None
    assert TruthTable(truth).nearest(np.array([50.0]), np.array([plane[:2]]), RADIUS) == ["a"]


def test_not_flying_and_after_the_run_is_never_assigned() -> None:
    """Before its start, and after ``until_s`` (the end of the run), a threat takes no update."""
    truth = GroundTruth(Scenario(name="one", duration_s=400, threats=[A]))
    plane = truth.trajectories["a"].plane_state(10.0)
    assert plane is not None
    at = np.array([plane[:2]] * 3)
    table = TruthTable(truth, until_s=100.0)
    assert table.nearest(np.array([5.0, 10.0, 100.5]), at, 1e9) == [None, "a", None]
