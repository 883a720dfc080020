"""End to end: a short scenario through a real broker, all fifteen nodes and the fusion centre."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest

from grid.broker import BrokerInfo
from grid.roster import Roster
from grid.run import RunOptions, run_grid
from grid.scenario import Scenario, load_scenario

pytestmark = pytest.mark.broker


def short_scenario() -> Scenario:
    """The default drone scenario cut to two minutes."""
    return load_scenario().model_copy(update={"duration_s": 120.0})


async def _run(broker: BrokerInfo, roster: Roster, out: Path) -> dict[str, object]:
    options = RunOptions(
        scenario=short_scenario(), roster=roster, speed=40.0, broker_url=broker.url, out_dir=out
    )
    return await run_grid(options)


def _assert_located_and_clean(summary: dict, roster: Roster) -> None:  # type: ignore[type-arg]
    (threat,) = summary["threats"]
    assert threat["detected"] is True
    assert threat["time_to_locate_s"] is not None
    assert threat["rmse_m"] is not None
    assert threat["rmse_m"] < 150.0
    messages = summary["messages"]
    assert messages["rejected"] == {}
    assert messages["published"] > 0
    assert messages["delivered"] == messages["published"], "every published report reached the fusion centre"
    assert summary["missing_accounts"] == []
    assert summary["nodes"]["count"] == len(roster) == 15
    assert set(summary["awareness"]) == set(roster)
    assert all(entry["uav-1"]["time_to_awareness_s"] is not None for entry in summary["awareness"].values())
    assert summary["latency_ms"]["count"] == messages["delivered"]


async def test_short_scenario_through_mosquitto(
    mosquitto: BrokerInfo, roster: Roster, tmp_path: Path
) -> None:
    """Through Mosquitto the drone is located, nothing is rejected, and every report arrives."""
    summary = await _run(mosquitto, roster, tmp_path)
    _assert_located_and_clean(summary, roster)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["threats"] == summary["threats"]
    assert written["broker"]["url"] == mosquitto.url


async def test_short_scenario_through_amqtt(amqtt_broker: BrokerInfo, roster: Roster, tmp_path: Path) -> None:
    """Through the embedded amqtt broker the same run is located and clean."""
    summary = await _run(amqtt_broker, roster, tmp_path)
    _assert_located_and_clean(summary, roster)


async def test_same_seed_same_measurements(mosquitto: BrokerInfo, roster: Roster, tmp_path: Path) -> None:
    """Two runs of one scenario and seed make the very same measurements, node by node."""
    first = await _run(mosquitto, roster, tmp_path / "a")
    second = await _run(mosquitto, roster, tmp_path / "b")
    assert first["measurement_digest"] == second["measurement_digest"]
    assert first["messages"]["published"] == second["messages"]["published"]
    published = {n: c["published"] for n, c in first["per_node"].items()}
    assert published == {n: c["published"] for n, c in second["per_node"].items()}
    assert (
        first["threats"][0]["time_to_first_detection_s"] == second["threats"][0]["time_to_first_detection_s"]
    )


async def test_one_process_per_node(mosquitto: BrokerInfo, roster: Roster, tmp_path: Path) -> None:
    """With `gridsim node` and `gridsim fusion` as separate processes, the run is the same."""
    argv = [sys.executable, "-m", "grid.cli"]
    commands = [[*argv, "fusion", "--broker", mosquitto.url]]
    commands += [[*argv, "node", "--id", node_id, "--broker", mosquitto.url] for node_id in roster]
    logs = [tmp_path / f"process-{i}.log" for i in range(len(commands))]
    procs = []
    for cmd, log in zip(commands, logs, strict=True):
        with log.open("wb") as out:
            procs.append(await asyncio.create_subprocess_exec(*cmd, stdout=out, stderr=out))
    try:
        options = RunOptions(
            scenario=short_scenario(),
            roster=roster,
            speed=20.0,  # sixteen processes share two cores: keep them on time
            broker_url=mosquitto.url,
            out_dir=tmp_path,
            local_services=False,
            join_timeout_s=60.0,
        )
        summary = await run_grid(options)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGINT)
        codes = [await proc.wait() for proc in procs]
    fusion_log = logs[0].read_text()
    assert summary["messages"]["delivered"] == summary["messages"]["published"], fusion_log
    _assert_located_and_clean(summary, roster)
    assert codes == [130] * len(procs), "every process stopped cleanly on Ctrl-C"
