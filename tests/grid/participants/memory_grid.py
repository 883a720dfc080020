"""Participants on the in-memory broker and a virtual clock: the helpers of their unit tests.

Nothing here waits on the wall clock: the tests let the ready tasks run for a bounded number of
event-loop steps, and a condition that does not hold by then fails the test at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from grid.clock import VirtualClock
from grid.mqtt.memory import MemoryBroker, MemorySession
from grid.participants.service import CONTROLLER_ID, GridService
from grid.wire import topics
from grid.wire.messages import (
    Body,
    Envelope,
    NodeState,
    NodeStatus,
    RunAction,
    RunControl,
    ThreatReport,
    reports_in,
)
from grid.world.scenario import Scenario, load_scenario, scenario_from_dict

B = TypeVar("B", bound=Body)

# Generous for a handful of hops between participants, and still no wall-clock time at all.
LOOP_STEPS = 2000


async def steps(n: int = 50) -> None:
    """Let the ready tasks run for ``n`` event-loop steps."""
    for _ in range(n):
        await asyncio.sleep(0)


async def until(condition: Callable[[], bool], what: str, *, max_steps: int = LOOP_STEPS) -> int:
    """Run the loop until ``condition`` holds; the steps it took, or AssertionError naming ``what``."""
    for step in range(max_steps):
        if condition():
            return step
        await asyncio.sleep(0)
    raise AssertionError(f"not within {max_steps} event-loop steps: {what}")


def short_scenario(duration_s: float = 60.0, **changes: Any) -> Scenario:
    """The default drone scenario cut to ``duration_s``, with other fields replaced (and validated)."""
    return scenario_from_dict({**load_scenario().to_dict(), "duration_s": duration_s, **changes})


def start_control(run_id: str, scenario: Scenario) -> RunControl:
    """A start message for ``scenario`` (epoch and speed unused on a virtual clock)."""
    return RunControl(
        action=RunAction.START,
        run_id=run_id,
        epoch_ns=0,
        speed=1.0,
        seed=scenario.seed,
        scenario=scenario.to_dict(),
    )


def report(
    run_id: str, sensor_id: str, *, time_s: float = 1.0, truth_id: str | None = "uav-1"
) -> ThreatReport:
    """A plausible bearing-only report of ``sensor_id``."""
    return ThreatReport(
        run_id=run_id,
        sensor_id=sensor_id,
        sensor_kind="rf_df",
        sensor_lat=44.2,
        sensor_lon=28.6,
        sensor_alt_m=10.0,
        time_s=time_s,
        bearing_deg=80.0,
        sigma_bearing_deg=2.0,
        max_range_m=60_000.0,
        truth_id=truth_id,
    )


class MemoryGrid:
    """A memory broker, one virtual clock for every run, and a session that plays the controller."""

    def __init__(self) -> None:
        self.broker = MemoryBroker()
        self.clock = VirtualClock()
        self.wire: MemorySession = self.broker.session(client_id="test-wire")

    def clock_factory(self, control: RunControl) -> VirtualClock:
        """Every run of every participant plays on this grid's virtual clock."""
        del control
        return self.clock

    async def send(
        self, topic: str, body: Body, *, origin: str = CONTROLLER_ID, retain: bool = False
    ) -> Envelope:
        """Publish ``body`` from ``origin`` (anyone: the broker does not check) and return its envelope."""
        env = Envelope(body=body, origin=origin)
        await self.wire.publish(topic, env.to_bytes(), retain=retain)
        return env

    async def start(self, run_id: str, scenario: Scenario) -> None:
        """Announce a run on the retained control topic."""
        await self.send(topics.CONTROL, start_control(run_id, scenario), retain=True)

    async def end(self, run_id: str) -> None:
        """Announce a run's end on the retained control topic."""
        body = RunControl(action=RunAction.END, run_id=run_id, epoch_ns=0, speed=1.0)
        await self.send(topics.CONTROL, body, retain=True)

    async def node_online(self, node_id: str, run_id: str, published: int = 0) -> None:
        """The final status a node publishes when a run ends, as if ``node_id`` had sent it."""
        body = NodeStatus(
            node_id=node_id, state=NodeState.ONLINE, run_id=run_id, counters={"published": published}
        )
        await self.send(topics.status_topic(node_id), body, origin=node_id, retain=True)

    def bodies(self, topic_filter: str, kind: type[B]) -> list[B]:
        """The bodies of type ``kind`` published so far on topics matching ``topic_filter``."""
        out: list[B] = []
        for received in self.broker.published(topic_filter):
            if received.payload:
                body = Envelope.from_bytes(received.payload).body
                if isinstance(body, kind):
                    out.append(body)
        return out

    def reports(self, topic_filter: str) -> list[ThreatReport]:
        """Every report published so far on topics matching ``topic_filter``, scans unpacked."""
        return [r for env in self.envelopes(topic_filter) for _, r in reports_in(env)]

    def envelopes(self, topic_filter: str) -> list[Envelope]:
        """The envelopes published so far on topics matching ``topic_filter``."""
        return [Envelope.from_bytes(r.payload) for r in self.broker.published(topic_filter) if r.payload]

    def status(self, service_id: str) -> NodeStatus | None:
        """The status retained for ``service_id``, if any."""
        payload = self.broker.retained(topics.status_topic(service_id))
        if payload is None:
            return None
        body = Envelope.from_bytes(payload).body
        assert isinstance(body, NodeStatus)
        return body

    @contextlib.asynccontextmanager
    async def serving(self, *services: GridService) -> AsyncIterator[None]:
        """Each service connected and serving for the block; stopped (cleanly) afterwards."""
        async with self.wire, contextlib.AsyncExitStack() as stack:
            tasks = []
            for service in services:
                await stack.enter_async_context(service)
                tasks.append(asyncio.create_task(service.serve(), name=f"test[{service.service_id}].serve"))
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
