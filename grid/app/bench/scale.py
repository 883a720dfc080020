"""``gridsim bench scale``: the highest report rate the grid sustains, per roster size, against bare MQTT.

For each roster size (:mod:`grid.app.bench.scale_topology`) the grid half and then the baseline
half connect their clients once (:mod:`grid.app.bench.scale_fleet`) and run a knee search
(:mod:`grid.app.bench.scale_knee`): short phases at stepped aggregate rates, each node publishing
``rate / N`` reports/s at its own offset. A phase passes when nothing is lost, p99 one-way latency
over every delivery (each peer's and the centre's receipt) is at most 50 ms, and p99 of the
publishers' lateness behind their schedule is at most 50 ms (a publisher that falls behind would
hide the queueing from the latency). With ``--workers N`` the grid's nodes run in N processes
(:mod:`grid.app.bench.scale_workers`) and the centre in this one; the baseline stays in this one.
With ``--repeats R`` each size runs R searches of each kind, interleaved (grid, baseline, baseline,
grid, ...), and the ratio compares the median knees: one noisy search no longer decides a size.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grid.app.bench.latency_report import machine, ratio, versions
from grid.app.bench.latency_stats import latency_stats, one_way_ms, percentile
from grid.app.bench.scale_config import ScaleConfig, config_from_args, ensure_fds
from grid.app.bench.scale_fleet import (
    ClientSpec,
    Fleet,
    FleetSpec,
    Kind,
    PhaseSpec,
    PhaseStamps,
    centre_spec,
    phase_offsets,
    raw_topic,
)
from grid.app.bench.scale_knee import KneeSearch, interleave, median_knee
from grid.app.bench.scale_topology import RULE, Topology, scale_topology
from grid.app.bench.scale_workers import WorkerPool
from grid.app.bench.traffic import bench_scan
from grid.app.parser import BENCH_SCALE_OUT_NAME
from grid.app.signals import run_async
from grid.mqtt.broker import BrokerInfo, open_broker
from grid.wire import topics
from grid.wire.messages import Envelope
from grid.world.roster import Roster, load_roster

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["passes", "run_scale", "scale", "summarize"]


def _proc_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid`` from /proc (None when unreadable)."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 3
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _broker_pid(broker: BrokerInfo) -> int | None:
    return broker.process.pid if broker.process is not None else broker.pid


def passes(point: dict[str, Any], config: ScaleConfig) -> bool:
    """A phase's verdict: something delivered, nothing lost, p99 and publisher lag within their limits."""
    return bool(
        point["count"] > 0
        and point["lost"] == 0
        and point["p99_ms"] is not None
        and point["p99_ms"] <= config.p99_limit_ms
        and point["lag_p99_ms"] is not None
        and point["lag_p99_ms"] <= config.lag_limit_ms
    )


def _per(cpu_s: float | None, deliveries: int) -> float | None:
    return None if cpu_s is None or deliveries == 0 else cpu_s / deliveries


def summarize(
    topology: Topology,
    phase: PhaseSpec,
    here: PhaseStamps,
    workers: list[PhaseStamps],
    *,
    kind: Kind,
    rate_hz: float,
    broker_cpu_s: float | None,
) -> dict[str, Any]:
    """One measured point: latency over every delivery in the window, rates, CPU per delivery."""
    every = [here, *workers]
    sent = [(f"{r}|{key}", ns) for st in every for s, key, ns in st.sent for r in topology.subscribers(s)]
    received = [(f"{r}|{key}", ns) for st in every for r, key, ns in st.received]
    stats = latency_stats(sent, received, window_s=phase.duration_s, since_ns=phase.since_ns)
    deliveries = len(one_way_ms(sent, received)[0])  # the whole phase, warm-up too: what the CPU paid for
    lags = sorted(lag for st in every for lag in st.lags_ms)
    reports = sum(1 for st in every for _s, _key, ns in st.sent if ns >= phase.since_ns)
    worker_cpu = sum(st.cpu_s for st in workers) if workers else None
    point: dict[str, Any] = {
        "nodes": len(topology.nodes),
        "kind": kind,
        "rate_hz": rate_hz,
        "per_node_hz": phase.per_node_hz,
        "achieved_hz": reports / phase.duration_s,
        "deliveries_per_s": stats.count / phase.duration_s,
        **stats.to_dict(),
        "lag_p99_ms": percentile(lags, 99) if lags else None,
        "deliveries": deliveries,
        "cpu_s": here.cpu_s,
        "cpu_s_per_delivery": _per(here.cpu_s, deliveries),
        "worker_cpu_s": worker_cpu,
        "worker_cpu_s_per_delivery": _per(worker_cpu, deliveries),
        "broker_cpu_s": broker_cpu_s,
        "broker_cpu_s_per_delivery": _per(broker_cpu_s, deliveries),
        "worker_processes": len(workers),
    }
    return point


