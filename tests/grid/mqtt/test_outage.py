"""Broker outages: played on a broker gridsim started, reported as not played on an external one."""

from __future__ import annotations

from pathlib import Path

import pytest

from grid.app.run import RunOptions, run_grid
from grid.bundled import bundled_dir
from grid.clock import VirtualClock
from grid.mqtt.broker import BrokerInfo
from grid.mqtt.outage import play_broker_outages
from grid.world.roster import Roster
from grid.world.scenario import load_scenario, scenario_from_dict
from grid.world.timeline import Timeline

SCENARIO = bundled_dir("scenarios") / "broker-outage.yaml"


async def test_external_broker_outage_is_recorded_as_not_played() -> None:
    """gridsim cannot stop a broker it did not start: the outage is listed, not applied, with the reason."""
    base = load_scenario(SCENARIO).to_dict()
    timeline = Timeline(scenario_from_dict(base))
    external = BrokerInfo(kind="external", host="127.0.0.1", port=1883)
    (played,) = await play_broker_outages(external, timeline, VirtualClock(), duration_s=300.0)
    assert played.applied is False
    assert played.at_s == 60.0
    assert "external" in (played.note or "")


@pytest.mark.broker
@pytest.mark.parametrize("kind", ["mosquitto", "amqtt"])
async def test_grid_rides_through_a_broker_restart(kind: str, roster: Roster, tmp_path: Path) -> None:
    """The broker is stopped for 20 s mid-track: everyone reconnects; with Mosquitto nothing is lost."""
    scenario = load_scenario(SCENARIO, roster=roster)
    summary = await run_grid(
        RunOptions(scenario=scenario, roster=roster, speed=25.0, broker_kind=kind, out_dir=tmp_path)  # type: ignore[arg-type]
    )
    (outage,) = summary["events"]
    assert outage["applied"] is True
    down, up = outage["down_interval_s"]
    assert 60.0 <= down < 63.0
    assert 80.0 <= up < 90.0
    assert outage["member_reconnects"] == len(roster), "every member node reconnected once"
    assert outage["reports_made_while_down"] > 0, "reports measured during the outage arrived afterwards"
    messages = summary["messages"]
    assert messages["rejected"] == {}
    assert messages["published"] > 0
    assert messages["lost"] == messages["published"] - messages["delivered"]
    if kind == "mosquitto":
        assert messages["lost"] == 0, "Mosquitto's persistent sessions lose nothing"
    else:
        # amqtt keeps no sessions across its restart: a few reports published before the fusion
        # centre re-subscribed are lost, and the summary counts and explains them.
        assert messages["lost"] < 0.05 * messages["published"]
        assert "amqtt" in outage["note"]
    assert summary["missing_accounts"] == []
    assert summary["threats"][0]["time_to_locate_s"] is not None
