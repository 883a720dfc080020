"""The run controller: announces runs (or adopts injected ones), watches them, ends them and
collects every participant's account for the summary.

One controller serves ``gridsim run`` (one announced run) and ``gridsim up`` (runs injected by
``gridsim inject``, one after another, each summary published on ``grid/v1/results/<run>``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from grid.clock import Clock
from grid.errors import RunError
from grid.mqtt.broker import BrokerInfo
from grid.mqtt.outage import play_broker_outages
from grid.mqtt.session import BrokerSession
from grid.mqtt.transport import Publisher
from grid.participants.service import CONTROLLER_ID, SERVICE_IDS, ActiveRun
from grid.results.observed import Observed, Progress
from grid.results.summary import build_summary
from grid.security.signing import SIGNED_KINDS, SigningKeys
from grid.wire import topics
from grid.wire.messages import Envelope, NodeState, NodeStatus, RunAction, RunControl
from grid.world.roster import Roster
from grid.world.timeline import Timeline

__all__ = ["RunController", "publish_control"]

log = logging.getLogger(__name__)

_DRAIN_S = 0.5  # wall seconds after the scenario ends for the last messages to arrive
# The accounts are awaited for as long as messages keep arriving (an overloaded grid is slow, not
# incomplete); the wait gives up after this many wall seconds with none. Longer than the fusion
# centre's SETTLE_IDLE_S, during which it may be waiting quietly for the last reports.
_ACCOUNT_IDLE_S = 45.0


async def publish_control(transport: Publisher, control: RunControl) -> None:
    """Announce a run's start or end on the retained control topic."""
    await transport.publish(
        topics.CONTROL, Envelope(body=control, origin=CONTROLLER_ID).to_bytes(), retain=True
    )


def _shared_objects(seen: Observed) -> list[Any]:
    """The hub's shared objects as dicts; none without its account (or with an unreadable one)."""
    if seen.cyber is None:
        return []
    try:
        objects = json.loads(seen.cyber.objects)
    except ValueError:
        log.warning("the hub's account carried objects that are not JSON: none written")
        return []
    return objects if isinstance(objects, list) else []