@dataclass(slots=True)
class _Run:
    """State across one run: the phase counter and the progress callback."""

    config: ScaleConfig
    broker: BrokerInfo
    roster: Roster
    roster_dir: str | None
    log: Callable[[dict[str, Any]], None]
    phases: int = 0


def _fleet_specs(
    run: _Run, kind: Kind, topology: Topology, sizes: tuple[int, ...]
) -> tuple[FleetSpec, list[FleetSpec]]:
    """This process's fleet and the workers' (none for the baseline or one process)."""
    n = len(topology.nodes)
    topic = topics.report_topic if kind == "grid" else raw_topic
    nodes = [
        ClientSpec(
            index=i,
            node_id=node,
            publishes=True,
            subscriptions=tuple(topic(topology.nodes[p]) for p in topology.peers[i]),
        )
        for i, node in enumerate(topology.nodes)
    ]

    def spec(clients: list[ClientSpec]) -> FleetSpec:
        return FleetSpec(
            kind=kind,
            host=run.broker.host,
            port=run.broker.port,
            qos=run.config.qos,
            nodes=n,
            roster_dir=run.roster_dir,
            clients=tuple(clients),
            sizes=sizes,
        )

    centre = centre_spec(kind, n)
    workers = run.config.workers if kind == "grid" else 1
    if workers == 1:
        return spec([*nodes, centre]), []
    return spec([centre]), [spec(nodes[w::workers]) for w in range(workers)]


async def _search(
    run: _Run, kind: Kind, topology: Topology, sizes: tuple[int, ...], repeat: int
) -> tuple[list[dict[str, Any]], KneeSearch]:
    config, n = run.config, len(topology.nodes)
    here, remote = _fleet_specs(run, kind, topology, sizes)
    offsets = phase_offsets(n, config.seed)
    lead_s = 0.5 if remote else 0.2  # every fleet is ready before the first scheduled report
    search = KneeSearch(config.plan)
    points: list[dict[str, Any]] = []
    async with contextlib.AsyncExitStack() as stack:
        fleet = await stack.enter_async_context(Fleet(here))
        pool = await stack.enter_async_context(WorkerPool(remote)) if remote else None

        async def measure(rate: float, attempt: int) -> dict[str, Any]:
            run.phases += 1
            phase = PhaseSpec(
                number=run.phases,
                start_ns=time.time_ns() + int(lead_s * 1e9),
                per_node_hz=rate / n,
                warmup_s=config.warmup_s,
                duration_s=config.duration_s,
                offsets=offsets,
            )
            broker0 = _proc_cpu_s(_broker_pid(run.broker))
            if pool is not None:
                timeout_s = lead_s + config.warmup_s + config.duration_s + 60.0
                mine, theirs = await asyncio.gather(fleet.run_phase(phase), pool.run_phase(phase, timeout_s))
            else:
                mine, theirs = await fleet.run_phase(phase), []
            broker1 = _proc_cpu_s(_broker_pid(run.broker))
            broker_cpu = broker1 - broker0 if broker0 is not None and broker1 is not None else None
            point = summarize(topology, phase, mine, theirs, kind=kind, rate_hz=rate, broker_cpu_s=broker_cpu)
            point["passed"] = passes(point, config)
            point["attempt"] = attempt
            point["repeat"] = repeat
            points.append(point)
            run.log(point)
            return point

        while (rate := search.next_rate()) is not None:
            ok = (await measure(rate, 1))["passed"]
            # On a shared machine one stall of another process can fail a short phase: a rate
            # fails only when it fails again (every attempt is in the results).
            for attempt in range(2, config.attempts + 1):
                if ok:
                    break
                ok = (await measure(rate, attempt))["passed"]
            search.record(rate, ok)
    return points, search


