"""Fault injection on real processes: the broker crashes (SIGKILL), a node's process dies, a
subscriber stops reading. Verdicts are counts (reports lost, duplicates, statuses), never timings;
the timings are printed for the report (``-s``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grid.app.run import RunOptions, run_grid
from grid.world.roster import Roster
from grid.world.scenario import load_scenario, scenario_from_dict

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