class RunController:
    """Watches the broker; conducts one run at a time."""

    def __init__(
        self,
        *,
        roster: Roster,
        broker: BrokerInfo,
        transport: BrokerSession,
        signing: SigningKeys | None = None,
    ) -> None:
        """A controller on ``transport``; with ``signing``, it observes only reports whose signature holds."""
        self.roster = roster
        self.broker = broker
        self.transport = transport
        self.online: set[str] = set()
        self.injected: asyncio.Queue[RunControl] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._current: Observed | None = None
        self._clock: Clock | None = None
        self._announced: set[str] = set()
        # run id -> every STIX object the hub shared in it (its account's), until the caller takes them
        self.cyber_objects: dict[str, list[Any]] = {}
        # run id -> what was seen of it (the run report's data files), until the caller takes it
        self.observations: dict[str, Observed] = {}
        self.signing = signing  # the run's keys (a forgery's stale recording is made with one)
        self._verifier = signing.verifier() if signing is not None else None

    async def subscribe(self) -> None:
        """Subscribe to everything a run produces, and to the control topic."""
        await self.transport.subscribe(
            topics.ALL_REPORTS,
            topics.TRACKS,
            topics.ALL_STATUS,
            topics.ALL_AWARENESS,
            topics.FUSION_STATS,
            topics.ALL_PICTURES,
            topics.CYBER_STATS,
            topics.CONTROL,
        )

    async def watch(self) -> None:
        """Observe every message until cancelled."""
        async for received in self.transport.messages():
            if not received.payload:
                continue
            try:
                env = Envelope.from_bytes(self._opened(received.topic, received.payload))
            except Exception:  # noqa: BLE001 - participants count rejections; the watcher only observes
                continue
            body = env.body
            if isinstance(body, NodeStatus):
                (self.online.discard if body.state is NodeState.OFFLINE else self.online.add)(body.node_id)
            elif (
                isinstance(body, RunControl)
                and body.action is RunAction.START
                and env.origin == CONTROLLER_ID
                and body.run_id not in self._announced
            ):
                self._announced.add(body.run_id)
                self.injected.put_nowait(body)
            if self._current is not None:
                self._current.observe(env, self._clock.now() if self._clock is not None else 0.0)
            self._changed.set()

    def _opened(self, topic: str, payload: bytes) -> bytes:
        """A signed report's envelope bytes, its signature checked (the participants count refusals)."""
        if self._verifier is None:
            return payload
        parsed = topics.parse_topic(topic)
        return self._verifier.open(payload, parsed.node)[0] if parsed.kind in SIGNED_KINDS else payload

    def status_changes(self, service_id: str) -> list[tuple[float, NodeState]]:
        """The status changes of ``service_id`` seen in the current run: (simulation s, state)."""
        return [] if self._current is None else list(self._current.status_log.get(service_id, []))

    async def await_online(self, timeout_s: float) -> None:
        """Wait until every member node, the fusion centre, the hub and the JCC say they are online."""
        expected = {*SERVICE_IDS, *self.roster}
        try:
            async with asyncio.timeout(timeout_s):
                while not expected <= self.online:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            missing = ", ".join(sorted(expected - self.online))
            raise RunError(
                f"not online on {self.broker.url} after {timeout_s:.0f} s: {missing} "
                "(start them with `gridsim node --id ID --broker URL`, `gridsim fusion --broker URL` and "
                "`gridsim hub --broker URL`)"
            ) from None

    async def conduct(
        self,
        start: RunControl,
        *,
        announce: bool,
        on_progress: Callable[[Progress], None] | None = None,
        before_end: Callable[[], Awaitable[None]] | None = None,
    ) -> dict[str, Any]:
        """Follow one run from its start to its summary; announce it first when ``announce``.

        ``before_end`` is awaited before the run's end is announced (injected faults finishing:
        a restarted fusion centre must be back in the run to account for it).
        """
        run = ActiveRun.from_control(start)
        seen = Observed(start.run_id)
        seen.progress.duration_s = run.scenario.duration_s
        self._current = seen
        self._clock = run.clock
        self._announced.add(start.run_id)
        wall_start = time.monotonic()
        if announce:
            await publish_control(self.transport, start)
        clock = run.clock
        async with asyncio.TaskGroup() as group:
            outages = group.create_task(
                play_broker_outages(
                    self.broker, Timeline(run.scenario), clock, duration_s=run.scenario.duration_s
                ),
                name=f"grid[controller].broker-outages[{start.run_id}]",
            )
            while (now := clock.now()) < run.scenario.duration_s:
                seen.progress.sim_time_s = max(0.0, now)
                if on_progress is not None:
                    on_progress(seen.progress)
                await asyncio.sleep(0.1)
        seen.broker_outages = outages.result()
        seen.progress.sim_time_s = run.scenario.duration_s
        if on_progress is not None:
            on_progress(seen.progress)
        await asyncio.sleep(_DRAIN_S)
        if before_end is not None:
            await before_end()
        end = RunControl(
            action=RunAction.END, run_id=start.run_id, epoch_ns=start.epoch_ns, speed=start.speed
        )
        await publish_control(self.transport, end)
        while not seen.accounts_complete(len(self.roster) + len(SERVICE_IDS)):
            self._changed.clear()
            try:
                async with asyncio.timeout(_ACCOUNT_IDLE_S):
                    await self._changed.wait()
            except TimeoutError:
                log.warning(
                    "not every participant reported its account: nothing arrived for %.0f s", _ACCOUNT_IDLE_S
                )
                break
        self._current = None
        self.cyber_objects[start.run_id] = _shared_objects(seen)
        self.observations[start.run_id] = seen
        return build_summary(
            scenario=run.scenario,
            roster=self.roster,
            speed=start.speed,
            broker=self.broker,
            seen=seen,
            wall_s=time.monotonic() - wall_start,
        )
