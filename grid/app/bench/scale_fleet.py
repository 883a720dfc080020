"""One process's share of a ``gridsim bench scale`` half: its MQTT clients, publishing and receipts.

A fleet owns connected clients (``async with``) and runs phases on a wall-clock schedule, so fleets
in several processes can run one phase together. Grid clients are
:class:`~grid.participants.service.GridService` s (a real :class:`~grid.mqtt.session.Session`,
envelope encode, :meth:`GridService.decode` on receipt); baseline clients are aiomqtt as it
comes (:class:`~grid.mqtt.transport.BareClient`), with same-size payloads. Every client records its own
receipts; the fleet returns them with what it sent and the CPU it used.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from grid.app.bench.traffic import RAW_HEADER, bench_members, bench_scan, pace, raw_payload
from grid.mqtt.transport import BareClient
from grid.participants.service import FUSION_ID, GridService
from grid.wire import topics
from grid.wire.messages import Envelope
from grid.world.roster import MemberState, Roster, load_roster

__all__ = [
    "CENTRE_RAW",
    "ClientSpec",
    "Fleet",
    "FleetSpec",
    "Kind",
    "PhaseSpec",
    "PhaseStamps",
    "centre_spec",
    "phase_offsets",
    "raw_topic",
]

Kind = Literal["grid", "baseline"]

_RAW_ROOT = "gridsim-bench/raw"
CENTRE_RAW = f"{_RAW_ROOT}/+"
_QUIET_S = 0.3  # a phase is drained once nothing arrived for this long after publishing ended
_DRAIN_MAX_S = 3.0
_CONNECT_AT_ONCE = 16
_SEQ_PER_PHASE = 1_000_000  # raw sequence numbers stay distinct across phases


def raw_topic(node: str) -> str:
    """The baseline's topic for ``node``."""
    return f"{_RAW_ROOT}/{node}"


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """One client: its topology index (the centre's is the node count), id, and subscriptions."""

    index: int
    node_id: str
    publishes: bool
    subscriptions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FleetSpec:
    """What a fleet connects: picklable, so a worker process can build its own."""

    kind: Kind
    host: str
    port: int
    qos: int
    nodes: int
    roster_dir: str | None
    clients: tuple[ClientSpec, ...]
    sizes: tuple[int, ...]  # baseline payload bytes per node index (the grid envelope's size)


@dataclass(frozen=True, slots=True)
class PhaseSpec:
    """One measured rate: wall-clock start, each node's rate and offset, warm-up and window."""

    number: int
    start_ns: int
    per_node_hz: float
    warmup_s: float
    duration_s: float
    offsets: tuple[float, ...]  # each node's offset within its period, in periods

    @property
    def since_ns(self) -> int:
        """End of the warm-up: the measured window starts here."""
        return self.start_ns + int(self.warmup_s * 1e9)

    @property
    def end_ns(self) -> int:
        """End of publishing."""
        return self.start_ns + int((self.warmup_s + self.duration_s) * 1e9)


@dataclass(slots=True)
class PhaseStamps:
    """What one fleet saw in one phase."""

    sent: list[tuple[int, str, int]] = field(default_factory=list)  # sender, key, sent_ns
    received: list[tuple[int, str, int]] = field(default_factory=list)  # receiver, key, received_ns
    lags_ms: list[float] = field(default_factory=list)  # each send's lateness behind its schedule
    cpu_s: float = 0.0


def phase_offsets(nodes: int, seed: int) -> tuple[float, ...]:
    """Each node's publishing offset within its period (the same for grid and baseline)."""
    rng = random.Random(seed)
    return tuple(rng.random() for _ in range(nodes))


class _Client:
    """A connected client: sends the ``k``-th report of a phase and records its receipts."""

    def __init__(self, spec: ClientSpec) -> None:
        self.spec = spec

    async def open(self, stack: contextlib.AsyncExitStack) -> None:
        raise NotImplementedError

    async def send(self, phase: int, k: int) -> tuple[str, int]:
        raise NotImplementedError

    async def receive(self, record: Callable[[int, str], None]) -> None:
        raise NotImplementedError


class _GridClient(_Client):
    def __init__(
        self, spec: ClientSpec, fleet: FleetSpec, roster: Roster, member: MemberState | None
    ) -> None:
        super().__init__(spec)
        self._qos = fleet.qos
        self._member = member
        self._topic = topics.report_topic(spec.node_id) if spec.publishes else ""
        self.service = GridService(
            service_id=spec.node_id,
            roster=roster,
            subscriptions=list(spec.subscriptions),
            host=fleet.host,
            port=fleet.port,
        )

    async def open(self, stack: contextlib.AsyncExitStack) -> None:
        await stack.enter_async_context(self.service)

    async def send(self, phase: int, k: int) -> tuple[str, int]:
        assert self._member is not None
        env = Envelope(body=bench_scan(self._member, k, run_id="bench-scale"), origin=self.spec.node_id)
        await self.service.session.publish(self._topic, env.to_bytes(), qos=self._qos)
        return env.msg_id, env.sent_ns

    async def receive(self, record: Callable[[int, str], None]) -> None:
        async for message in self.service.session.messages():
            decoded = self.service.decode(message)
            if decoded is not None and decoded[1].kind is topics.TopicKind.REPORT:
                record(self.spec.index, decoded[0].msg_id)


