"""An injected broker outage played by ``gridsim up``: what its in-process and worker tests share."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from grid.app.inject import inject
from grid.app.run import RunOptions, serve_grid
from grid.bundled import bundled_dir
from grid.mqtt.broker import BrokerInfo
from grid.world.scenario import load_scenario, scenario_from_dict

__all__ = ["OUTAGE_SCENARIO", "inject_outage_into_up"]

OUTAGE_SCENARIO = bundled_dir("scenarios") / "broker-outage.yaml"


async def inject_outage_into_up(
    options: RunOptions, *, speed: float, ready_timeout_s: float
) -> dict[str, Any]:
    """Keep a grid up with ``options``, inject the outage scenario, wait for its summary, stop the grid."""
    brokers: list[BrokerInfo] = []
    ready = asyncio.Event()

    def on_ready(broker: BrokerInfo) -> None:
        brokers.append(broker)
        ready.set()

    grid = asyncio.create_task(serve_grid(options, on_ready=on_ready), name="test.grid")
    try:
        await asyncio.wait_for(ready.wait(), ready_timeout_s)
        # Cut to where the outage (60-80 s) and the catch-up after it are over.
        scenario = scenario_from_dict({**load_scenario(OUTAGE_SCENARIO).to_dict(), "duration_s": 150.0})
        summary = await inject(scenario, broker_url=brokers[0].url, speed=speed, wait=True)
    finally:
        grid.cancel()
        with pytest.raises(asyncio.CancelledError):
            await grid
    assert summary is not None
    return summary
