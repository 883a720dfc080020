"""Tests of the ground truth in :mod:`grid.world.truth`: where each threat is, and when."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grid.geo import observe
from grid.world.flight import item_position
from grid.world.scenario import Scenario, Threat
from grid.world.truth import GroundTruth, Trajectory

PATH = [(44.25, 29.10), (44.15, 28.85), (44.10, 28.70)]
START_S = 5.0
SPEED = 60.0
ALT = 300.0


def scenario(*threats: Threat) -> Scenario:
    """A scenario over the theater origin holding ``threats``."""
    return Scenario(name="truth-test", duration_s=3_600, threats=list(threats))


DRONE = Threat(id="uav-1", start_s=START_S, speed_mps=SPEED, altitude_m=ALT, path=PATH)
SILENT = Threat(id="quiet", start_s=100.0, speed_mps=30.0, altitude_m=100.0, path=PATH[:2], emits_rf=False)
TRUTH = GroundTruth(scenario(DRONE, SILENT))
TRAJ = TRUTH.trajectories["uav-1"]


def plane_length(traj: Trajectory) -> float:
    """Length of a threat's path in the theater plane, leg by leg."""
    pts = [traj.frame.to_enu(*item_position(item), 0.0)[:2] for item in traj.threat.path]
    return sum(float(np.hypot(*(b - a))) for a, b in itertools.pairwise(pts))


def test_end_time_from_length_and_speed() -> None:
    """end_s = start_s + path length / speed."""
    assert TRAJ.end_s == pytest.approx(START_S + plane_length(TRAJ) / SPEED, abs=1e-9)
    assert plane_length(TRAJ) > 30_000


def test_at_first_waypoint_at_start() -> None:
    """At start_s the threat is over its first waypoint (plane exactly; WGS84 within metres)."""
    state = TRAJ.state(START_S)
    assert state is not None
    first = TRUTH.frame.to_enu(*PATH[0], 0.0)[:2]
    assert (state.east, state.north) == pytest.approx(tuple(first), abs=1e-6)
    assert state.alt_m == ALT
    # the vertical is taken in the plane, so the WGS84 point sits a few metres from straight above
    assert observe((*PATH[0], ALT), (state.lat, state.lon, state.alt_m)).ground_range_m < 10.0


def test_at_last_waypoint_at_end() -> None:
    """At end_s the threat is over its last waypoint."""
    state = TRAJ.state(TRAJ.end_s)
    assert state is not None
    last = TRUTH.frame.to_enu(*PATH[-1], 0.0)[:2]
    assert (state.east, state.north) == pytest.approx(tuple(last), abs=1e-6)
    assert observe((*PATH[-1], ALT), (state.lat, state.lon, state.alt_m)).ground_range_m < 10.0


@pytest.mark.parametrize("dt", [-1e-6, -1.0, -START_S])
def test_not_flying_before_start(dt: float) -> None:
    """Before start_s there is no state."""
    assert TRAJ.state(START_S + dt) is None
    assert TRAJ.plane_state(START_S + dt) is None


@pytest.mark.parametrize("dt", [1e-6, 1.0, 1e4])
def test_gone_after_end(dt: float) -> None:
    """After end_s the threat is gone."""
    assert TRAJ.state(TRAJ.end_s + dt) is None


@given(st.floats(min_value=0.0, max_value=1.0))
def test_speed_is_as_configured(fraction: float) -> None:
    """Velocity magnitude is the configured speed, and positions advance at most at that speed."""
    t = START_S + fraction * (TRAJ.end_s - START_S - 0.5)
    now = TRAJ.plane_state(t)
    assert now is not None
    east, north, ve, vn = now
    assert math.hypot(ve, vn) == pytest.approx(SPEED, rel=1e-9)
    later = TRAJ.plane_state(t + 0.5)
    assert later is not None
    assert math.hypot(later[0] - east, later[1] - north) <= SPEED * 0.5 + 1e-6


def test_moves_at_speed_along_a_leg() -> None:
    """Within one leg, 10 s of flight covers 600 m along the leg direction."""
    a = TRAJ.plane_state(START_S + 100.0)
    b = TRAJ.plane_state(START_S + 110.0)
    assert a is not None
    assert b is not None
    assert math.hypot(b[0] - a[0], b[1] - a[1]) == pytest.approx(600.0, rel=1e-9)
    assert (b[0] - a[0]) / 10.0 == pytest.approx(a[2], rel=1e-9)
    assert (b[1] - a[1]) / 10.0 == pytest.approx(a[3], rel=1e-9)


def test_turns_at_the_middle_waypoint() -> None:
    """The threat reaches the middle waypoint after the first leg's length and then turns."""
    pts = [TRUTH.frame.to_enu(lat, lon, 0.0)[:2] for lat, lon in PATH]
    t_turn = START_S + float(np.hypot(*(pts[1] - pts[0]))) / SPEED
    at_turn = TRAJ.plane_state(t_turn)
    assert at_turn is not None
    assert at_turn[:2] == pytest.approx(tuple(pts[1]), abs=1e-6)
    before, after = TRAJ.plane_state(t_turn - 1.0), TRAJ.plane_state(t_turn + 1.0)
    assert before is not None
    assert after is not None
    heading = math.degrees(math.atan2(before[2], before[3]))
    heading_after = math.degrees(math.atan2(after[2], after[3]))
    assert abs(heading - heading_after) > 1.0


