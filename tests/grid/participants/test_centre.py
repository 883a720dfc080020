"""FusionCentre on the in-memory broker and a virtual clock: fusing, accounting, switching runs."""

from __future__ import annotations

import msgspec
import pytest

from grid.participants import centre as centre_module
from grid.participants.air_picture import DEFAULT_TRACK_INTERVAL_S
from grid.participants.centre import FusionCentre
from grid.participants.node import MemberNode
from grid.participants.track_log import updates_from_log
from grid.wire import topics
from grid.wire.messages import (
    Awareness,
    AwarenessSource,
    Envelope,
    FusedTrack,
    FusionStats,
    NodeState,
    NodeStatus,
    SensorScan,
)
from grid.world.roster import Roster
from tests.grid.participants.memory_grid import MemoryGrid, report, short_scenario, steps, until


@pytest.fixture(autouse=True)
def _patient_settling(monkeypatch: pytest.MonkeyPatch) -> None:
    """The centre waits for final counts as long as it takes: no test here leans on its idle timeout."""
    monkeypatch.setattr(centre_module, "SETTLE_IDLE_S", 3600.0)
    monkeypatch.setattr(centre_module, "SETTLE_COUNTED_IDLE_S", 3600.0)


def fusion(
    grid: MemoryGrid, roster: Roster, *, track_interval_s: float = DEFAULT_TRACK_INTERVAL_S
) -> FusionCentre:
    """The fusion centre on ``grid``."""
    return FusionCentre(
        roster=roster,
        session_factory=grid.broker.session,
        clock_factory=grid.clock_factory,
        track_interval_s=track_interval_s,
    )


def romania(grid: MemoryGrid, roster: Roster) -> MemberNode:
    """RO's node on ``grid``: its radars see the default scenario's drone."""
    return MemberNode(
        roster.member("RO"),
        roster=roster,
        session_factory=grid.broker.session,
        clock_factory=grid.clock_factory,
    )


async def play_90_s(grid: MemoryGrid, *services: FusionCentre | MemberNode) -> None:
    """Start run-1 (the default scenario cut to 90 s) and advance the clock through it, second by second."""
    await grid.start("run-1", short_scenario(90.0))
    await until(lambda: all(s.run is not None for s in services), "the run started")
    for t in range(91):
        await grid.clock.advance_to(float(t))
        await steps()


async def all_nodes_online(grid: MemoryGrid, roster: Roster, run_id: str, published: dict[str, int]) -> None:
    """Every node's final status of ``run_id``, with the reports each says it published."""
    for node_id in roster:
        await grid.node_online(node_id, run_id, published.get(node_id, 0))


async def test_a_nodes_reports_become_confirmed_tracks_sent_to_the_grid(roster: Roster) -> None:
    """RO's reports of the drone are fused into a confirmed track of uav-1, published on the tracks topic."""
    grid = MemoryGrid()
    centre = fusion(grid, roster)
    node = romania(grid, roster)
    async with grid.serving(centre, node):
        await play_90_s(grid, centre, node)
    tracks = grid.bodies(topics.TRACKS, FusedTrack)
    confirmed = [t for t in tracks if t.status == "confirmed"]
    assert confirmed, "a confirmed track within 90 s"
    assert all(t.run_id == "run-1" and t.node_ids == ("RO",) for t in confirmed)
    assert "uav-1" in confirmed[-1].truth_ids
    assert centre.counters["delivered"] == node.counters["published"]
    assert node.counters["received_tracks"] == len(tracks), "the node heard every track update"
    sources = {a.source for a in grid.bodies(topics.awareness_topic("RO"), Awareness)}
    assert sources == {AwarenessSource.OWN_SENSOR}


async def test_the_account_waits_for_every_nodes_final_count(roster: Roster) -> None:
    """After the end the account is sent once every node's final count is in, then the centre's status."""
    grid = MemoryGrid()
    centre = fusion(grid, roster)
    async with grid.serving(centre):
        await grid.start("run-1", short_scenario())
        await until(lambda: centre.run is not None, "the run started")
        await grid.send(topics.report_topic("BG"), report("run-1", "BG-RFDF-SHABLA"), origin="BG")
        await grid.end("run-1")
        await grid.node_online("BG", "run-1", published=2)  # one of BG's reports is still on its way
        await steps(200)
        assert grid.bodies(topics.FUSION_STATS, FusionStats) == [], "not before every node has reported"
        others = {node_id: 0 for node_id in roster if node_id != "BG"}
        await all_nodes_online(grid, roster, "run-1", {"BG": 2, **others})
        await steps(200)
        assert grid.bodies(topics.FUSION_STATS, FusionStats) == [], "not before BG's second report"
        await grid.send(topics.report_topic("BG"), report("run-1", "BG-RFDF-SHABLA", time_s=2.0), origin="BG")
        await until(lambda: centre.run is None, "the run ended")
    (stats,) = grid.bodies(topics.FUSION_STATS, FusionStats)
    assert (stats.run_id, stats.delivered, stats.rejected) == ("run-1", 2, {})
    assert stats.latency_ms["count"] == 2.0
    order = [
        r.topic
        for r in grid.broker.history
        if r.topic in (topics.FUSION_STATS, topics.status_topic("fusion"))
    ]
    assert order[-3:] == [topics.FUSION_STATS, topics.status_topic("fusion"), topics.status_topic("fusion")]
    final = grid.status("fusion")
    assert final is not None
    assert final.state is NodeState.OFFLINE