async def scale(
    broker: BrokerInfo,
    config: ScaleConfig,
    roster: Roster,
    *,
    roster_dir: Path | None = None,
    log: Callable[[dict[str, Any]], None] = lambda _point: None,
    on_size: Callable[[int, list[dict[str, Any]]], None] = lambda _n, _points: None,
) -> dict[str, Any]:
    """Search every size's knee, grid then baseline; the results as written to bench-scale.json."""
    run = _Run(config, broker, roster, str(roster_dir) if roster_dir is not None else None, log)
    points: list[dict[str, Any]] = []
    knees: dict[str, dict[str, Any]] = {}
    sizes_bytes: list[float] = []
    for n in config.nodes:
        topology, members = scale_topology(n, roster)
        sizes = tuple(
            len(Envelope(body=bench_scan(m, 0, run_id="bench-scale"), origin=m.id).to_bytes())
            for m in members
        )
        sizes_bytes.append(sum(sizes) / len(sizes))
        mine: list[dict[str, Any]] = []
        found: dict[Kind, list[KneeSearch]] = {"grid": [], "baseline": []}
        kinds: tuple[Kind, Kind] = ("grid", "baseline")
        for kind, repeat in interleave(*kinds, config.repeats):
            kind_points, search = await _search(run, kind, topology, sizes, repeat)
            found[kind].append(search)
            mine += kind_points
        points += mine
        grid_knees = [s.knee_hz for s in found["grid"]]
        base_knees = [s.knee_hz for s in found["baseline"]]
        grid, base = median_knee(grid_knees), median_knee(base_knees)
        r = ratio(grid, base)
        knees[str(n)] = {
            "grid": grid,
            "baseline": base,
            "ratio": r,
            "grid_knees": grid_knees,
            "baseline_knees": base_knees,
            # the median knee is a cap when the search that found it stopped at max_hz
            "grid_capped": grid is not None and grid >= config.plan.max_hz,
            "baseline_capped": base is not None and base >= config.plan.max_hz,
            "passed": r is not None and r >= config.target,
            "topology": topology.source,
            "grids": len(topology.grids),
            "deliveries_per_report": topology.deliveries_per_report,
        }
        on_size(n, mine)
    return {
        "config": {
            "nodes": list(config.nodes),
            "qos": config.qos,
            "subscription_qos": 1,
            "broker": broker.to_dict(),
            "workers": config.workers,
            "warmup_s": config.warmup_s,
            "duration_s": config.duration_s,
            "seed": config.seed,
            "quick": config.quick,
            "search": asdict(config.plan),
            "p99_limit_ms": config.p99_limit_ms,
            "lag_limit_ms": config.lag_limit_ms,
            "attempts": config.attempts,
            "repeats": config.repeats,
            "topology_rule": RULE,
            "payload_bytes_mean": sum(sizes_bytes) / len(sizes_bytes),
        },
        "target": {
            "ratio_min": config.target,
            "compares": "grid knee / one-process baseline knee",
            "passed": all(k["passed"] for k in knees.values()),
        },
        "points": points,
        "knees": knees,
        "versions": versions(broker),
        "machine": machine(),
    }


async def _main(args: argparse.Namespace, config: ScaleConfig, console: Console) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from grid.app.bench.scale_report import point_line, print_knees, print_size, write_plots

    main_task = asyncio.current_task()
    assert main_task is not None
    if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
        # SIGTERM unwinds like Ctrl-C: workers, clients and broker stop in order.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    stdout = _stdout()
    roster_dir: Path | None = getattr(args, "roster", None)
    roster = load_roster(roster_dir)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=bool(args.quiet)) as progress:
        task = progress.add_task("bench scale", total=len(config.nodes))

        def log(point: dict[str, Any]) -> None:
            description = f"{point['nodes']} nodes, {point['kind']}"
            if config.repeats > 1:
                description += f" (repeat {point['repeat'] + 1} of {config.repeats})"
            progress.update(task, description=description)
            if not args.quiet:
                progress.console.print(point_line(point), highlight=False)

        def on_size(n: int, points: list[dict[str, Any]]) -> None:
            progress.advance(task)
            print_size(stdout, n, points)

        async with open_broker(args.broker, kind=args.broker_kind) as broker:
            results = await scale(broker, config, roster, roster_dir=roster_dir, log=log, on_size=on_size)
    print_knees(stdout, results)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        json_path = args.out / f"{BENCH_SCALE_OUT_NAME}.json"
        json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        write_plots(
            results, args.out / f"{BENCH_SCALE_OUT_NAME}.png", args.out / f"{BENCH_SCALE_OUT_NAME}-load.png"
        )
        console.print(f"results written to {json_path}")
    return results


def _stdout() -> Console:
    from rich.console import Console

    # The per-size table needs about 120 columns; a file or pipe gets them, a terminal its own width.
    return Console(width=None if sys.stdout.isatty() else 140)


def run_scale(args: argparse.Namespace) -> int:
    """``gridsim bench scale``: returns 0 whatever the verdict (a stop signal raises Stopped)."""
    from rich.console import Console

    config = config_from_args(args)
    limit = ensure_fds(max(config.nodes) + 1)  # before the broker starts: it inherits the limit
    del limit
    console = Console(stderr=True)
    # Ctrl-C or SIGTERM cancels the benchmark, which stops its clients, workers and broker; then
    # grid.app.signals.Stopped reaches the CLI, which exits 130 or 143.
    run_async(_main(args, config, console))
    return 0
