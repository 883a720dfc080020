"""``gridsim inject`` and ``gridsim results``: talk to a grid kept running by ``gridsim up``."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from grid.app.controller import publish_control
from grid.app.run import new_start
from grid.errors import RunError
from grid.mqtt.address import parse_broker_url
from grid.mqtt.session import Session
from grid.mqtt.transport import Transport
from grid.wire import topics
from grid.wire.messages import Envelope, RunResults
from grid.world.scenario import Scenario

__all__ = ["fetch_results", "inject"]

_RESULTS_GRACE_S = 60.0  # beyond the scenario's own length, for the grid to account for it


async def inject(scenario: Scenario, *, broker_url: str, speed: float, wait: bool) -> dict[str, Any] | None:
    """Announce ``scenario`` to the running grid; with ``wait``, return its summary when it is done."""
    host, port = parse_broker_url(broker_url)
    start = new_start(scenario, speed=speed)
    # A session, not a bare connection: waiting, it must live through the scenario's broker outages.
    subscriptions = [topics.results_topic(start.run_id)] if wait else []
    client_id = f"gridsim-inject-{os.getpid()}"
    async with Session(host=host, port=port, client_id=client_id, subscriptions=subscriptions) as transport:
        await publish_control(transport, start)
        print(f"injected run {start.run_id}: {scenario.name}, {scenario.duration_s:g} sim s at {speed:g}x")
        if not wait:
            print(f"results: gridsim results --broker {broker_url} --run {start.run_id}")
            return None
        return await _first_results(transport, start.run_id, scenario.duration_s / speed + _RESULTS_GRACE_S)


async def fetch_results(broker_url: str, *, run_id: str | None, timeout_s: float) -> dict[str, Any]:
    """The retained summary of ``run_id`` (or of the most recent run) on the broker."""
    host, port = parse_broker_url(broker_url)
    async with Transport(host=host, port=port, client_id=f"gridsim-results-{os.getpid()}") as transport:
        await transport.subscribe(topics.results_topic(run_id) if run_id else topics.ALL_RESULTS)
        return await _first_results(transport, run_id, timeout_s, latest=run_id is None)


async def _first_results(
    transport: Transport | Session, run_id: str | None, timeout_s: float, *, latest: bool = False
) -> dict[str, Any]:
    found: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout_s) as deadline:
            async for received in transport.messages():
                if not received.payload:
                    continue
                body = Envelope.from_bytes(received.payload).body
                if isinstance(body, RunResults) and (run_id is None or body.run_id == run_id):
                    found.append(body.summary)
                    if not latest:
                        break
                    # Retained results arrive together right after subscribing.
                    deadline.reschedule(min(deadline.when() or 0.0, asyncio.get_running_loop().time() + 0.5))
    except TimeoutError:
        pass  # with ``latest``, every retained result has arrived by now
    if not found:
        which = f"run {run_id}" if run_id else "any run"
        raise RunError(f"no results for {which} on the broker within {timeout_s:g} s")
    return max(found, key=lambda s: str(s.get("started_at", "")))