async def test_a_report_again_is_a_duplicate_by_message_id(roster: Roster) -> None:
    """A report is fused once: every repeat of its message id is a duplicate."""
    grid = MemoryGrid()
    centre = fusion(grid, roster)
    async with grid.serving(centre):
        await grid.start("run-1", short_scenario())
        await until(lambda: centre.run is not None, "the run started")
        payload = Envelope(body=report("run-1", "BG-RFDF-SHABLA"), origin="BG").to_bytes()
        for _ in range(4):
            await grid.wire.publish(topics.report_topic("BG"), payload)
        await grid.end("run-1")
        await all_nodes_online(grid, roster, "run-1", {"BG": 1})
        await until(lambda: centre.run is None, "the run ended")
    (stats,) = grid.bodies(topics.FUSION_STATS, FusionStats)
    assert (stats.delivered, stats.duplicates) == (1, 3)


async def test_reports_it_cannot_use_are_accounted_by_reason(roster: Roster) -> None:
    """Another node's sensor is rejected as unknown_sensor, a non-report as unexpected_type; others go on."""
    grid = MemoryGrid()
    centre = fusion(grid, roster)
    ro_reports = topics.report_topic("RO")
    async with grid.serving(centre):
        await grid.start("run-1", short_scenario())
        await until(lambda: centre.run is not None, "the run started")
        await grid.send(ro_reports, report("run-1", "BG-RFDF-SHABLA"), origin="RO")
        awareness = Awareness(
            run_id="run-1", node_id="RO", threat_id="uav-1", time_s=1.0, source=AwarenessSource.OWN_SENSOR
        )
        await grid.send(ro_reports, awareness, origin="RO")
        await grid.send(ro_reports, report("run-0", "RO-RFDF-SFANTU-GHEORGHE"), origin="RO")
        await grid.send(ro_reports, report("run-1", "RO-RFDF-SFANTU-GHEORGHE"), origin="RO")
        await grid.end("run-1")
        await all_nodes_online(grid, roster, "run-1", {"RO": 1})
        await until(lambda: centre.run is None, "the run ended")
    (stats,) = grid.bodies(topics.FUSION_STATS, FusionStats)
    assert stats.delivered == 1
    assert stats.rejected == {"unknown_sensor": 1, "unexpected_type": 1}
    assert centre.counters["other_run"] == 1


async def test_a_new_start_mid_run_ends_the_current_run_promptly_and_starts_the_new_one(
    roster: Roster,
) -> None:
    """A second start ends run-1 (its account sent as soon as the final counts are in), then plays run-2.

    The receive loop keeps going while run-1 settles, so the nodes' final counts get through, and
    run-2's report that arrives meanwhile is fused in run-2, not lost.
    """
    grid = MemoryGrid()
    centre = fusion(grid, roster)
    bg_reports = topics.report_topic("BG")
    async with grid.serving(centre):
        await grid.start("run-1", short_scenario())
        await until(lambda: centre.run is not None, "run-1 started")
        await grid.send(bg_reports, report("run-1", "BG-RFDF-SHABLA"), origin="BG")
        await grid.start("run-2", short_scenario())
        await grid.send(bg_reports, report("run-2", "BG-RFDF-SHABLA"), origin="BG")
        await all_nodes_online(grid, roster, "run-1", {"BG": 1})
        await until(lambda: len(grid.bodies(topics.FUSION_STATS, FusionStats)) == 1, "run-1's account sent")
        await until(lambda: centre.run is not None and centre.run.run_id == "run-2", "run-2 started")
        await grid.end("run-2")
        await all_nodes_online(grid, roster, "run-2", {"BG": 1})
        await until(lambda: centre.run is None, "run-2 ended")
    first, second = grid.bodies(topics.FUSION_STATS, FusionStats)
    assert (first.run_id, first.delivered) == ("run-1", 1)
    assert (second.run_id, second.delivered) == ("run-2", 1), "run-2's early report was kept for it"
    assert second.rejected == {}


async def _bg_ends_with_outage_record(
    grid: MemoryGrid, roster: Roster, published: int, outage_reports: tuple[str, str]
) -> None:
    """BG's final status of run-1 names two reports made during a broker outage (at 61 and 62.5 s);
    every other node's final status follows."""
    final = NodeStatus(
        node_id="BG",
        state=NodeState.ONLINE,
        run_id="run-1",
        counters={"published": published},
        outage_reports=outage_reports,
        outage_published_s=(61.0, 62.5),
    )
    await grid.send(topics.status_topic("BG"), final, origin="BG", retain=True)
    for node_id in roster:
        if node_id != "BG":
            await grid.node_online(node_id, "run-1")


