"""``gridsim bench latency``: the grid's data path against bare MQTT clients, on one broker, in one run.

The grid half drives the real path without the simulation or tracker: each node builds a
:class:`~grid.wire.messages.SensorScan` of one report (as a node shares a scan), encodes it in
an envelope (which stamps ``sent_ns``) and publishes it through its own :class:`~grid.mqtt.session.Session`; a
:class:`~grid.participants.service.GridService` at the fusion centre's position receives the
reports and decodes and checks each one (:meth:`GridService.decode`). The baseline half then
runs bare aiomqtt clients (:class:`~grid.mqtt.transport.BareClient`) publishing same-size payloads
(``sent_ns`` packed at the front) on the same topology at the same rates. Both halves use
TCP_NODELAY, subscribe at QoS 1 (as the fusion centre does) and run one after the other in this
process on the same broker. One-way latency is the receiver's ``time.time_ns()`` after
decoding minus the sender's stamp (one machine, one clock).

With ``--secure`` the grid half runs a second time, on a second Mosquitto in secure mode (mutual
TLS, the members' ACL, a test PKI made for the bench), each node presenting its own certificate:
the cost of secure mode on the same path, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grid.app.bench.latency_report import (
    TARGET_P50,
    TARGET_P99,
    machine,
    print_results,
    ratio,
    versions,
    write_cdf,
)
from grid.app.bench.latency_stats import LatencyStats, latency_stats, one_way_ms
from grid.app.bench.traffic import (
    RAW_HEADER,
    Stamps,
    bench_members,
    bench_scan,
    pace,
    phase_problems,
    raw_payload,
)
from grid.app.parser import BENCH_LATENCY_OUT_NAME
from grid.app.signals import run_async
from grid.errors import ConfigError
from grid.mqtt.broker import BrokerInfo, open_broker, start_broker
from grid.mqtt.session import Session
from grid.mqtt.transport import BareClient
from grid.participants.service import FUSION_ID, GridService
from grid.security.acl import render_acl
from grid.security.broker_tls import SecureSetup
from grid.security.certs import write_certs
from grid.security.tls import Credentials, use_credentials
from grid.wire import topics
from grid.wire.messages import Envelope
from grid.world.roster import MemberState, Roster, load_roster

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

__all__ = ["LatencyConfig", "Target", "bench_members", "judge", "measure", "run_latency"]

_RAW_ROOT = "gridsim-bench/raw"
_DRAIN_S = 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyConfig:
    """What one bench run publishes: ``nodes`` publishers at ``rate_hz`` each for warm-up plus duration."""

    nodes: int = 15
    rate_hz: float = 10.0
    qos: int = 1
    duration_s: float = 10.0
    warmup_s: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.nodes < 1:
            problems.append(f"--nodes must be at least 1, got {self.nodes}")
        if not 0 < self.rate_hz <= 1000:
            problems.append(f"--rate must be in (0, 1000] Hz, got {self.rate_hz:g}")
        problems += phase_problems(qos=self.qos, duration_s=self.duration_s, warmup_s=self.warmup_s)
        if problems:
            raise ConfigError("; ".join(problems))


@dataclass(frozen=True, slots=True)
class Target:
    """The issue's target: grid p50 within 1.5x and p99 within 2x the baseline's."""

    ratio_p50: float | None
    ratio_p99: float | None
    applies: bool  # run at the target's own configuration (15 nodes, 10 Hz, QoS 1, Mosquitto)

    @property
    def passed(self) -> bool:
        """Whether both ratios are within their limits."""
        return (
            self.ratio_p50 is not None
            and self.ratio_p99 is not None
            and self.ratio_p50 <= TARGET_P50
            and self.ratio_p99 <= TARGET_P99
        )


def _grid_topic(member: MemberState) -> str:
    return topics.report_topic(member.id)


class _Traffic:
    """One half's stamps: what was published when, what was received when; drains on an event."""

    def __init__(self) -> None:
        self.sent: Stamps = []
        self.received: Stamps = []
        self._draining = False
        self._all_in = asyncio.Event()

    def got(self, key: str, ns: int) -> None:
        """Record one receipt."""
        self.received.append((key, ns))
        self._check()

    def _check(self) -> None:
        if self._draining and len(self.received) >= len(self.sent):
            self._all_in.set()

    async def drain(self) -> None:
        """Wait until as many messages were received as sent, or the drain period is over."""
        self._draining = True
        self._check()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_DRAIN_S):
                await self._all_in.wait()


