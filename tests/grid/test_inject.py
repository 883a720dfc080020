"""Live injection: `gridsim up` keeps a grid running; `inject` plays a scenario; `results` reads it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from grid.broker import BrokerInfo
from grid.errors import RunError
from grid.inject import fetch_results, inject
from grid.roster import Roster
from grid.run import RunOptions, serve_grid
from grid.scenario import load_scenario

pytestmark = pytest.mark.broker


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
        scenario = load_scenario().model_copy(update={"duration_s": 90.0})
        summary = await inject(scenario, broker_url=mosquitto.url, speed=25.0, wait=True)
        assert summary is not None
        (threat,) = summary["threats"]  # type: ignore[index]
        assert threat["time_to_locate_s"] is not None
        assert summary["messages"]["delivered"] == summary["messages"]["published"] > 0  # type: ignore[index]
        fetched = await fetch_results(mosquitto.url, run_id=str(summary["run_id"]), timeout_s=5)
        assert fetched["run_id"] == summary["run_id"]
        assert fetched["threats"] == summary["threats"]
        latest = await fetch_results(mosquitto.url, run_id=None, timeout_s=5)
        assert latest["run_id"] == summary["run_id"]
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
