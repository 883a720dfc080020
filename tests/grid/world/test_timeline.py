"""Tests of :class:`grid.world.timeline.Timeline`: what the scenario's events put in force, and when."""

from __future__ import annotations

import math
from typing import Any

import pytest

from grid.geo import LocalFrame
from grid.world.roster import SensorKind
from grid.world.scenario import Scenario, scenario_from_dict
from grid.world.timeline import Impairment, JamEffect, Timeline

JAM_CENTRE = (44.3, 28.7)


def scenario(*events: dict[str, Any]) -> Scenario:
    """A 1000 s scenario with one drone and the given events."""
    return scenario_from_dict(
        {
            "name": "timeline",
            "duration_s": 1_000,
            "threats": [
                {"id": "uav", "speed_mps": 50, "altitude_m": 300, "path": [[44.0, 28.0], [44.1, 28.1]]}
            ],
            "events": list(events),
        }
    )


def test_no_events_nothing_in_force() -> None:
    """A scenario without events: every query answers 'nothing'."""
    tl = Timeline(scenario())
    assert not tl.is_node_out("RO", 10.0)
    assert tl.impairment_for("RO", 10.0) == Impairment()
    assert tl.impairment_for("RO", 10.0).clean
    assert not tl.sensor_failed("RO-RAD-CAPE-MIDIA", 10.0)
    assert tl.jamming_at(44.0, 28.0, 10.0, SensorKind.RADAR) == JamEffect()
    assert tl.spoof_targets("RO", 10.0) == []
    assert tl.broker_outages() == []


def test_node_outage_comes_back_after_its_duration() -> None:
    """A node is out from at_s to at_s + duration_s (end exclusive), and only that node."""
    tl = Timeline(scenario({"kind": "node_outage", "at_s": 100, "duration_s": 50, "node": "BG"}))
    assert [tl.is_node_out("BG", t) for t in (99.9, 100.0, 149.9, 150.0)] == [False, True, True, False]
    assert not tl.is_node_out("RO", 120.0)


def test_outage_without_duration_lasts_to_the_end() -> None:
    """An outage with no duration_s never ends."""
    tl = Timeline(scenario({"kind": "node_outage", "at_s": 100, "node": "BG"}))
    assert tl.is_node_out("BG", 999.0)


def test_link_impairments_combine() -> None:
    """Overlapping impairments of a node add latencies, combine losses, keep the narrowest bandwidth."""
    tl = Timeline(
        scenario(
            {
                "kind": "link_impairment",
                "at_s": 0,
                "node": "TR",
                "latency_ms": 100,
                "loss": 0.1,
                "bandwidth_kbps": 512,
            },
            {
                "kind": "link_impairment",
                "at_s": 50,
                "duration_s": 50,
                "node": "TR",
                "jitter_ms": 20,
                "loss": 0.5,
            },
            {"kind": "link_impairment", "at_s": 0, "node": "GR", "bandwidth_kbps": 64},
        )
    )
    assert tl.impairment_for("TR", 10.0) == Impairment(latency_ms=100.0, loss=0.1, bandwidth_kbps=512.0)
    both = tl.impairment_for("TR", 60.0)
    assert (both.latency_ms, both.jitter_ms, both.bandwidth_kbps) == (100.0, 20.0, 512.0)
    assert both.loss == pytest.approx(1 - 0.9 * 0.5)
    assert tl.impairment_for("GR", 60.0) == Impairment(bandwidth_kbps=64.0)
    assert tl.impairment_for("RO", 60.0).clean


def test_sensor_failure() -> None:
    """One sensor fails for its window; the others keep working."""
    tl = Timeline(
        scenario({"kind": "sensor_failure", "at_s": 20, "duration_s": 10, "sensor": "RO-RAD-TULCEA"})
    )
    assert tl.sensor_failed("RO-RAD-TULCEA", 25.0)
    assert not tl.sensor_failed("RO-RAD-TULCEA", 30.0)
    assert not tl.sensor_failed("RO-RAD-CAPE-MIDIA", 25.0)