class _Phase:
    """Publishing schedule of one half: loop-time start and end, wall-clock end of the warm-up."""

    def __init__(self, config: LatencyConfig) -> None:
        loop = asyncio.get_running_loop()
        lead_s = 0.1  # every publisher is ready before the first scheduled message
        self.start = loop.time() + lead_s
        self.end = self.start + config.warmup_s + config.duration_s
        self.since_ns = time.time_ns() + int((lead_s + config.warmup_s) * 1e9)


async def _run_phase(
    config: LatencyConfig,
    senders: list[Callable[[int], Awaitable[None]]],
    phases: list[float],
    progress: Callable[[float], None],
) -> _Phase:
    phase = _Phase(config)
    period = 1.0 / config.rate_hz

    async def tick() -> None:
        loop = asyncio.get_running_loop()
        while True:
            progress(max(0.0, loop.time() - phase.start))
            await asyncio.sleep(0.25)

    async with asyncio.TaskGroup() as group:
        ticker = group.create_task(tick(), name="bench-latency.progress")
        async with asyncio.TaskGroup() as publishers:
            for i, (send, offset) in enumerate(zip(senders, phases, strict=True)):
                publishers.create_task(
                    pace(start=phase.start + offset * period, end=phase.end, period=period, send=send),
                    name=f"bench-latency.publish[{i}]",
                )
        ticker.cancel()
    return phase


async def _grid_half(
    broker: BrokerInfo,
    config: LatencyConfig,
    members: list[MemberState],
    phases: list[float],
    progress: Any,
    *,
    client_prefix: str = "gridsim-bench-",  # secure: "gridsim-", so each node presents its own certificate
) -> tuple[_Traffic, _Phase]:
    traffic = _Traffic()
    roster = Roster(members)
    centre = GridService(
        service_id=f"bench-{FUSION_ID}",
        roster=roster,
        subscriptions=[topics.ALL_REPORTS],
        host=broker.host,
        port=broker.port,
    )

    async def receive() -> None:
        async for message in centre.session.messages():
            decoded = centre.decode(message)
            if decoded is not None and decoded[1].kind is topics.TopicKind.REPORT:
                traffic.got(decoded[0].msg_id, time.time_ns())

    def sender(session: Session, member: MemberState) -> Callable[[int], Awaitable[None]]:
        topic = _grid_topic(member)

        async def send(k: int) -> None:
            env = Envelope(body=bench_scan(member, k), origin=member.id)  # stamps sent_ns
            payload = env.to_bytes()
            traffic.sent.append((env.msg_id, env.sent_ns))
            await session.publish(topic, payload, qos=config.qos)

        return send

    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(centre)
        sessions = [
            await stack.enter_async_context(
                Session(host=broker.host, port=broker.port, client_id=f"{client_prefix}{m.id}")
            )
            for m in members
        ]
        async with asyncio.TaskGroup() as group:
            receiver = group.create_task(receive(), name="bench-latency.grid.receive")
            senders = [sender(s, m) for s, m in zip(sessions, members, strict=True)]
            phase = await _run_phase(config, senders, phases, progress)
            await traffic.drain()
            receiver.cancel()
    return traffic, phase


