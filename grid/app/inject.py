"""``gridsim inject`` and ``gridsim results``: talk to a grid kept running by ``gridsim up``.

Both take one broker or a cluster's members (``URL1,URL2,...``, :func:`grid.app.cluster.endpoint`).
``results`` without ``--run`` reads the exact topic the grid keeps the most recent summary on
(``grid/v1/results/latest``) as well as every run's (``grid/v1/results/+``): RabbitMQ sends
retained messages to exact-topic subscriptions only, so there the exact one is what answers.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from grid.app.cluster import endpoint
from grid.app.controller import publish_control
from grid.app.run import new_start
from grid.errors import RunError
from grid.mqtt.session import BrokerSession
from grid.wire import topics
from grid.wire.messages import Envelope, RunResults
from grid.world.scenario import Scenario

__all__ = ["fetch_results", "inject"]

_RESULTS_GRACE_S = 60.0  # beyond the scenario's own length, for the grid to account for it


async def inject(scenario: Scenario, *, broker_url: str, speed: float, wait: bool) -> dict[str, Any] | None:
    """Announce ``scenario`` to the running grid; with ``wait``, return its summary when it is done."""
    start = new_start(scenario, speed=speed)
    # A session, not a bare connection: waiting, it must live through the scenario's broker outages.
    subscriptions = [topics.results_topic(start.run_id)] if wait else []
    client_id = f"gridsim-inject-{os.getpid()}"
    session = endpoint(broker_url).sessions(client_id=client_id, subscriptions=subscriptions)
    async with session:
        await publish_control(session, start)
        print(f"injected run {start.run_id}: {scenario.name}, {scenario.duration_s:g} sim s at {speed:g}x")
        if not wait:
            print(f"results: gridsim results --broker {broker_url} --run {start.run_id}")
            return None
        return await _first_results(session, start.run_id, scenario.duration_s / speed + _RESULTS_GRACE_S)


async def fetch_results(broker_url: str, *, run_id: str | None, timeout_s: float) -> dict[str, Any]:
    """The retained summary of ``run_id`` (or of the most recent run) on the broker."""
    filters = [topics.results_topic(run_id)] if run_id else [topics.LATEST_RESULTS, topics.ALL_RESULTS]
    client_id = f"gridsim-results-{os.getpid()}"
    async with endpoint(broker_url).sessions(client_id=client_id, subscriptions=filters) as session:
        return await _first_results(session, run_id, timeout_s, latest=run_id is None)


async def _first_results(
    session: BrokerSession, run_id: str | None, timeout_s: float, *, latest: bool = False
) -> dict[str, Any]:
    found: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout_s) as deadline:
            async for received in session.messages():
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