def point_at(distance_m: float) -> tuple[float, float]:
    """(lat, lon) ``distance_m`` due east of the jamming centre."""
    lat, lon, _ = LocalFrame(*JAM_CENTRE).surface_point(distance_m, 0.0, 0.0)
    return lat, lon


def test_jamming_inside_the_circle_only() -> None:
    """Inside the circle, in the window, affected kinds get the factors; elsewhere they do not."""
    tl = Timeline(
        scenario(
            {
                "kind": "jamming",
                "at_s": 10,
                "duration_s": 100,
                "center": list(JAM_CENTRE),
                "radius_m": 20_000,
                "affects": ["radar", "rf_df"],
                "pd_factor": 0.2,
                "noise_factor": 4,
            }
        )
    )
    inside, outside = point_at(19_000.0), point_at(21_000.0)
    assert tl.jamming_at(*inside, 50.0, SensorKind.RADAR) == JamEffect(pd_factor=0.2, noise_factor=4.0)
    assert tl.jamming_at(*inside, 50.0, SensorKind.RF_DF) == JamEffect(pd_factor=0.2, noise_factor=4.0)
    assert tl.jamming_at(*inside, 50.0, SensorKind.AEW) == JamEffect()  # not in affects
    assert tl.jamming_at(*inside, 50.0, SensorKind.ACOUSTIC) == JamEffect()
    assert tl.jamming_at(*outside, 50.0, SensorKind.RADAR) == JamEffect()
    assert tl.jamming_at(*inside, 5.0, SensorKind.RADAR) == JamEffect()
    assert tl.jamming_at(*inside, 110.0, SensorKind.RADAR) == JamEffect()


def test_overlapping_jammers_multiply() -> None:
    """A sensor inside two circles gets the product of their factors."""
    jam = {"kind": "jamming", "at_s": 0, "center": list(JAM_CENTRE), "radius_m": 5_000}
    tl = Timeline(scenario(jam, {**jam, "pd_factor": 0.5, "noise_factor": 2}))
    effect = tl.jamming_at(*JAM_CENTRE, 1.0, SensorKind.RADAR)
    assert effect.pd_factor == pytest.approx(0.3 * 0.5)
    assert effect.noise_factor == pytest.approx(3.0 * 2.0)


def test_spoof_targets_fly_the_phantom_path_while_active() -> None:
    """The spoofing node gets phantom truth states along its path from at_s, only in the window."""
    phantom = {
        "id": "ghost",
        "speed_mps": 100,
        "altitude_m": 800,
        "rcs_m2": 2.0,
        "path": [[44.0, 29.0], [44.5, 29.0]],
    }
    tl = Timeline(
        scenario({"kind": "spoofing", "at_s": 200, "duration_s": 100, "node": "HU", "phantom": phantom})
    )
    assert tl.spoof_targets("HU", 199.0) == []
    assert tl.spoof_targets("RO", 250.0) == []
    assert tl.spoof_targets("HU", 300.0) == []
    start, later = tl.spoof_targets("HU", 200.0), tl.spoof_targets("HU", 250.0)
    assert len(start) == len(later) == 1
    a, b = start[0], later[0]
    assert (a.threat_id, a.alt_m, a.rcs_m2, a.emits_rf) == ("ghost", 800.0, 2.0, True)
    assert (a.lat, a.lon) == pytest.approx((44.0, 29.0), abs=1e-4)
    assert math.hypot(b.east - a.east, b.north - a.north) == pytest.approx(5_000.0, rel=1e-6)
    assert b.vel_north == pytest.approx(100.0, rel=1e-3)


def test_broker_outages_in_time_order() -> None:
    """broker_outages gives (stop, restart) pairs sorted by time."""
    tl = Timeline(
        scenario(
            {"kind": "broker_outage", "at_s": 500, "duration_s": 10},
            {"kind": "broker_outage", "at_s": 100, "duration_s": 30},
        )
    )
    assert tl.broker_outages() == [(100.0, 130.0), (500.0, 510.0)]
