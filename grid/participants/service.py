"""What every grid participant shares: a connection, a retained status with a last will, decoding
that counts instead of dying, and following runs announced on the control topic.

A service is an ``async with`` block that owns its session; :meth:`GridService.serve` runs one
TaskGroup holding the receive loop and the current run's tasks, all named. The session and the
run's clock are injected (real :class:`~grid.mqtt.session.Session` s and a
:class:`~grid.clock.ScaledClock` by default), so a participant can be unit tested on the
in-memory broker (:mod:`grid.mqtt.memory`) and a :class:`~grid.clock.VirtualClock`.

A new start while a run is going on switches runs in a task: the receive loop goes on (the
fusion centre's settling needs it), and the new run's messages that arrive meanwhile are held
and handled, in order, once it has started.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from grid.clock import Clock, ScaledClock
from grid.errors import GridError, MessageRejected, ScenarioError
from grid.mqtt.session import BrokerSession, SessionFactory, broker_sessions
from grid.mqtt.transport import Received, Will
from grid.security.signing import SIGNED_KINDS, SigningKeys
from grid.wire import topics
from grid.wire.counters import CounterName, errors_counter, rejected_counter
from grid.wire.limits import check_size
from grid.wire.messages import Body, Envelope, NodeState, NodeStatus, RunAction, RunControl
from grid.world.roster import Roster
from grid.world.scenario import Scenario, scenario_from_dict

__all__ = [
    "CONTROLLER_ID",
    "FUSION_ID",
    "HUB_ID",
    "JCC_ID",
    "PUBLISH_WINDOW",
    "SERVICE_IDS",
    "ActiveRun",
    "ClockFactory",
    "GridService",
    "scaled_clock",
]

FUSION_ID = "fusion"
CONTROLLER_ID = "gridsim"
HUB_ID = "hub"  # the cyber-exchange hub
JCC_ID = "jcc"  # the Joint Cyber Centre
SERVICE_IDS = (FUSION_ID, HUB_ID, JCC_ID)  # the grid's services beside its member nodes

log = logging.getLogger(__name__)

# A goodbye given up on leaves the retained status online (a clean disconnect sends no will), so it
# waits out a loaded machine's slow acknowledgement; a dead broker fails it at once instead.
_GOODBYE_TIMEOUT_S = 10.0
# QoS 1 publishes a service keeps in flight. One: with 16, a node's final count was over 10 s
# late after an amqtt restart in 2 of 6 runs (none of 7 with one), and a round trip to a local
# broker (about 1 ms) already allows far more reports per second than a node's sensors make.
PUBLISH_WINDOW = 1

# The clock a run is played on, made from its start message.
ClockFactory = Callable[[RunControl], Clock]


def scaled_clock(control: RunControl) -> ScaledClock:
    """The wall-clock-paced clock a start message describes (its epoch and speed)."""
    return ScaledClock(epoch_ns=control.epoch_ns, speed=control.speed)


@dataclass(frozen=True, slots=True)
class ActiveRun:
    """A run this service is taking part in."""

    run_id: str
    scenario: Scenario
    clock: Clock
    epoch_ns: int = 0  # wall time of simulation time 0 (the STIX objects' timestamps derive from it)

    def is_over(self) -> bool:
        """Whether the clock is past the scenario's end (a retained start of a finished run)."""
        return self.clock.now() > self.scenario.duration_s

    @classmethod
    def from_control(cls, control: RunControl, *, clock_factory: ClockFactory = scaled_clock) -> ActiveRun:
        """Validate a start message's scenario; raises :class:`MessageRejected` (``bad_scenario``)."""
        try:
            scenario = scenario_from_dict(control.scenario, source=f"<run {control.run_id}>")
            scenario = scenario.with_seed(control.seed)  # a seed the scenario refuses (negative) too
        except ScenarioError as exc:
            raise MessageRejected("bad_scenario", str(exc)) from exc
        return cls(control.run_id, scenario, clock_factory(control), control.epoch_ns)


