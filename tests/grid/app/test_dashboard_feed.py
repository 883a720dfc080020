"""The live map's feed and fan-out: messages become page events, bad ones are counted, queues stay bounded."""

from __future__ import annotations

import json
import math

import pytest

from grid.app.dashboard.fanout import ClientQueue, Fanout
from grid.app.dashboard.feed import Feed, destination, ellipse, sites
from grid.mqtt.transport import Received
from grid.wire import topics
from grid.wire.messages import (
    Awareness,
    AwarenessSource,
    CyberObjects,
    Envelope,
    FusedTrack,
    NodeState,
    NodeStatus,
    SensorScan,
    ThreatReport,
)
from grid.world.roster import Roster


def _received(topic: str, body: object, origin: str = "RO") -> Received:
    return Received(topic, Envelope(body=body, origin=origin).to_bytes(), retain=False)  # type: ignore[arg-type]


def _report(**changes: object) -> ThreatReport:
    fields: dict[str, object] = {
        "run_id": "r-1",
        "sensor_id": "RO-RAD-1",
        "sensor_kind": "radar",
        "sensor_lat": 44.0,
        "sensor_lon": 28.0,
        "sensor_alt_m": 10.0,
        "time_s": 12.5,
        "bearing_deg": 90.0,
        "sigma_bearing_deg": 1.0,
        "range_m": 10_000.0,
        "sigma_range_m": 30.0,
        "elevation_deg": 0.0,
        "sigma_elevation_deg": 1.0,
        "max_range_m": 100_000.0,
    }
    return ThreatReport(**{**fields, **changes})  # type: ignore[arg-type]


def _track(status: str = "confirmed", track_id: str = "T0001") -> FusedTrack:
    cov = [0.0] * 16
    cov[0], cov[5] = 400.0, 100.0  # 20 m east, 10 m north (1 sigma)
    return FusedTrack(
        run_id="r-1",
        track_id=track_id,
        status=status,
        time_s=20.0,
        lat=44.1,
        lon=28.9,
        alt_m=300.0,
        east_m=0.0,
        north_m=0.0,
        vel_east_mps=-30.0,
        vel_north_mps=-40.0,
        covariance=tuple(cov),
        node_ids=("RO", "BG"),
    )


def test_destination_moves_along_the_bearing() -> None:
    """100 km due east on the equator is 0.899 degrees of longitude; due north, of latitude."""
    assert destination(0.0, 0.0, 90.0, 100_000.0) == pytest.approx((0.0, 0.89932), abs=1e-4)
    assert destination(0.0, 0.0, 0.0, 100_000.0) == pytest.approx((0.89932, 0.0), abs=1e-4)


def test_ellipse_is_the_95_percent_one_along_the_larger_variance() -> None:
    """Variances 400 east and 100 north: semi-axes 2.448 sigma, the major one pointing east (bearing 90)."""
    major, minor, bearing = ellipse(_track().covariance)
    k = math.sqrt(5.991)
    assert (major, minor) == pytest.approx((20 * k, 10 * k), abs=0.1)
    assert bearing == pytest.approx(90.0)


def test_a_scan_gives_radar_plots_and_bearing_rays() -> None:
    """A ranged report is a plot at its horizontal range; a bearing-only one a ray to its maximum range."""
    ray = _report(range_m=None, sigma_range_m=None, elevation_deg=None, sigma_elevation_deg=None)
    scan = SensorScan(run_id="r-1", reports=(_report(), ray))
    (event,) = Feed().take(_received(topics.report_topic("RO"), scan))
    assert event["k"] == "scan"
    assert event["node"] == "RO"
    assert event["from"] == [44.0, 28.0]
    assert event["plots"] == [destination(44.0, 28.0, 90.0, 10_000.0)]
    assert event["rays"] == [destination(44.0, 28.0, 90.0, 100_000.0)]


