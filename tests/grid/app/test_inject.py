"""Live injection: `gridsim up` keeps a grid running; `inject` plays a scenario; `results` reads it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from grid.app.inject import fetch_results, inject
from grid.app.run import RunOptions, serve_grid
from grid.errors import RunError
from grid.mqtt.broker import BrokerInfo
from grid.mqtt.transport import Transport
from grid.wire import topics
from grid.wire.messages import Envelope, RunResults
from grid.world.roster import Roster
from grid.world.scenario import load_scenario
from tests.grid.app.up_outage import inject_outage_into_up

# A 90 s injection needs about 5.5 CPU seconds in one process (0.06 per simulated second): at 5x
# it has 18 s, over 3x headroom on one core. The timeout is far above the loaded wall time.
SPEED = 5.0
pytestmark = [pytest.mark.broker, pytest.mark.timeout(480)]


async def test_inject_into_running_grid(mosquitto: BrokerInfo, roster: Roster, tmp_path: Path) -> None:
    """An injected scenario is played by the running grid and its results can be collected."""
    options = RunOptions(scenario=None, roster=roster, broker_url=mosquitto.url, out_dir=tmp_path)
    ready = asyncio.Event()
    summaries: list[dict[str, object]] = []
    grid = asyncio.create_task(
        serve_grid(options, on_ready=lambda _: ready.set(), on_summary=summaries.append), name="test.grid"
    )
    try:
        await asyncio.wait_for(ready.wait(), 30)
        scenario = load_scenario().model_copy(update={"duration_s": 45.0})
        summary = await inject(scenario, broker_url=mosquitto.url, speed=SPEED, wait=True)
        assert summary is not None
        (threat,) = summary["threats"]
        assert threat["time_to_locate_s"] is not None
        assert summary["messages"]["delivered"] == summary["messages"]["published"] > 0
        fetched = await fetch_results(mosquitto.url, run_id=str(summary["run_id"]), timeout_s=5)
        assert fetched["run_id"] == summary["run_id"]
        assert fetched["threats"] == summary["threats"]
        latest = await fetch_results(mosquitto.url, run_id=None, timeout_s=5)
        assert latest["run_id"] == summary["run_id"]
        # The exact topic `results` reads on brokers that send retained messages to exact filters only.
        async with Transport(host=mosquitto.host, port=mosquitto.port, client_id="t-latest") as probe:
            await probe.subscribe(topics.LATEST_RESULTS)
            kept = await asyncio.wait_for(anext(aiter(probe.messages())), 30)
        body = Envelope.from_bytes(kept.payload).body
        assert isinstance(body, RunResults)
        assert body.run_id == summary["run_id"]
        assert (tmp_path / str(summary["run_id"]) / "summary.json").is_file()
        assert summaries
        assert summaries[0]["run_id"] == summary["run_id"]
    finally:
        grid.cancel()
        with pytest.raises(asyncio.CancelledError):
            await grid


async def test_results_for_unknown_run(mosquitto: BrokerInfo) -> None:
    """Asking for a run nobody played is a clear RunError, not a hang."""
    with pytest.raises(RunError, match="no results for run nope"):
        await fetch_results(mosquitto.url, run_id="nope", timeout_s=0.5)


async def test_inject_into_one_process_per_node(
    mosquitto: BrokerInfo,
    roster: Roster,
    tmp_path: Path,
    member_processes: Callable[[str, Path], AbstractAsyncContextManager[list[int | None]]],
) -> None:
    """`gridsim up --external` drives separate node and fusion processes: an injection plays the same."""
    async with member_processes(mosquitto.url, tmp_path) as codes:
        options = RunOptions(
            scenario=None,
            roster=roster,
            broker_url=mosquitto.url,
            local_services=False,
            join_timeout_s=240.0,  # seventeen Python processes starting on a loaded 2-core machine
        )
        ready = asyncio.Event()
        grid = asyncio.create_task(serve_grid(options, on_ready=lambda _: ready.set()), name="test.grid")
        try:
            await asyncio.wait_for(ready.wait(), 270)
            scenario = load_scenario().model_copy(update={"duration_s": 45.0})
            summary = await inject(scenario, broker_url=mosquitto.url, speed=SPEED, wait=True)
        finally:
            grid.cancel()
            with pytest.raises(asyncio.CancelledError):
                await grid
    assert summary is not None
    assert summary["missing_accounts"] == [], "every node process, the fusion and the hub processes reported"
    assert summary["messages"]["delivered"] == summary["messages"]["published"] > 0
    (threat,) = summary["threats"]
    assert threat["time_to_locate_s"] is not None
    assert set(summary["per_node"]) == set(roster)
    assert codes == [130] * (len(roster) + 2), "every process stopped cleanly on Ctrl-C"


async def test_injected_broker_outage_is_played_by_up(roster: Roster, tmp_path: Path) -> None:
    """`up` owns its broker, so an injected broker outage restarts it; `inject --wait` rides it out."""
    options = RunOptions(scenario=None, roster=roster, broker_kind="mosquitto", out_dir=tmp_path)
    # 10x, as in test_outage: about 15 s of wall time.
    summary = await inject_outage_into_up(options, speed=2 * SPEED, ready_timeout_s=30)
    (outage,) = summary["events"]
    assert outage["applied"] is True
    assert outage["member_reconnects"] == len(roster)
    assert summary["messages"]["lost"] == 0
    assert summary["threats"][0]["time_to_locate_s"] is not None
