"""Tests of the flight-plan language and its kinematics in :mod:`grid.world.flight`."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grid.geo import LocalFrame
from grid.world.flight import FlightPlan, LoiterItem, Waypoint, fly, item_position

FRAME = LocalFrame(44.2, 28.8)

lat = st.floats(min_value=43.8, max_value=44.6)
lon = st.floats(min_value=28.3, max_value=29.3)
speed = st.floats(min_value=5.0, max_value=300.0)
alt = st.floats(min_value=0.0, max_value=5_000.0)
point = st.tuples(lat, lon).map(list)
waypoint = st.fixed_dictionaries({"lat": lat, "lon": lon}, optional={"speed_mps": speed, "alt_m": alt})
loiter = st.fixed_dictionaries(
    {"center": point, "radius_m": st.floats(min_value=200.0, max_value=10_000.0)},
    optional={"direction": st.sampled_from(["cw", "ccw"]), "speed_mps": speed, "alt_m": alt},
).flatmap(
    lambda d: st.one_of(
        st.floats(min_value=0.1, max_value=3.0).map(lambda n: {"loiter": {**d, "turns": n}}),
        st.floats(min_value=1.0, max_value=900.0).map(lambda s: {"loiter": {**d, "duration_s": s}}),
    )
)
plans = st.builds(
    lambda first, rest, v, h: FlightPlan.model_validate(
        {"speed_mps": v, "altitude_m": h, "path": [first, *rest]}
    ),
    st.one_of(point, waypoint),
    st.lists(st.one_of(point, waypoint, loiter), min_size=1, max_size=6),
    speed,
    alt,
)


@settings(max_examples=60, deadline=None)
@given(plans)
def test_segments_are_continuous_and_flown_at_their_speed(plan: FlightPlan) -> None:
    """Segments follow each other in time and space, and each is flown at its own speed."""
    segments = fly(plan, FRAME)
    assert segments[0].t0 == 0.0
    for a, b in itertools.pairwise(segments):
        assert b.t0 == pytest.approx(a.t0 + a.duration, abs=1e-6)
        end = a.at(a.duration)[:2]
        assert math.dist(end, b.start) < 1e-3
        assert math.dist(end, a.end) < 1e-3
    for seg in segments:
        if seg.duration > 0:
            ve, vn = seg.at(seg.duration / 2)[2:]
            assert math.hypot(ve, vn) == pytest.approx(seg.speed, rel=1e-9)


def test_item_position() -> None:
    """A point, a waypoint and a loiter's centre give their (lat, lon)."""
    items: list[Any] = [
        (44.0, 28.0),
        Waypoint(lat=44.1, lon=28.1),
        LoiterItem.model_validate({"loiter": {"center": [44.2, 28.2], "radius_m": 10, "turns": 1}}),
    ]
    assert [item_position(i) for i in items] == [(44.0, 28.0), (44.1, 28.1), (44.2, 28.2)]


def test_loiter_from_its_centre_enters_due_north() -> None:
    """A loiter entered from its own centre starts on the circle due north of it."""
    plan = FlightPlan.model_validate(
        {
            "speed_mps": 50,
            "altitude_m": 100,
            "path": [[44.2, 28.8], {"loiter": {"center": [44.2, 28.8], "radius_m": 1_000, "turns": 1}}],
        }
    )
    inbound, arc = fly(plan, FRAME)
    assert inbound.end == pytest.approx((0.0, 1_000.0), abs=1e-3)
    assert arc.theta0 == 0.0
    assert arc.duration == pytest.approx(2 * math.pi * 1_000 / 50)