def test_state_carries_identity_and_rf() -> None:
    """A truth state carries the threat id, the altitude and whether it emits RF."""
    drone = TRAJ.state(START_S + 1.0)
    quiet = TRUTH.trajectories["quiet"].state(150.0)
    assert drone is not None
    assert quiet is not None
    assert (drone.threat_id, drone.emits_rf, drone.alt_m) == ("uav-1", True, ALT)
    assert (quiet.threat_id, quiet.emits_rf, quiet.alt_m) == ("quiet", False, 100.0)


def test_at_lists_flying_threats_in_scenario_order() -> None:
    """GroundTruth.at gives the threats flying at t, in scenario order."""
    assert [s.threat_id for s in TRUTH.at(0.0)] == []
    assert [s.threat_id for s in TRUTH.at(50.0)] == ["uav-1"]
    assert [s.threat_id for s in TRUTH.at(150.0)] == ["uav-1", "quiet"]
    assert [s.threat_id for s in TRUTH.at(1e5)] == []


def test_distance_m() -> None:
    """distance_m is the horizontal plane distance to the threat, inf when it is not flying."""
    t = START_S + 42.0
    plane = TRAJ.plane_state(t)
    assert plane is not None
    east, north = plane[0], plane[1]
    assert TRUTH.distance_m("uav-1", t, east, north) == pytest.approx(0.0, abs=1e-9)
    assert TRUTH.distance_m("uav-1", t, east + 30.0, north - 40.0) == pytest.approx(50.0, abs=1e-9)
    assert TRUTH.distance_m("uav-1", 0.0, east, north) == math.inf
    assert TRUTH.distance_m("uav-1", TRAJ.end_s + 1.0, east, north) == math.inf


def test_repeated_waypoint() -> None:
    """A repeated waypoint (a zero-length leg) does not break the flight."""
    threat = Threat(id="r", speed_mps=50.0, altitude_m=100.0, path=[PATH[0], PATH[0], PATH[1]])
    traj = GroundTruth(scenario(threat)).trajectories["r"]
    for t in np.linspace(0.0, traj.end_s, 50):
        state = traj.plane_state(float(t))
        assert state is not None
        assert math.hypot(state[2], state[3]) == pytest.approx(50.0, rel=1e-9)
    end = traj.plane_state(traj.end_s)
    assert end is not None
    assert end[:2] == pytest.approx(tuple(traj.frame.to_enu(*PATH[1], 0.0)[:2]), abs=1e-6)


# --- flight plans: legs, loiters, swarms ------------------------------------------------------------


def plan_threat(path: list[object], **fields: object) -> Threat:
    """A threat built from a YAML-like map, so path items may be lists or dicts."""
    data: dict[str, object] = {"id": "p", "speed_mps": 50.0, "altitude_m": 300.0, "path": path, **fields}
    return Threat.model_validate(data)


def test_per_leg_speed_and_altitude() -> None:
    """A waypoint's speed and altitude hold for the leg starting there and carry forward."""
    threat = plan_threat(
        [
            [44.0, 28.6],
            {"lat": 44.1, "lon": 28.6, "speed_mps": 100.0, "alt_m": 50.0},
            [44.2, 28.6],
            [44.3, 28.6],
        ]
    )
    traj = GroundTruth(scenario(threat)).trajectories["p"]
    first, second, third = traj.segments
    assert (first.speed, first.alt) == (50.0, 300.0)
    assert (second.speed, second.alt) == (100.0, 50.0)
    assert (third.speed, third.alt) == (100.0, 50.0)
    leg = math.dist(first.start, first.end)
    assert second.t0 == pytest.approx(leg / 50.0)
    mid_first = traj.state(leg / 100.0)
    mid_second = traj.state(second.t0 + 10.0)
    assert mid_first is not None
    assert mid_second is not None
    assert math.hypot(mid_first.vel_east, mid_first.vel_north) == pytest.approx(50.0)
    assert (mid_first.alt_m, mid_second.alt_m) == (300.0, 50.0)
    assert math.hypot(mid_second.vel_east, mid_second.vel_north) == pytest.approx(100.0)
    total = leg / 50.0 + (math.dist(second.start, second.end) + math.dist(third.start, third.end)) / 100.0
    assert traj.end_s == pytest.approx(total)


def test_first_waypoint_may_set_speed_and_altitude() -> None:
    """Without threat-level speed and altitude, the first waypoint's values are used."""
    threat = Threat.model_validate(
        {"id": "w", "path": [{"lat": 44.0, "lon": 28.6, "speed_mps": 30.0, "alt_m": 80.0}, [44.1, 28.6]]}
    )
    state = GroundTruth(scenario(threat)).trajectories["w"].state(10.0)
    assert state is not None
    assert math.hypot(state.vel_east, state.vel_north) == pytest.approx(30.0)
    assert state.alt_m == 80.0


