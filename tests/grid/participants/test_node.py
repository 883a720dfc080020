"""MemberNode on the in-memory broker and a virtual clock: scanning, sharing, awareness, outages."""

from __future__ import annotations

from grid.participants.node import MemberNode, node_subscriptions
from grid.wire import topics
from grid.wire.messages import (
    Awareness,
    AwarenessSource,
    Envelope,
    FusedTrack,
    NodePicture,
    NodeState,
    NodeStatus,
    SensorScan,
)
from grid.world.roster import Roster
from grid.world.scenario import Scenario
from tests.grid.participants.memory_grid import MemoryGrid, report, short_scenario, steps, until


def romania(grid: MemoryGrid, roster: Roster, *, fuse_locally: bool = False) -> MemberNode:
    """Romania's node on ``grid``."""
    return MemberNode(
        roster.member("RO"),
        roster=roster,
        fuse_locally=fuse_locally,
        session_factory=grid.broker.session,
        clock_factory=grid.clock_factory,
    )


def fused_track(status: str) -> FusedTrack:
    """A fused track of run-1 that BG's reports made, of the drone."""
    return FusedTrack(
        run_id="run-1",
        track_id="t1",
        status=status,
        time_s=0.0,
        lat=44.2,
        lon=29.0,
        alt_m=300.0,
        east_m=0.0,
        north_m=0.0,
        vel_east_mps=0.0,
        vel_north_mps=0.0,
        covariance=tuple(float(i == j) for i in range(4) for j in range(4)),
        node_ids=("BG",),
        truth_ids=("uav-1",),
        updates=3,
    )


async def play(grid: MemoryGrid, node: MemberNode, scenario: Scenario, *, until_s: float) -> None:
    """Start run-1 and move the virtual clock to ``until_s`` one second at a time."""
    await grid.start("run-1", scenario)
    await until(lambda: node.run is not None, "the run started")
    for t in range(int(until_s) + 1):
        await grid.clock.advance_to(float(t))
        await steps()


async def test_a_node_publishes_each_report_once_on_its_own_topic(roster: Roster) -> None:
    """Every scan goes once, as one message to RO's own report topic and no other; the counter
    counts its reports."""
    grid = MemoryGrid()
    node = romania(grid, roster)
    async with grid.serving(node):
        await play(grid, node, short_scenario(60.0), until_s=60.0)
    envs = grid.envelopes(topics.ALL_REPORTS)
    assert envs, "RO's sensors saw the drone within a minute"
    assert {r.topic for r in grid.broker.published(topics.ALL_REPORTS)} == {topics.report_topic("RO")}
    ids = [env.msg_id for env in envs]
    assert len(ids) == len(set(ids)), "each scan published once"
    scans = [env.body for env in envs]
    assert all(isinstance(s, SensorScan) and s.run_id == "run-1" for s in scans)
    reports = grid.reports(topics.ALL_REPORTS)
    assert {r.sensor_id for r in reports} <= {s.id for s in node.member.sensors}
    scan_times = [(r.sensor_id, r.time_s) for r in reports]
    assert len(set(scan_times)) == len(ids), "one message per sensor scan"
    assert node.counters["published"] == len(reports)
    assert node.counters["received_reports"] == 0, "its own reports do not come back to it"


def test_a_node_subscribes_to_its_peers_reports_and_the_tracks(roster: Roster) -> None:
    """CZ (eastern-flank only) subscribes to each eastern-flank peer's topic and the tracks, not its own."""
    subscriptions = node_subscriptions("CZ", roster)
    peers = ["BG", "DE", "HU", "NL", "PL", "RO", "SK", "US"]
    assert subscriptions == [
        *(topics.report_topic(p) for p in peers),
        topics.TRACKS,
        topics.mitigation_topic("CZ"),
    ]
    assert topics.report_topic("CZ") not in subscriptions


async def test_the_same_run_publishes_the_same_reports(roster: Roster) -> None:
    """Two plays of one scenario and seed give identical measurements: nothing depends on timing."""
    measured = []
    for _ in range(2):
        grid = MemoryGrid()
        node = romania(grid, roster)
        async with grid.serving(node):
            await play(grid, node, short_scenario(40.0), until_s=40.0)
        measured.append(
            [
                (r.sensor_id, r.time_s, r.bearing_deg, r.range_m)
                for r in grid.reports(topics.report_topic("RO"))
            ]
        )
    assert measured[0]
    assert measured[0] == measured[1]


async def test_first_awareness_of_a_threat_is_published_once(roster: Roster) -> None:
    """RO learns of the drone from its own sensor and says so once, however many reports follow."""
    grid = MemoryGrid()
    node = romania(grid, roster)
    async with grid.serving(node):
        await play(grid, node, short_scenario(60.0), until_s=60.0)
    (aware,) = grid.bodies(topics.awareness_topic("RO"), Awareness)
    assert (aware.run_id, aware.threat_id, aware.source) == ("run-1", "uav-1", AwarenessSource.OWN_SENSOR)
    assert 0.0 < aware.time_s <= 60.0
    assert node.awareness["uav-1"] == (aware.time_s, AwarenessSource.OWN_SENSOR)