class GridService:
    """Base of member nodes and the fusion centre."""

    def __init__(
        self,
        *,
        service_id: str,
        roster: Roster,
        subscriptions: list[str],
        host: str = "127.0.0.1",
        port: int = 1883,
        session_factory: SessionFactory | None = None,
        clock_factory: ClockFactory = scaled_clock,
        signing: SigningKeys | None = None,
    ) -> None:
        """A service on the MQTT broker at ``host:port``, or on sessions from ``session_factory``.

        ``clock_factory`` makes each run's clock from its start message (by default the
        wall-clock-paced :func:`scaled_clock`; a test passes one returning its virtual clock).
        With ``signing``, a member node signs its reports and cyber reports, and every message
        received on a report or cyber-report topic must be signed by that topic's node.
        """
        self.service_id = service_id
        self.roster = roster
        self.counters: Counter[str] = Counter()
        self.runs_started = 0
        self._earlier: Counter[str] = Counter()  # the counters of earlier runs (and before the first)
        self.ready = asyncio.Event()
        self.run: ActiveRun | None = None
        offline = Envelope(body=NodeStatus(node_id=service_id, state=NodeState.OFFLINE), origin=service_id)
        self._reconnects_before_run = 0
        self._failovers_before_run = 0
        connect = session_factory if session_factory is not None else broker_sessions(host, port)
        self.session: BrokerSession = connect(
            client_id=f"gridsim-{service_id}",
            will=Will(topics.status_topic(service_id), offline.to_bytes()),
            subscriptions=[topics.CONTROL, *subscriptions],
            on_connect=self._on_connect,
        )
        self._known_origins = {*roster, FUSION_ID, CONTROLLER_ID, HUB_ID, JCC_ID}
        self._verifier = signing.verifier() if signing is not None else None
        self._signer = signing.signer(service_id) if signing is not None and service_id in roster else None
        self._signed_topics = (
            {topics.report_topic(service_id), topics.cyber_report_topic(service_id)}
            if self._signer
            else set()
        )
        self._run_group: asyncio.TaskGroup | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._outbox: asyncio.Queue[tuple[str, bytes, Callable[[], None] | None]] = asyncio.Queue()
        self._clock_factory = clock_factory
        self._ending: asyncio.Task[None] | None = None
        self._switch: asyncio.Task[None] | None = None
        self._next: ActiveRun | None = None  # the run being switched to
        self._held: deque[tuple[Envelope, topics.ParsedTopic]] = deque()  # its messages, until it starts

    async def __aenter__(self) -> Self:
        await self.session.__aenter__()
        self.ready.set()
        return self

    def _on_connect(self) -> list[tuple[str, bytes, bool]]:
        """On every connection, first say we are here: it replaces the will a lost connection left."""
        state = NodeState.RUNNING if self.run is not None else NodeState.ONLINE
        return [(topics.status_topic(self.service_id), self._status(state).to_bytes(), True)]

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if (exc_type is None or issubclass(exc_type, asyncio.CancelledError | KeyboardInterrupt)) and (
                self.session.connected
            ):
                # A clean stop says so itself; after a crash the broker sends the last will.
                async with asyncio.timeout(_GOODBYE_TIMEOUT_S):
                    await asyncio.shield(self.publish_status(NodeState.OFFLINE))
        except Exception:  # noqa: BLE001 - the broker may be gone already; the will covers it
            log.debug("%s: could not publish offline status", self.service_id)
        finally:
            await self.session.__aexit__(exc_type, exc, tb)

    # ----------------------------------------------------------------------------- publishing

    async def publish(self, topic: str, body: Body, *, retain: bool = False) -> None:
        """Wrap ``body`` in an envelope from this service and publish it at QoS 1."""
        await self.session.publish(
            topic, self.seal(topic, Envelope(body=body, origin=self.service_id).to_bytes()), retain=retain
        )

    def post(self, topic: str, body: Body) -> None:
        """Queue ``body`` for publishing without waiting for the broker's acknowledgement."""
        self.post_raw(topic, self.seal(topic, Envelope(body=body, origin=self.service_id).to_bytes()))

    def seal(self, topic: str, payload: bytes) -> bytes:
        """``payload`` signed, when this node signs what it publishes on ``topic``; else as it is."""
        return (
            self._signer.seal(payload)
            if self._signer is not None and topic in self._signed_topics
            else payload
        )

    def post_raw(self, topic: str, payload: bytes, on_accepted: Callable[[], None] | None = None) -> None:
        """Queue an encoded payload for publishing; ``on_accepted`` runs once the broker has it.

        Neither the receive loop nor a node's scans wait for QoS 1 acknowledgements: the outbox
        hands payloads to the session in order, ``PUBLISH_WINDOW`` of them in flight.
        """
        self._outbox.put_nowait((topic, payload, on_accepted))

    async def _drain_outbox(self) -> None:
        window = asyncio.Semaphore(PUBLISH_WINDOW)
        async with asyncio.TaskGroup() as in_flight:
            while True:
                topic, payload, on_accepted = await self._outbox.get()
                await window.acquire()
                # A task's first step hands its payload to the client, so the broker gets them in order.
                in_flight.create_task(
                    self._send(topic, payload, on_accepted, window), name=f"grid[{self.service_id}].send"
                )

    async def _send(
        self, topic: str, payload: bytes, on_accepted: Callable[[], None] | None, window: asyncio.Semaphore
    ) -> None:
        try:
            await self.session.publish(topic, payload)
            if on_accepted is not None:
                on_accepted()
        finally:
            window.release()
            self._outbox.task_done()

    async def flush(self) -> None:
        """Wait until everything posted so far has been acknowledged by the broker."""
        await self._outbox.join()

    def lifetime_counters(self) -> dict[str, int]:
        """Every counter summed over all the runs this service followed, for a lone service's final
        counts (:attr:`counters` holds the current run's only)."""
        return dict(sorted((self._earlier + self.counters).items()))

    def _status(self, state: NodeState) -> Envelope:
        run_id = self.run.run_id if self.run is not None else None
        counters = dict(self.counters)
        if reconnects := self.session.reconnects - self._reconnects_before_run:
            counters[CounterName.RECONNECTS] = reconnects
        if failovers := self.session.failovers - self._failovers_before_run:
            counters[CounterName.FAILOVERS] = failovers
        body = NodeStatus(node_id=self.service_id, state=state, run_id=run_id, counters=counters)
        return Envelope(body=body, origin=self.service_id)

    async def publish_status(self, state: NodeState) -> None:
        """Publish this service's retained status with its counters."""
        await self.session.publish(
            topics.status_topic(self.service_id), self._status(state).to_bytes(), retain=True
        )

    # ------------------------------------------------------------------------------ receiving

    def decode(self, received: Received) -> tuple[Envelope, topics.ParsedTopic] | None:
        """Decode and check a message; on failure count ``rejected.<reason>`` and return None."""
        try:
            parsed = topics.parse_topic(received.topic)
            check_size(parsed.kind, received.payload)  # before a byte of it is decoded
            payload, signer = received.payload, None
            if self._verifier is not None and parsed.kind in SIGNED_KINDS:
                payload, signer = self._verifier.open(payload, parsed.node)
            env = Envelope.from_bytes(payload)
            if env.origin not in self._known_origins:
                raise MessageRejected("unknown_node", f"origin {env.origin!r} is not in the roster")
            if parsed.node is not None and parsed.node != env.origin:
                raise MessageRejected("origin_mismatch", f"{env.origin!r} published on {received.topic!r}")
            if self._verifier is not None and signer is not None:
                self._verifier.accept(env, signer)
        except MessageRejected as exc:
            self.counters[rejected_counter(exc.reason)] += 1
            log.warning("%s rejected a message on %s: %s", self.service_id, received.topic, exc)
            return None
        return env, parsed

    async def serve(self) -> None:
        """Receive until cancelled or the connection is lost, following runs as they are announced."""
        async with asyncio.TaskGroup() as group:
            self._run_group = group
            outbox = group.create_task(self._drain_outbox(), name=f"grid[{self.service_id}].outbox")
            await self._receive()
            outbox.cancel()

    async def _receive(self) -> None:
        async for received in self.session.messages():
            if not received.payload:  # a cleared retained message
                continue
            decoded = self.decode(received)
            if decoded is None:
                continue
            env, parsed = decoded
            if self._next is not None and getattr(env.body, "run_id", None) == self._next.run_id:
                self._held.append(decoded)  # the run being switched to has not started yet
                continue
            await self._dispatch(env, parsed)

    async def _dispatch(self, env: Envelope, parsed: topics.ParsedTopic) -> None:
        try:
            if parsed.kind is topics.TopicKind.CONTROL:
                await self._on_control(env)
            else:
                await self.on_message(env, parsed)
        except (GridError, ValueError, ArithmeticError, LookupError) as exc:
            # One message that trips a fault must not take the service down: count it, log it, go on.
            self.counters[errors_counter(exc)] += 1
            log.exception("%s failed on a %s message from %s", self.service_id, parsed.kind, env.origin)

    async def _on_control(self, env: Envelope) -> None:
        control = env.body
        if not isinstance(control, RunControl) or env.origin != CONTROLLER_ID:
            self.counters[rejected_counter("bad_control")] += 1
            return
        if control.action is RunAction.END:
            if self.run is not None and self.run.run_id == control.run_id:
                self._end_run(complete=True)
            return
        if self.run is not None and self.run.run_id == control.run_id:
            return  # a re-delivered start of the run we are in
        try:
            run = ActiveRun.from_control(control, clock_factory=self._clock_factory)
        except MessageRejected as exc:
            self.counters[rejected_counter(exc.reason)] += 1
            log.warning("%s refused run %s: %s", self.service_id, control.run_id, exc)
            return
        if run.is_over():
            return  # a stale retained start: that run is over
        if self._next is not None:
            log.info(
                "%s: run %s replaced by %s before it started", self.service_id, self._next.run_id, run.run_id
            )
        self._next, self._held = run, deque()
        if self._switch is None:
            self._switch = self._spawn(self._switch_runs(), "switch")

    def _spawn(self, work: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        assert self._run_group is not None, "runs are followed only inside serve()"
        return self._run_group.create_task(work, name=f"grid[{self.service_id}].{what}")

    def _end_run(self, *, complete: bool = False) -> None:
        """Finish the current run in a task: settling may wait for messages this loop must receive.

        ``complete``: the run reached its end, so :meth:`wind_down` may first finish the run's
        own work (a node behind the clock makes its remaining scans); a replaced run stops at once.
        """
        if self._ending is None and self.run is not None:
            self._ending = self._spawn(self._stop_run(complete=complete), f"finish[{self.run.run_id}]")

    async def _switch_runs(self) -> None:
        """End the current run, if any, then start the next one and handle what it sent meanwhile."""
        try:
            while (run := self._next) is not None:
                if self.run is not None:
                    self._end_run()
                    assert self._ending is not None
                    await self._ending
                    continue  # a newer start may have come while the run was ending
                await self._start_run(run)
                # Messages keep being held until the backlog is empty, so they are handled in order.
                while self._held and self._next is run:
                    await self._dispatch(*self._held.popleft())
                if self._next is run:
                    self._next = None
        finally:
            self._switch = None

    async def _start_run(self, run: ActiveRun) -> None:
        self._earlier.update(self.counters)  # once a run, not per message
        self.runs_started += 1
        self.counters.clear()
        self._reconnects_before_run = self.session.reconnects
        self._failovers_before_run = self.session.failovers
        self.run = run
        self.on_run_start(run)
        await self.publish_status(NodeState.RUNNING)
        self._run_task = self._spawn(self.play(run), f"play[{run.run_id}]")

    async def _stop_run(self, *, complete: bool) -> None:
        if complete and self._run_task is not None and not self._run_task.done():
            await self.wind_down()
        task, self._run_task = self._run_task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
        await self.settle()
        await self.on_run_end()
        await self.flush()
        await self.publish_status(NodeState.ONLINE)
        self.run = None
        self._ending = None

    # ------------------------------------------------------------------------- for subclasses

    def on_run_start(self, run: ActiveRun) -> None:
        """Prepare per-run state (called before :meth:`play`)."""

    async def play(self, run: ActiveRun) -> None:
        """The run's own work (sensor scans); cancelled when the run ends."""

    async def wind_down(self) -> None:
        """At the run's end, before :meth:`play` is cancelled: finish what the run still owes."""

    async def settle(self) -> None:
        """Wait, after the run's end, for what is still in flight (the receive loop keeps running)."""

    async def on_run_end(self) -> None:
        """Report what the run produced (called after :meth:`play` is stopped)."""

    async def on_message(self, env: Envelope, parsed: topics.ParsedTopic) -> None:
        """Handle a non-control message that passed decoding."""
