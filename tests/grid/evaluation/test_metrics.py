"""Tests of run metrics in :mod:`grid.evaluation.metrics` with hand-computed cases."""

from __future__ import annotations

import dataclasses
import math

import pytest

from grid.evaluation.metrics import assign_updates, threat_metrics, time_to_locate
from grid.evaluation.picture import TrackUpdate
from grid.evaluation.truth_table import TruthTable
from grid.world.scenario import Scenario, Threat
from grid.world.truth import GroundTruth

START_S = 5.0
RADIUS = 150.0
UAV = Threat(
    id="uav-1", start_s=START_S, speed_mps=60.0, altitude_m=300.0, path=[(44.25, 29.10), (44.15, 28.85)]
)
TRUTH = GroundTruth(Scenario(name="metrics-test", duration_s=400, locate_radius_m=RADIUS, threats=[UAV]))


def update(
    t: float,
    de: float = 0.0,
    dn: float = 0.0,
    *,
    track: str = "T1",
    confirmed: bool = True,
    truth: GroundTruth = TRUTH,
) -> TrackUpdate:
    """A track update at time ``t``, offset (de, dn) metres from the true position of uav-1."""
    plane = truth.trajectories["uav-1"].plane_state(t)
    assert plane is not None
    return point(t, track, plane[0] + de, plane[1] + dn, confirmed=confirmed)


def point(t: float, track: str, east: float, north: float, *, confirmed: bool = True) -> TrackUpdate:
    """A track update at time ``t`` (issued then) at (east, north)."""
    return TrackUpdate(time=t, issued=t, track_id=track, east=east, north=north, confirmed=confirmed)


def assign_points(
    truth: GroundTruth, points: list[TrackUpdate], radius_m: float
) -> dict[str, list[TrackUpdate]]:
    """:func:`assign_updates` over the whole flight of ``truth``'s threats."""
    return assign_updates(TruthTable(truth), points, radius_m)


IN = 100.0  # metres off: within RADIUS
OUT = 200.0  # metres off: outside RADIUS


def locate(*points: TrackUpdate) -> tuple[float, str] | None:
    """time_to_locate of uav-1 over ``points`` grouped by track."""
    by_track: dict[str, list[TrackUpdate]] = {}
    for p in points:
        by_track.setdefault(p.track_id, []).append(p)
    return time_to_locate(TRUTH, "uav-1", by_track, RADIUS)


def test_located_at_first_of_three() -> None:
    """Three consecutive confirmed updates within the radius locate at the first of them."""
    assert locate(update(10.0, IN), update(20.0, 0.0, IN), update(30.0)) == (10.0, "T1")


def test_radius_is_inclusive() -> None:
    """An update exactly at the radius counts as within."""
    assert locate(update(10.0, RADIUS), update(20.0, RADIUS), update(30.0, RADIUS)) == (10.0, "T1")


def test_a_miss_resets() -> None:
    """A miss among the updates restarts the count of three."""
    points = [update(10.0), update(20.0, OUT), update(30.0), update(40.0), update(50.0), update(60.0, OUT)]
    assert locate(*points) == (30.0, "T1")


def test_tentative_updates_ignored() -> None:
    """Tentative updates neither break a run of three nor count toward one."""
    assert locate(update(10.0), update(15.0, OUT, confirmed=False), update(20.0), update(30.0)) == (
        10.0,
        "T1",
    )
    assert locate(update(10.0), update(20.0), update(25.0, confirmed=False), update(30.0, OUT)) is None


@pytest.mark.parametrize(
    "points",
    [
        [],
        [update(10.0), update(20.0)],
        [update(10.0, OUT), update(20.0, OUT), update(30.0, OUT)],
        [update(10.0), update(20.0), update(30.0, OUT), update(40.0), update(50.0)],
    ],
    ids=["no-updates", "only-two", "all-out", "never-three-in-a-row"],
)
def test_never_located(points: list[TrackUpdate]) -> None:
    """Without three consecutive confirmed updates within the radius, the threat is not located."""
    assert locate(*points) is None


def test_updates_sorted_by_time() -> None:
    """Updates given out of order are taken in time order."""
    assert locate(update(30.0), update(10.0), update(40.0, OUT), update(20.0)) == (10.0, "T1")


def test_earliest_track_wins() -> None:
    """Over several tracks, the earliest located moment is the locate time."""
    t1 = [update(10.0, OUT), update(20.0), update(30.0), update(40.0)]
    t2 = [update(t, track="T2") for t in (15.0, 25.0, 35.0)]
    assert locate(*t1, *t2) == (15.0, "T2")


def test_consecutive_is_per_track() -> None:
    """Updates of two tracks do not combine into one run of three."""
    assert locate(update(10.0), update(20.0, track="T2"), update(30.0)) is None


def test_updates_before_start_are_not_within() -> None:
    """An update at a time the threat is not flying is never within the radius."""
    first = update(START_S)
    early = point(1.0, "T1", first.east, first.north)
    assert locate(early, update(10.0), update(20.0)) is None
    assert TRUTH.distance_m("uav-1", 1.0, first.east, first.north) == math.inf


