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
# 300 simulated s need about 18 CPU seconds, broker included: 10x gives 30 s, under the 3x
# headroom a 5x run would have, but the outage's timing bounds below are seconds wide.
SPEED = 10.0


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
@pytest.mark.timeout(300)  # loaded two-core machine: about 60 s each
@pytest.mark.parametrize("kind", ["mosquitto", "amqtt"])
async def test_grid_rides_through_a_broker_restart(kind: str, roster: Roster, tmp_path: Path) -> None:
    """A 20 s broker stop: all reconnect; Mosquitto loses nothing, amqtt only what precedes resubscribing."""
    # The library's outage scenario, cut to where the outage and the catch-up after it are over.
    scenario = scenario_from_dict({**load_scenario(SCENARIO, roster=roster).to_dict(), "duration_s": 150.0})
    summary = await run_grid(
        RunOptions(scenario=scenario, roster=roster, speed=SPEED, broker_kind=kind, out_dir=tmp_path)  # type: ignore[arg-type]
    )
    (outage,) = summary["events"]
    assert outage["applied"] is True
    down, up = outage["down_interval_s"]
    # Stopped at its time and restarted at its end, each as soon as the controller got to it:
    # how soon depends on spare CPU, so only the order is asserted.
    assert 60.0 <= down < 80.0 <= up < scenario.duration_s
    assert outage["member_reconnects"] == len(roster), "every member node reconnected once"
    assert outage["reports_made_while_down"] > 0, "reports measured during the outage arrived afterwards"
    messages = summary["messages"]
    assert messages["rejected"] == {}
    assert messages["published"] > 0
    assert messages["lost"] == messages["published"] - messages["delivered"]
    # The loss window: from the broker's stop until the fusion centre had re-subscribed.
    window_from, window_to = outage["lost_window_s"]
    assert window_from == down < window_to
    if kind == "mosquitto":
        assert messages["lost"] == 0, "Mosquitto's persistent sessions lose nothing"
        assert outage["reports_lost"] == 0
    else:
        # amqtt keeps no sessions across its restart: what it accepted before the fusion centre
        # re-subscribed is lost, and the summary counts those. amqtt 0.12's own broker script also
        # lost up to 5 reports the window cannot explain (1 run in 14 under load); with gridsim's
        # fixes (grid.mqtt.amqtt_broker) none in 14, but the bound stays a couple.
        unexplained = messages["lost"] - outage["reports_lost"]
        assert 0 <= unexplained <= 2
        if outage["reports_lost"]:
            first, last = outage["lost_published_s"]
            assert first <= last < window_to, "every lost report was published before the re-subscription"
            assert "before the fusion centre had re-subscribed" in " ".join(summary["warnings"])
        assert "amqtt" in outage["note"]
    assert summary["missing_accounts"] == []
    (threat,) = summary["threats"]
    assert threat["detected"] is True
    # Locating takes reports fused on time: on an overloaded machine they come too late to be
    # fused (median latencies of 6-20 s of wall time were seen at a load of 16-25 on two cores),
    # and the summary says so. Only a run without that warning must have located the drone.
    if not any("too late to be fused" in warning for warning in summary["warnings"]):
        assert threat["time_to_locate_s"] is not None