LOITER_CENTRE = (44.2, 28.9)


@pytest.mark.parametrize(("direction", "sign"), [("cw", 1.0), ("ccw", -1.0)])
def test_loiter_timing_and_geometry(direction: str, sign: float) -> None:
    """A loiter flies to the circle, stays on it for turns * 2 pi r / v in the given sense, then leaves."""
    threat = plan_threat(
        [
            [44.1, 28.9],
            {
                "loiter": {
                    "center": list(LOITER_CENTRE),
                    "radius_m": 3_000.0,
                    "turns": 2,
                    "direction": direction,
                }
            },
            [44.3, 28.9],
        ],
        speed_mps=60.0,
    )
    traj = GroundTruth(scenario(threat)).trajectories["p"]
    inbound, arc, outbound = traj.segments
    centre = traj.frame.to_enu(*LOITER_CENTRE, 0.0)[:2]
    assert arc.duration == pytest.approx(2 * 2 * math.pi * 3_000.0 / 60.0)
    assert math.dist(inbound.end, tuple(centre)) == pytest.approx(3_000.0)  # entry point on the circle
    assert inbound.duration == pytest.approx(math.dist(inbound.start, tuple(centre)) / 60.0 - 50.0, rel=1e-3)
    for frac in np.linspace(0.001, 0.999, 17):  # inside the arc, away from float ties at its ends
        t = threat.start_s + arc.t0 + float(frac) * arc.duration
        state = traj.state(t)
        assert state is not None
        radial = (state.east - centre[0], state.north - centre[1])
        assert math.hypot(*radial) == pytest.approx(3_000.0, abs=1e-6)
        assert math.hypot(state.vel_east, state.vel_north) == pytest.approx(60.0)
        # clockwise seen from above: velocity = radial rotated by -90 degrees (cw) or +90 (ccw)
        cross = radial[0] * state.vel_north - radial[1] * state.vel_east
        assert sign * cross < 0
    assert outbound.start == pytest.approx(inbound.end, abs=1e-6)  # whole turns: leave where it entered
    assert traj.end_s == pytest.approx(inbound.duration + arc.duration + outbound.duration)


def test_loiter_for_a_duration_at_its_own_speed_and_altitude() -> None:
    """A loiter given duration_s lasts that long; its speed and altitude apply from the orbit on."""
    threat = plan_threat(
        [
            [44.1, 28.9],
            {
                "loiter": {
                    "center": list(LOITER_CENTRE),
                    "radius_m": 2_000.0,
                    "duration_s": 300.0,
                    "speed_mps": 20.0,
                    "alt_m": 1_500.0,
                }
            },
            [44.3, 28.9],
        ]
    )
    traj = GroundTruth(scenario(threat)).trajectories["p"]
    inbound, arc, outbound = traj.segments
    assert (inbound.speed, inbound.alt) == (50.0, 300.0)
    assert arc.duration == pytest.approx(300.0)
    assert (arc.speed, arc.alt) == (20.0, 1_500.0)
    assert arc.sweep == pytest.approx(20.0 * 300.0 / 2_000.0)
    assert (outbound.speed, outbound.alt) == (20.0, 1_500.0)
    assert outbound.start == pytest.approx(arc.at(arc.duration)[:2])


def test_swarm_members_are_trajectories_of_their_own() -> None:
    """Each swarm member flies the leader plan shifted by its offset, under its own id."""
    swarm = plan_threat(
        [[44.0, 28.6], [44.1, 28.7]], id="sw", kind="swarm", count=3, offsets_m=[[0, 0], [500, 0], [0, -800]]
    )
    truth = GroundTruth(scenario(swarm, DRONE))
    assert list(truth.trajectories) == ["sw.1", "sw.2", "sw.3", "uav-1"]
    t = 60.0
    states = [truth.trajectories[f"sw.{k}"].state(t) for k in (1, 2, 3)]
    assert all(s is not None for s in states)
    lead, east, south = states
    assert lead is not None
    assert east is not None
    assert south is not None
    assert (east.east - lead.east, east.north - lead.north) == pytest.approx((500.0, 0.0), abs=0.01)
    assert (south.east - lead.east, south.north - lead.north) == pytest.approx((0.0, -800.0), abs=0.01)
    assert (lead.rcs_m2, lead.emits_rf) == (0.01, True)
    assert truth.trajectories["sw.2"].threat.start_s == swarm.start_s
    assert [s.threat_id for s in truth.at(t)][:3] == ["sw.1", "sw.2", "sw.3"]


def test_state_carries_rcs() -> None:
    """The truth state carries the threat's radar cross-section (kind default or explicit)."""
    cruise = plan_threat([[44.0, 28.6], [44.1, 28.7]], id="cm", kind="cruise")
    big = plan_threat([[44.0, 28.6], [44.1, 28.7]], id="big", rcs_m2=5.0)
    truth = GroundTruth(scenario(cruise, big))
    assert [(s.threat_id, s.rcs_m2, s.emits_rf) for s in truth.at(1.0)] == [
        ("cm", 0.1, False),
        ("big", 5.0, True),
    ]