def test_threat_metrics_hand_computed() -> None:
    """Locate time, RMSE over the located period and over all updates, as computed by hand."""
    points = [
        update(10.0, OUT),  # error 200: before the locate time
        update(15.0, OUT, confirmed=False),  # tentative: neither assigned nor counted
        update(20.0, 18.0, 24.0),  # error 30: located here
        update(30.0, 0.0, -40.0),  # error 40
        update(40.0),  # error 0
        update(50.0, -72.0, 96.0),  # error 120
    ]
    assigned = assign_points(TRUTH, points, 1_000.0)["uav-1"]
    assert [p.time for p in assigned] == [10.0, 20.0, 30.0, 40.0, 50.0]
    result = threat_metrics(
        TRUTH, "uav-1", first_report_s=7.5, assigned=assigned, all_updates=points, locate_radius_m=RADIUS
    )
    assert result == {
        "id": "uav-1",
        "detected": True,
        "time_to_first_detection_s": 2.5,
        "time_to_locate_s": 15.0,
        "located_by_track": "T1",
        "rmse_m": 65.0,  # sqrt((30^2 + 40^2 + 0^2 + 120^2) / 4)
        "rmse_all_m": round(math.sqrt((200**2 + 30**2 + 40**2 + 0 + 120**2) / 5), 2),  # 106.68
        "track_updates": 5,
        "track_ids": ["T1"],
    }


def test_threat_metrics_never_located() -> None:
    """An undetected, never-located threat has null times and RMSE but keeps its all-updates RMSE."""
    points = [update(10.0, OUT), update(20.0, 0.0, OUT)]
    assigned = assign_points(TRUTH, points, 1_000.0)["uav-1"]
    result = threat_metrics(
        TRUTH, "uav-1", first_report_s=None, assigned=assigned, all_updates=points, locate_radius_m=RADIUS
    )
    assert result["detected"] is False
    assert result["time_to_first_detection_s"] is None
    assert result["time_to_locate_s"] is None
    assert result["located_by_track"] is None
    assert result["rmse_m"] is None
    assert result["rmse_all_m"] == 200.0
    assert result["track_updates"] == 2


def test_threat_metrics_no_updates() -> None:
    """With no track updates at all every track metric is null or empty."""
    result = threat_metrics(
        TRUTH, "uav-1", first_report_s=None, assigned=[], all_updates=[], locate_radius_m=RADIUS
    )
    assert result["rmse_all_m"] is None
    assert result["track_updates"] == 0
    assert result["track_ids"] == []


# Two threats flying the same line 0.01 deg (~1.1 km) apart in latitude.
TWIN = Threat(
    id="uav-2", start_s=START_S, speed_mps=60.0, altitude_m=300.0, path=[(44.26, 29.10), (44.16, 28.85)]
)
TWO = GroundTruth(Scenario(name="assign-test", duration_s=400, threats=[UAV, TWIN]))


def position(truth: GroundTruth, threat_id: str, t: float) -> tuple[float, float]:
    """Plane (east, north) of a flying threat at ``t``."""
    plane = truth.trajectories[threat_id].plane_state(t)
    assert plane is not None
    return plane[0], plane[1]


def between(t: float, fraction: float, *, confirmed: bool = True) -> TrackUpdate:
    """A confirmed update at ``fraction`` of the way from uav-1 to uav-2 at time ``t``."""
    a = TWO.trajectories["uav-1"].plane_state(t)
    b = TWO.trajectories["uav-2"].plane_state(t)
    assert a is not None
    assert b is not None
    east = a[0] + fraction * (b[0] - a[0])
    north = a[1] + fraction * (b[1] - a[1])
    return point(t, "T", east, north, confirmed=confirmed)


def test_assign_updates_nearest_within_radius() -> None:
    """Each confirmed update goes to the nearest flying threat within the radius; others are dropped."""
    near_a, near_b = between(20.0, 0.3), between(30.0, 0.7)
    tentative = between(40.0, 0.1, confirmed=False)
    deleted = dataclasses.replace(between(45.0, 0.1, confirmed=False), deleted=True)
    far = between(50.0, 10.0)  # ~10 km beyond uav-2
    before = point(1.0, "T", near_a.east, near_a.north)
    out = assign_points(TWO, [near_a, near_b, tentative, deleted, far, before], 2_000.0)
    assert dict(out) == {"uav-1": [near_a], "uav-2": [near_b]}


def test_assign_updates_radius_limits() -> None:
    """An update nearer one threat but outside the radius of both is not assigned."""
    gap = TWO.distance_m("uav-2", 20.0, *position(TWO, "uav-1", 20.0))
    assert 1_000.0 < gap < 1_200.0
    point = between(20.0, 0.3)
    assert dict(assign_points(TWO, [point], 0.2 * gap)) == {}
    assert dict(assign_points(TWO, [point], 0.31 * gap)) == {"uav-1": [point]}
