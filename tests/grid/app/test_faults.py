"""Fault injection on real processes: the broker crashes (SIGKILL), a node's process dies, a
subscriber stops reading. Verdicts are counts (reports lost, duplicates, statuses), never timings;
the timings are printed for the report (``-s``)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from grid.app.run import RunOptions, run_grid
from grid.errors import ConfigError
from grid.mqtt.broker import BrokerInfo
from grid.mqtt.transport import Transport
from grid.wire import topics
from grid.wire.messages import (
    Envelope,
    FusedTrack,
    NodeState,
    NodeStatus,
    SensorScan,
    ThreatReport,
    reports_in,
)
from grid.world.roster import Roster
from grid.world.scenario import load_scenario, scenario_from_dict
from tests.conftest import GridsimProcesses, member_processes_of

pytestmark = [pytest.mark.broker, pytest.mark.timeout(480)]

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


async def test_broker_killed_mid_scenario_loses_nothing_unaccounted(roster: Roster, tmp_path: Path) -> None:
    """Mosquitto SIGKILLed mid-track and restarted: every report fused, or each loss explained."""
    base = load_scenario(SCENARIOS / "broker-kill.yaml", roster=roster).to_dict()
    scenario = scenario_from_dict(
        {
            **base,
            "duration_s": 60.0,
            "events": [{"kind": "broker_outage", "at_s": 20.0, "duration_s": 8.0, "signal": "kill"}],
        }
    )
    # Own broker (None): only a broker gridsim started can be killed. Played fast: the verdicts
    # are counts, complete however late the reports arrive.
    summary = await run_grid(
        RunOptions(scenario=scenario, roster=roster, speed=10.0, broker_url=None, out_dir=tmp_path, workers=2)
    )
    (event,) = summary["events"]
    assert event["applied"] is True
    assert event["stopped_by"] == "SIGKILL"
    assert event["member_reconnects"] == len(roster), "every node came back on its session"
    messages = summary["messages"]
    print(f"\nbroker SIGKILL: {messages} lost in window: {event.get('reports_lost')}")
    assert summary["missing_accounts"] == []
    assert messages["published"] > 0
    # Every loss has its cause: published during the crash before the fusion centre re-subscribed.
    assert messages["lost"] == event.get("reports_lost", 0)
    assert messages["delivered"] + messages["lost"] == messages["published"]
    (threat,) = summary["threats"]
    assert threat["detected"] is True


async def test_fusion_killed_and_restarted_catches_up(roster: Roster, tmp_path: Path) -> None:
    """The fusion worker SIGKILLed mid-run and restarted: it resumes session and journal, loses nothing."""
    scenario = scenario_from_dict({**load_scenario(roster=roster).to_dict(), "duration_s": 60.0})
    summary = await run_grid(
        RunOptions(
            scenario=scenario,
            roster=roster,
            speed=5.0,
            out_dir=tmp_path,
            workers=2,
            kill_fusion_at_s=20.0,
            fusion_down_s=8.0,
        )
    )
    (fault,) = summary["faults"]
    assert fault["kind"] == "fusion_kill"
    killed, restarted = fault["pids"]
    assert killed is not None
    assert restarted is not None
    assert killed != restarted
    messages = summary["messages"]
    resumed = [line for line in (tmp_path / "fusion.log").read_text().splitlines() if "journal" in line]
    print(f"\nfusion SIGKILL: {messages}; {fault}; {resumed}")
    assert summary["missing_accounts"] == []
    assert messages["published"] > 0
    # Journaled before acknowledged, resumed on its persistent session: nothing is lost, and what
    # came twice (journaled, then sent again) is dropped by message id and counted as a duplicate.
    assert messages["lost"] == 0
    assert messages["delivered"] == messages["published"]
    assert messages["rejected"] == {}
    assert summary["latency_ms"]["count"] == messages["delivered"], "replayed reports keep their latencies"
    (threat,) = summary["threats"]
    assert threat["detected"] is True


async def test_node_process_killed_goes_offline_and_the_track_goes_on(
    mosquitto: BrokerInfo, roster: Roster, tmp_path: Path, gridsim: GridsimProcesses
) -> None:
    """`gridsim node --id RO` SIGKILLed after its first report: its will says offline, others track on."""
    index = 2 + list(roster).index("RO")  # member_processes starts fusion, hub, then the roster's nodes
    async with member_processes_of(gridsim, mosquitto.url, roster, tmp_path):
        watcher = Transport(host=mosquitto.host, port=mosquitto.port, client_id="test-node-death")
        async with watcher:
            await watcher.subscribe(topics.status_topic("RO"), topics.report_topic("RO"), topics.TRACKS)
            seen = _Seen()
            killer = asyncio.create_task(_kill_on_first_report(watcher, gridsim.started[index], seen))
            options = RunOptions(
                scenario=scenario_from_dict({**load_scenario(roster=roster).to_dict(), "duration_s": 60.0}),
                roster=roster,
                speed=5.0,
                broker_url=mosquitto.url,
                out_dir=tmp_path,
                local_services=False,
                join_timeout_s=240.0,  # seventeen Python processes starting on a loaded 2-core machine
            )
            try:
                summary = await run_grid(options)
            finally:
                killer.cancel()
    print(f"\nnode SIGKILL: RO last report at {seen.last_ro_s} s, tracks until {seen.last_track_s} s")
    assert seen.will_seen, "the broker published RO's last will: offline"
    assert summary["missing_accounts"] == ["RO"], "a dead node sends no final account"
    (threat,) = summary["threats"]
    assert threat["detected"] is True
    assert seen.last_ro_s is not None
    assert seen.last_track_s is not None
    assert seen.last_track_s > seen.last_ro_s + 10.0, "the fusion centre tracked on from the others"
    messages = summary["messages"]
    # RO's published count died with it: what the others published all reached the centre.
    assert messages["lost"] == 0
    assert messages["delivered"] >= messages["published"] > 0


@dataclass
class _Seen:
    last_ro_s: float | None = None
    last_track_s: float | None = None
    will_seen: bool = False
    killed: bool = False


async def _kill_on_first_report(watcher: Transport, proc: subprocess.Popen[Any], seen: _Seen) -> None:
    """SIGKILL ``proc`` (RO's node) on its first report; then note its will and the fused tracks."""
    async for received in watcher.messages():
        if not received.payload:
            continue
        body = Envelope.from_bytes(received.payload).body
        if isinstance(body, SensorScan | ThreatReport):
            # Reports RO had sent before it died may still come: the last one counts.
            times = [r.time_s for _, r in reports_in(Envelope.from_bytes(received.payload))]
            seen.last_ro_s = max([*times, seen.last_ro_s or 0.0])
            if not seen.killed:
                proc.send_signal(signal.SIGKILL)
                seen.killed = True
        elif isinstance(body, NodeStatus) and body.state is NodeState.OFFLINE and seen.killed:
            seen.will_seen = True
        elif isinstance(body, FusedTrack):
            seen.last_track_s = max(body.time_s, seen.last_track_s or 0.0)


@pytest.mark.parametrize(
    ("workers", "at_s", "down_s", "match"),
    [(0, 10.0, 5.0, "needs --workers"), (2, 58.0, 5.0, "must end before"), (2, -1.0, 5.0, "must end before")],
)
def test_fusion_kill_is_checked(roster: Roster, workers: int, at_s: float, down_s: float, match: str) -> None:
    """A fusion kill needs the centre in a worker process, and must be over before the scenario ends."""
    scenario = scenario_from_dict({**load_scenario(roster=roster).to_dict(), "duration_s": 60.0})
    with pytest.raises(ConfigError, match=match):
        RunOptions(
            scenario=scenario, roster=roster, workers=workers, kill_fusion_at_s=at_s, fusion_down_s=down_s
        )