async def _baseline_half(
    broker: BrokerInfo,
    *,
    config: LatencyConfig,
    members: list[MemberState],
    sizes: list[int],
    phases: list[float],
    progress: Any,
) -> tuple[_Traffic, _Phase]:
    traffic = _Traffic()

    def transport(client_id: str) -> BareClient:
        return BareClient(host=broker.host, port=broker.port, client_id=client_id)

    async def receive(centre: BareClient) -> None:
        async for message in centre.messages():
            sent_ns, index, seq = RAW_HEADER.unpack_from(message.payload)
            del sent_ns  # the receiver keys on the message; the sender's list has its stamp
            traffic.got(f"{index}:{seq}", time.time_ns())

    def sender(client: BareClient, index: int, member: MemberState) -> Callable[[int], Awaitable[None]]:
        topic = f"{_RAW_ROOT}/{member.grids[0]}/{member.id}"

        async def send(k: int) -> None:
            sent_ns = time.time_ns()
            payload = raw_payload(sent_ns, index, k, sizes[index])
            traffic.sent.append((f"{index}:{k}", sent_ns))
            await client.publish(topic, payload, qos=config.qos)

        return send

    async with contextlib.AsyncExitStack() as stack:
        centre = await stack.enter_async_context(transport("gridsim-bench-raw-centre"))
        await centre.subscribe(f"{_RAW_ROOT}/#", qos=1)
        clients = [await stack.enter_async_context(transport(f"gridsim-bench-raw-{m.id}")) for m in members]
        async with asyncio.TaskGroup() as group:
            receiver = group.create_task(receive(centre), name="bench-latency.baseline.receive")
            senders = [sender(c, i, m) for i, (c, m) in enumerate(zip(clients, members, strict=True))]
            phase = await _run_phase(config, senders, phases, progress)
            await traffic.drain()
            receiver.cancel()
    return traffic, phase


@dataclass(frozen=True, slots=True)
class SecureBroker:
    """The secure half's Mosquitto and the certificates its clients present."""

    broker: BrokerInfo
    credentials: Credentials


@contextlib.asynccontextmanager
async def secure_broker(members: list[MemberState]) -> AsyncIterator[SecureBroker]:
    """A Mosquitto with mutual TLS and the ACL of ``members``, on a test PKI removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="gridsim-certs-"))
    try:
        layout = write_certs(folder / "certs", [m.id for m in members])
        setup = SecureSetup(layout.root, render_acl(Roster(members)))
        async with start_broker("mosquitto", secure=setup) as broker:
            yield SecureBroker(broker, Credentials(layout.root))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def measure(
    broker: BrokerInfo,
    config: LatencyConfig,
    roster: Roster,
    progress: Progress | None = None,
    *,
    secure: SecureBroker | None = None,
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Run the grid half (and, with ``secure``, again in secure mode), then the baseline half; the
    results and each half's sorted latencies (ms)."""
    members = bench_members(roster, config.nodes)
    rng = random.Random(config.seed)
    phases = [rng.random() for _ in members]  # each node's offset within the period, in periods
    sizes = [len(Envelope(body=bench_scan(m, 0), origin=m.id).to_bytes()) for m in members]
    total_s = config.warmup_s + config.duration_s

    def reporter(label: str) -> Callable[[float], None]:
        if progress is None:
            return lambda _elapsed: None
        task = progress.add_task(label, total=total_s)
        return lambda elapsed: progress.update(task, completed=min(elapsed, total_s))

    halves: dict[str, tuple[_Traffic, _Phase]] = {}
    halves["grid"] = await _grid_half(broker, config, members, phases, reporter("grid"))
    if secure is not None:
        with use_credentials(secure.credentials):
            halves["grid_secure"] = await _grid_half(
                secure.broker, config, members, phases, reporter("grid, secure"), client_prefix="gridsim-"
            )
    halves["baseline"] = await _baseline_half(
        broker, config=config, members=members, sizes=sizes, phases=phases, progress=reporter("baseline")
    )
    results: dict[str, Any] = {}
    curves: dict[str, list[float]] = {}
    for name, (traffic, phase) in halves.items():
        sent, received = traffic.sent, traffic.received
        stats: LatencyStats = latency_stats(
            sent, received, window_s=config.duration_s, since_ns=phase.since_ns
        )
        results[name] = stats.to_dict()
        curves[name] = one_way_ms(sent, received, since_ns=phase.since_ns)[0]
    target = judge(results, config, broker)
    if secure is not None:
        grid, tls = results["grid"], results["grid_secure"]
        results["secure"] = {
            "transport": "mqtts: mutual TLS 1.2+, the members' ACL, one certificate per node",
            "ratio_p50": ratio(tls["p50_ms"], grid["p50_ms"]),
            "ratio_p99": ratio(tls["p99_ms"], grid["p99_ms"]),
        }
    results |= {
        "ratio_p50": target.ratio_p50,
        "ratio_p99": target.ratio_p99,
        "target": {
            "ratio_p50_max": TARGET_P50,
            "ratio_p99_max": TARGET_P99,
            "passed": target.passed,
            "applies": target.applies,
        },
        "config": {
            "nodes": config.nodes,
            "rate_hz": config.rate_hz,
            "qos": config.qos,
            "subscription_qos": 1,
            "broker": broker.to_dict(),
            "duration_s": config.duration_s,
            "warmup_s": config.warmup_s,
            "drain_s": _DRAIN_S,
            "seed": config.seed,
            "payload_bytes_mean": sum(sizes) / len(sizes),
            "workers": 1,  # every publisher and the subscriber share one process and event loop
        },
        "versions": versions(broker),
        "machine": machine(),
    }
    return results, curves