def test_tracks_are_kept_for_new_pages_until_deleted() -> None:
    """A live track is in the snapshot (with a confirmation alert); its deletion takes it out."""
    feed = Feed()
    events = feed.take(_received(topics.TRACKS, _track(), origin="fusion"))
    assert [e["k"] for e in events] == ["track", "alert"]
    assert events[0]["id"] == "T0001"
    assert events[0]["speed_mps"] == 50.0
    assert events[0]["course_deg"] == pytest.approx(216.9, abs=0.1)
    assert [e["k"] for e in feed.snapshot()] == ["track", "alert"]
    feed.take(_received(topics.TRACKS, _track("deleted"), origin="fusion"))
    assert [e["k"] for e in feed.snapshot()] == ["alert"]


def test_a_node_going_offline_is_a_status_and_an_alert() -> None:
    """The retained status decides a site's colour; a node that was up and goes offline raises an alert."""
    feed = Feed()
    feed.take(_received(topics.status_topic("RO"), NodeStatus(node_id="RO", state=NodeState.RUNNING)))
    events = feed.take(
        _received(topics.status_topic("RO"), NodeStatus(node_id="RO", state=NodeState.OFFLINE))
    )
    assert events[0] == {"k": "status", "node": "RO", "state": "offline"}
    assert events[1]["text"] == "RO offline"
    assert {"k": "status", "node": "RO", "state": "offline"} in feed.snapshot()


def test_awareness_and_indicators() -> None:
    """A first awareness is an alert; the hub's shared indicator is an indicator event, other objects not."""
    feed = Feed()
    aware = Awareness(
        run_id="r-1", node_id="BG", threat_id="uav-1", time_s=7.0, source=AwarenessSource.OWN_SENSOR
    )
    (alert,) = feed.take(_received(topics.awareness_topic("BG"), aware, origin="BG"))
    assert alert["text"] == "BG aware of uav-1 (own_sensor)"
    objects = json.dumps(
        [
            {
                "type": "indicator",
                "id": "indicator--1",
                "name": "bad domain",
                "pattern": "[domain-name:value = 'x']",
            },
            {"type": "identity", "id": "identity--2"},
        ]
    )
    (indicator,) = feed.take(
        _received(
            topics.CYBER_JCC,
            CyberObjects(run_id="r-1", key="domain:x.example", objects=objects),
            origin="hub",
        )
    )
    assert indicator["k"] == "indicator"
    assert indicator["name"] == "bad domain"
    assert indicator["key"] == "domain:x.example"


def test_bad_messages_are_counted_not_fatal() -> None:
    """Garbage, a foreign topic and bad cyber JSON are counted by reason; a cleared retained one is not."""
    feed = Feed()
    assert feed.take(Received(topics.TRACKS, b"\x93not an envelope", retain=False)) == []
    assert (
        feed.take(Received("elsewhere/topic", _received(topics.TRACKS, _track()).payload, retain=False)) == []
    )
    bad_json = CyberObjects(run_id="r-1", key="k", objects="{not json")
    assert feed.take(_received(topics.CYBER_JCC, bad_json, origin="hub")) == []
    assert feed.take(Received(topics.CONTROL, b"", retain=True)) == []
    assert feed.received == 4
    assert sum(feed.rejected.values()) == 3
    assert feed.rejected["bad_topic"] == 1


def test_sites_cover_every_member(roster: Roster) -> None:
    """Every member state has at least one site on the map, each with a position."""
    listed = sites(roster)
    assert {s["node"] for s in listed} == set(roster)
    assert all(-90 <= s["at"][0] <= 90 and -180 <= s["at"][1] <= 180 for s in listed)


def test_a_full_queue_drops_its_oldest_and_counts() -> None:
    """Appending never blocks: a page that reads nothing keeps only the newest events."""
    queue = ClientQueue(maxlen=3)
    queue.put({"n": i} for i in range(5))
    assert queue.dropped == 2


async def test_a_queue_hands_over_in_batches_and_ends_when_closed() -> None:
    """next_batch returns everything pending; once closed and drained it returns nothing."""
    fanout = Fanout()
    slow, fast = fanout.add(maxlen=2), fanout.add(maxlen=100)
    fanout.publish([{"n": i} for i in range(10)])
    assert await fast.next_batch() == [{"n": i} for i in range(10)]
    assert await slow.next_batch() == [{"n": 8}, {"n": 9}]
    assert fanout.dropped == 8
    fanout.remove(slow)
    assert fanout.dropped == 8
    fanout.close()
    assert await fast.next_batch() == []