async def test_grid_reports_count_once_by_message_id(roster: Roster) -> None:
    """A report's repeats (QoS 1 redeliveries) are duplicates, not used; awareness comes from the first."""
    grid = MemoryGrid()
    node = romania(grid, roster)
    async with grid.serving(node):
        await grid.start("run-1", short_scenario())
        await until(lambda: node.run is not None, "the run started")
        payload = Envelope(body=report("run-1", "BG-RFDF-SHABLA"), origin="BG").to_bytes()
        for _ in range(3):
            await grid.wire.publish(topics.report_topic("BG"), payload)
        await until(lambda: node.counters["duplicates"] == 2, "the duplicates counted")
    assert node.counters["received_reports"] == 1
    (aware,) = grid.bodies(topics.awareness_topic("RO"), Awareness)
    assert (aware.threat_id, aware.source, aware.time_s) == ("uav-1", AwarenessSource.GRID_REPORT, 0.0)


async def test_a_confirmed_fused_track_makes_the_node_aware(roster: Roster) -> None:
    """A confirmed track from the fusion centre names its threats; a tentative one teaches nothing."""
    grid = MemoryGrid()
    node = romania(grid, roster)
    async with grid.serving(node):
        await grid.start("run-1", short_scenario())
        await until(lambda: node.run is not None, "the run started")
        await grid.send(topics.TRACKS, fused_track("tentative"), origin="fusion")
        await grid.send(topics.TRACKS, fused_track("confirmed"), origin="fusion")
        await until(lambda: node.counters["received_tracks"] == 2, "both tracks received")
    (aware,) = grid.bodies(topics.awareness_topic("RO"), Awareness)
    assert aware.source is AwarenessSource.FUSED_TRACK


async def test_messages_of_another_run_are_counted_and_not_used(roster: Roster) -> None:
    """A report of a run the node is not in is counted as other_run and teaches it nothing."""
    grid = MemoryGrid()
    node = romania(grid, roster)
    async with grid.serving(node):
        await grid.start("run-1", short_scenario())
        await until(lambda: node.run is not None, "the run started")
        await grid.send(topics.report_topic("BG"), report("run-0", "BG-RFDF-SHABLA"), origin="BG")
        await until(lambda: node.counters["other_run"] == 1, "the other run's report counted")
    assert node.counters["received_reports"] == 0
    assert node.awareness == {}


async def test_a_node_outage_holds_the_session_and_the_will_says_offline(roster: Roster) -> None:
    """During its outage RO is off the broker (its will published), makes no reports, then comes back."""
    outage = {"kind": "node_outage", "at_s": 20.0, "duration_s": 20.0, "node": "RO"}
    grid = MemoryGrid()
    node = romania(grid, roster)
    async with grid.serving(node):
        await play(grid, node, short_scenario(60.0, events=[outage]), until_s=25.0)
        assert not node.session.connected
        will = grid.status("RO")
        assert will is not None
        assert will.state is NodeState.OFFLINE
        for t in range(26, 61):
            await grid.clock.advance_to(float(t))
            await steps()
        assert node.session.connected
        status = grid.status("RO")
        assert status is not None
        assert (status.state, status.run_id) == (NodeState.RUNNING, "run-1")
        await grid.end("run-1")
        await until(lambda: node.run is None, "the run ended")
    times = [r.time_s for r in grid.reports(topics.report_topic("RO"))]
    assert any(t < 20.0 for t in times)
    assert any(t >= 40.0 for t in times)
    assert not [t for t in times if 20.0 <= t < 40.0], "nothing measured during the outage was sent"
    assert node.counters["outages"] == 1
    assert node.counters["reports_suppressed_outage"] > 0
    final = [s for s in grid.bodies(topics.status_topic("RO"), NodeStatus) if s.run_id == "run-1"][-1]
    assert (final.state, final.counters["reconnects"]) == (NodeState.ONLINE, 1)


async def test_in_distributed_mode_the_picture_comes_before_the_final_status(roster: Roster) -> None:
    """With fuse_locally the run's end publishes RO's scored picture, then its final status."""
    grid = MemoryGrid()
    node = romania(grid, roster, fuse_locally=True)
    async with grid.serving(node):
        await play(grid, node, short_scenario(120.0), until_s=120.0)
        await grid.end("run-1")
        await until(lambda: node.run is None, "the run ended")
    ours = [r.topic for r in grid.broker.history if r.topic.endswith("/RO") and "/reports/" not in r.topic]
    picture_at = ours.index(topics.picture_topic("RO"))
    assert ours[picture_at + 1] == topics.status_topic("RO")
    (picture,) = grid.bodies(topics.picture_topic("RO"), NodePicture)
    assert set(picture.threats) == {"uav-1"}
    assert picture.threats["uav-1"]["time_to_locate_s"] is not None