def judge(results: dict[str, Any], config: LatencyConfig, broker: BrokerInfo) -> Target:
    """The issue's target for these results; ``applies`` only at its own configuration."""
    grid, baseline = results["grid"], results["baseline"]
    applies = (config.nodes, config.rate_hz, config.qos) == (15, 10.0, 1) and (
        broker.kind == "mosquitto" or (broker.version or "").startswith("mosquitto")
    )
    return Target(
        ratio(grid["p50_ms"], baseline["p50_ms"]), ratio(grid["p99_ms"], baseline["p99_ms"]), applies
    )


async def _main(args: argparse.Namespace, config: LatencyConfig, console: Console) -> dict[str, Any]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    roster = load_roster(getattr(args, "roster", None))
    if args.secure and (args.broker is not None or args.broker_kind == "amqtt"):
        raise ConfigError("bench latency --secure starts its own Mosquittos: not with --broker or amqtt")
    async with contextlib.AsyncExitStack() as stack:
        broker = await stack.enter_async_context(open_broker(args.broker, kind=args.broker_kind))
        secure = None
        if args.secure:
            secure = await stack.enter_async_context(secure_broker(bench_members(roster, config.nodes)))
        if args.quiet:
            results, curves = await measure(broker, config, roster, secure=secure)
        else:
            columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
            with Progress(*columns, console=console, transient=True) as progress:
                results, curves = await measure(broker, config, roster, progress, secure=secure)
    print_results(_stdout(), results)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        json_path = args.out / f"{BENCH_LATENCY_OUT_NAME}.json"
        json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        write_cdf(curves, args.out / f"{BENCH_LATENCY_OUT_NAME}.png", "one-way latency CDF: grid vs raw MQTT")
        if not args.quiet:
            console.print(f"results written to {json_path}")
    return results


def _stdout() -> Console:
    from rich.console import Console

    return Console()


def run_latency(args: argparse.Namespace) -> int:
    """``gridsim bench latency``: returns 0 whatever the verdict (a stop signal raises Stopped)."""
    from rich.console import Console

    config = LatencyConfig(
        nodes=args.nodes,
        rate_hz=args.rate,
        qos=args.qos,
        duration_s=args.duration,
        warmup_s=args.warmup,
        seed=args.seed,
    )
    console = Console(stderr=True)
    # Ctrl-C or SIGTERM cancels the benchmark, which stops its clients and broker; then
    # grid.app.signals.Stopped reaches the CLI, which exits 130 or 143.
    run_async(_main(args, config, console))
    return 0