class _RawClient(_Client):
    def __init__(self, spec: ClientSpec, fleet: FleetSpec) -> None:
        super().__init__(spec)
        self._qos = fleet.qos
        self._size = fleet.sizes[spec.index] if spec.publishes else 0
        self._topic = raw_topic(spec.node_id)
        self.transport = BareClient(host=fleet.host, port=fleet.port, client_id=f"gridsim-raw-{spec.node_id}")

    async def open(self, stack: contextlib.AsyncExitStack) -> None:
        await stack.enter_async_context(self.transport)
        if self.spec.subscriptions:
            await self.transport.subscribe(*self.spec.subscriptions, qos=1)

    async def send(self, phase: int, k: int) -> tuple[str, int]:
        sent_ns = time.time_ns()
        seq = phase * _SEQ_PER_PHASE + k
        await self.transport.publish(
            self._topic, raw_payload(sent_ns, self.spec.index, seq, self._size), qos=self._qos
        )
        return f"{self.spec.index}:{seq}", sent_ns

    async def receive(self, record: Callable[[int, str], None]) -> None:
        async for message in self.transport.messages():
            _sent_ns, index, seq = RAW_HEADER.unpack_from(message.payload)
            record(self.spec.index, f"{index}:{seq}")


class Fleet:
    """Connected clients of one half in this process; :meth:`run_phase` runs one rate."""

    def __init__(self, spec: FleetSpec) -> None:
        self.spec = spec
        self._stack = contextlib.AsyncExitStack()
        self._stamps = PhaseStamps()
        self._last_rx = 0.0
        self._receivers: list[asyncio.Task[None]] = []
        if spec.kind == "grid":
            members = bench_members(
                load_roster(Path(spec.roster_dir) if spec.roster_dir else None), spec.nodes
            )
            roster = Roster(members)
            self.clients: list[_Client] = [
                _GridClient(c, spec, roster, members[c.index] if c.publishes else None) for c in spec.clients
            ]
        else:
            self.clients = [_RawClient(c, spec) for c in spec.clients]

    async def __aenter__(self) -> Self:
        try:
            gate = asyncio.Semaphore(_CONNECT_AT_ONCE)  # connect in parallel, not all at once

            async def open_one(client: _Client) -> None:
                async with gate:
                    await client.open(self._stack)

            async with asyncio.TaskGroup() as group:
                for client in self.clients:
                    group.create_task(open_one(client), name=f"bench-scale.connect[{client.spec.node_id}]")
            for client in self.clients:
                if client.spec.subscriptions:
                    self._receivers.append(
                        asyncio.create_task(
                            client.receive(self._record), name=f"bench-scale.receive[{client.spec.node_id}]"
                        )
                    )
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        for task in self._receivers:
            task.cancel()
        for task in self._receivers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._stack.aclose()
        gc.unfreeze()  # the clients' objects are collectable again once they are closed

    def _record(self, receiver: int, key: str) -> None:
        self._stamps.received.append((receiver, key, time.time_ns()))
        self._last_rx = time.monotonic()

    def _sender(
        self, client: _Client, phase: PhaseSpec, start: float, period: float
    ) -> Callable[[int], Awaitable[None]]:
        loop = asyncio.get_running_loop()
        first = start + phase.offsets[client.spec.index] * period
        measured_from = start + phase.warmup_s
        stamps = self._stamps

        async def send(k: int) -> None:
            if (due := first + k * period) >= measured_from:  # the warm-up's lateness is left out too
                stamps.lags_ms.append((loop.time() - due) * 1e3)
            key, sent_ns = await client.send(phase.number, k)
            stamps.sent.append((client.spec.index, key, sent_ns))

        return send

    async def run_phase(self, phase: PhaseSpec) -> PhaseStamps:
        """Publish from every publishing client on the phase's schedule, drain, return the stamps."""
        loop = asyncio.get_running_loop()
        # A full collection scans every live object: with 100+ connected clients (and the last
        # phase's stamps) that is a 40-60 ms pause, once or twice a phase, that alone can push p99
        # past 50 ms. Collected and frozen here, outside the measured CPU and before the phase's
        # start, the phase's collections only scan what the phase allocates (3-6 ms at most).
        gc.collect()
        gc.freeze()
        cpu0 = time.process_time()
        self._stamps = stamps = PhaseStamps()
        start = loop.time() + (phase.start_ns - time.time_ns()) / 1e9  # wall clock to this loop's clock
        end = start + phase.warmup_s + phase.duration_s
        period = 1.0 / phase.per_node_hz
        async with asyncio.TaskGroup() as group:
            for client in self.clients:
                if client.spec.publishes:
                    first = start + phase.offsets[client.spec.index] * period
                    group.create_task(
                        pace(
                            start=first,
                            end=end,
                            period=period,
                            send=self._sender(client, phase, start, period),
                        ),
                        name=f"bench-scale.publish[{client.spec.node_id}]",
                    )
        await self._drain(end)
        stamps.cpu_s = time.process_time() - cpu0
        self._stamps = PhaseStamps()  # receipts from now on belong to no phase
        return stamps

    async def _drain(self, end: float) -> None:
        loop = asyncio.get_running_loop()
        if (wait := end - loop.time()) > 0:  # a fleet with no publishers (the centre) waits for the end
            await asyncio.sleep(wait)
        done = time.monotonic()
        self._last_rx = max(self._last_rx, done)
        # Polls a timestamp the receivers move; an event per receipt would cost more than it saves.
        while (left := min(self._last_rx + _QUIET_S, done + _DRAIN_MAX_S) - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(left)


def centre_spec(kind: Kind, nodes: int) -> ClientSpec:
    """The fusion centre's client: subscribes to every node's reports, publishes none."""
    sub = topics.ALL_REPORTS if kind == "grid" else CENTRE_RAW
    node_id = f"bench-{FUSION_ID}" if kind == "grid" else "centre"
    return ClientSpec(index=nodes, node_id=node_id, publishes=False, subscriptions=(sub,))