async def test_the_account_names_outage_reports_that_never_arrived(roster: Roster) -> None:
    """Of the reports a node recorded after a broker outage, those never received are in lost_published_s."""
    grid = MemoryGrid()
    centre = fusion(grid, roster)
    async with grid.serving(centre):
        await grid.start("run-1", short_scenario())
        await until(lambda: centre.run is not None, "the run started")
        arrived = await grid.send(topics.report_topic("BG"), report("run-1", "BG-RFDF-SHABLA"), origin="BG")
        await grid.end("run-1")
        await _bg_ends_with_outage_record(grid, roster, 1, (arrived.msg_id, "never-arrived"))
        await until(lambda: centre.run is None, "the run ended")
    (stats,) = grid.bodies(topics.FUSION_STATS, FusionStats)
    assert stats.delivered == 1
    assert stats.lost_published_s == (62.5,)


async def test_a_scan_is_fused_in_one_update_and_accounted_per_report(roster: Roster) -> None:
    """A scan's three reports: one tracker update, three delivered; its repeat is three duplicates;
    an outage record naming one of its reports is not lost, one naming a fourth is."""
    grid = MemoryGrid()
    centre = fusion(grid, roster)
    reports = tuple(
        msgspec.structs.replace(report("run-1", "BG-RFDF-SHABLA"), bearing_deg=b) for b in (60.0, 80.0, 100.0)
    )
    env = Envelope(body=SensorScan(run_id="run-1", reports=reports), origin="BG")
    async with grid.serving(centre):
        await grid.start("run-1", short_scenario())
        await until(lambda: centre.run is not None, "the run started")
        for _ in range(2):
            await grid.wire.publish(topics.report_topic("BG"), env.to_bytes())
        await grid.end("run-1")
        await _bg_ends_with_outage_record(grid, roster, 3, (f"{env.msg_id}.2", f"{env.msg_id}.3"))
        await until(lambda: centre.run is None, "the run ended")
    (stats,) = grid.bodies(topics.FUSION_STATS, FusionStats)
    assert (stats.delivered, stats.duplicates) == (3, 3)
    assert stats.tracker["detections"] == 3
    assert stats.update_us["count"] == 1, "one tracker update for the scan"
    assert stats.latency_ms["count"] == 3, "each report's latency"
    assert stats.lost_published_s == (62.5,)


async def _play_ro(roster: Roster, track_interval_s: float) -> tuple[MemoryGrid, FusionStats, MemberNode]:
    """RO's sensors against the drone for 90 s on a virtual clock, to the run's account."""
    grid = MemoryGrid()
    centre = fusion(grid, roster, track_interval_s=track_interval_s)
    node = romania(grid, roster)
    async with grid.serving(centre, node):
        await play_90_s(grid, centre, node)
        await grid.end("run-1")
        for node_id in roster:
            if node_id != "RO":
                await grid.node_online(node_id, "run-1")
        await until(lambda: centre.run is None, "the run ended")
    (stats,) = grid.bodies(topics.FUSION_STATS, FusionStats)
    return grid, stats, node


async def test_the_air_picture_is_rate_bounded_while_the_account_logs_every_update(roster: Roster) -> None:
    """At 15 s a track goes out about once per 15 s, yet the account's log is every update of interval 0.

    (RO's sensors report the drone about every 5 s.)

    The confirmation still goes out at once (so the node's awareness from fused tracks works), and
    the last state of every track reaches the grid.
    """
    every_grid, every, _ = await _play_ro(roster, 0.0)
    grid, bounded, node = await _play_ro(roster, 15.0)
    assert every.tracks_published == len(every.track_log) == len(every_grid.bodies(topics.TRACKS, FusedTrack))
    assert (bounded.track_ids, bounded.track_log) == (every.track_ids, every.track_log), "the same updates"
    assert len(bounded.track_log) >= 20
    tracks = grid.bodies(topics.TRACKS, FusedTrack)
    assert bounded.tracks_published == len(tracks)
    # The node heard them during its run (the last states, flushed at the run's end, come after it).
    assert 0 < node.counters["received_tracks"] <= len(tracks)
    assert len(tracks) < len(bounded.track_log)
    assert bounded.track_interval_s == 15.0
    log = updates_from_log(bounded)
    for track_id in bounded.track_ids:
        mine = [t for t in tracks if t.track_id == track_id]
        last = [u for u in log if u.track_id == track_id][-1]
        assert (mine[-1].time_s, mine[-1].east_m) == (max(0.0, last.time), last.east), (
            "its last state went out"
        )
        first_confirmed = next((u for u in log if u.track_id == track_id and u.confirmed), None)
        if first_confirmed is not None:
            assert any(t.status == "confirmed" and t.time_s == first_confirmed.time for t in mine), (
                "the confirmation went out as it was"
            )
            # After it, one publication per interval at most, until its last update, then the final flush.
            later = sum(t.status == "confirmed" for t in mine) - 1
            assert later <= (last.issued - first_confirmed.issued) // 15.0 + 1
    assert any(t.status == "confirmed" for t in tracks)
