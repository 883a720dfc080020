"""``gridsim bench soak``: the whole grid for a long while, its memory watched, nothing lost.

A stream of drones (one every ``period`` simulation seconds, each on the default scenario's
path) keeps the grid busy at a steady rate for ``--duration`` wall seconds: ``gridsim run`` at
``--speed`` with its own Mosquitto and ``--workers`` node processes plus the fusion centre's.
Every ``--interval`` s the RSS of every process of the run is read (:mod:`grid.app.bench.rss`):
the broker, the fusion centre's worker, the node workers and this process (the controller).

Verdict, per process: its growth from the first sample after ``--warmup`` to its last sample
before the scenario ended stays within the largest of :data:`GROWTH_LIMIT_MB`,
:data:`GROWTH_LIMIT_SHARE` of its warm RSS and :data:`GROWTH_PER_REPORT_KB` per report the run
published; and the run lost no report (``messages.lost == 0``, every account in). The per-report
term is by design: a run's accounts keep about a kilobyte per report until its summary (the
fusion centre each report's id, latency and age and every tracker update; the controller each
measurement, for the Cramér-Rao bound and the digest). Measured over 10 minutes, 44,141 reports
(2x, 20 drones): the controller grew 56 MB (1.27 kB a report), the fusion worker 44 MB (0.99),
each node worker 22 MB (0.5), Mosquitto 5 MB; a leak beyond that would break the bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grid.app.bench.latency_report import machine
from grid.app.bench.progress import bench_progress
from grid.app.bench.rss import sample_tree
from grid.app.parser import BENCH_SOAK_OUT_NAME
from grid.app.run import RunOptions, run_grid
from grid.app.signals import run_async
from grid.errors import ConfigError
from grid.results.observed import Progress
from grid.world.roster import Roster, load_roster
from grid.world.scenario import Scenario, load_scenario, scenario_from_dict

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "GROWTH_LIMIT_MB",
    "GROWTH_LIMIT_SHARE",
    "GROWTH_PER_REPORT_KB",
    "SoakConfig",
    "run_soak",
    "soak",
    "soak_scenario",
]

# The bound on each process's RSS growth after warm-up: 20 MB or 20 % of its warm RSS, whichever
# is larger (a 6 MB broker may double without mattering; a 150 MB worker may not grow by 40 MB).
GROWTH_LIMIT_MB = 20.0
GROWTH_LIMIT_SHARE = 0.20
# ... or, for a long run, 1.5 kB per report published: its accounts' kilobyte, with a margin.
GROWTH_PER_REPORT_KB = 1.5
_FLIGHT_S = 380.0  # the default drone's path takes about 370 s at 60 m/s


@dataclass(frozen=True, kw_only=True)
class SoakConfig:
    """What one soak plays."""

    duration_s: float = 600.0  # wall seconds of scenario
    speed: float = 2.0
    workers: int = 2
    period_s: float = 60.0  # simulation seconds between drones
    warmup_s: float = 60.0  # wall seconds of the scenario before the first counted sample
    interval_s: float = 10.0  # wall seconds between samples

    def __post_init__(self) -> None:
        for name in ("duration_s", "speed", "period_s", "interval_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"soak: {name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.warmup_s < self.duration_s:
            raise ConfigError(f"soak: warmup_s must be in [0, duration_s), got {self.warmup_s}")
        if self.workers < 1:
            raise ConfigError(f"soak: workers must be at least 1, got {self.workers}")


def soak_scenario(config: SoakConfig, roster: Roster) -> Scenario:
    """The default scenario's drone, launched every ``period_s`` for the soak's simulated length."""
    base = load_scenario(roster=roster).to_dict()
    drone = base["threats"][0]
    sim_s = config.duration_s * config.speed
    starts = [5.0 + k * config.period_s for k in range(max(1, int(sim_s // config.period_s)))]
    threats = [{**drone, "id": f"uav-{k + 1}", "start_s": s} for k, s in enumerate(starts)]
    return scenario_from_dict({**base, "name": "soak", "duration_s": sim_s, "threats": threats, "events": []})


@dataclass(frozen=True, slots=True)
class _Sample:
    wall_s: float
    sim_s: float
    rss_mb: dict[str, float]


def _growth(
    samples: list[_Sample], config: SoakConfig, duration_sim_s: float, reports: int
) -> dict[str, Any]:
    """Per process: warm and end RSS, growth, its bound and whether it held."""
    out: dict[str, Any] = {}
    names = sorted({n for s in samples for n in s.rss_mb})
    warm_from = config.warmup_s * config.speed  # simulation seconds
    for name in names:
        during = [s for s in samples if name in s.rss_mb and s.sim_s < duration_sim_s]
        warm = next((s for s in during if s.sim_s >= warm_from), None)
        if warm is None or during[-1] is warm:
            out[name] = {"samples": len(during), "passed": None, "note": "too few samples after warm-up"}
            continue
        end = during[-1]
        start_mb, end_mb = warm.rss_mb[name], end.rss_mb[name]
        limit = max(GROWTH_LIMIT_MB, GROWTH_LIMIT_SHARE * start_mb, GROWTH_PER_REPORT_KB * reports / 1000)
        peak = max(s.rss_mb[name] for s in during)
        out[name] = {
            "first_mb": round(during[0].rss_mb[name], 2),
            "warm_mb": round(start_mb, 2),
            "end_mb": round(end_mb, 2),
            "peak_mb": round(peak, 2),
            "growth_mb": round(end_mb - start_mb, 2),
            "growth_share": round((end_mb - start_mb) / start_mb, 4) if start_mb else None,
            "growth_kb_per_report": round((end_mb - start_mb) * 1000 / reports, 3) if reports else None,
            "warm_at_s": round(warm.wall_s, 1),
            "end_at_s": round(end.wall_s, 1),
            "limit_mb": round(limit, 2),
            "samples": len(during),
            "passed": end_mb - start_mb <= limit,
        }
    return out


async def soak(
    config: SoakConfig,
    roster: Roster,
    out_dir: Path,
    watch: Callable[[Progress, int], None] | None = None,
) -> dict[str, Any]:
    """Play the soak, sampling memory; the results (also the run's summary in ``out_dir/run``).

    ``watch`` gets the run's progress and the samples taken so far, as the run reports it.
    """
    scenario = soak_scenario(config, roster)
    progress = Progress()
    samples: list[_Sample] = []
    names: dict[int, str] = {}
    root = os.getpid()
    began = time.monotonic()

    def on_progress(p: Progress) -> None:
        progress.sim_time_s = p.sim_time_s
        progress.reports = p.reports
        if watch is not None:
            watch(p, len(samples))

    async def sample() -> None:
        while True:
            taken = sample_tree(root, names)
            rss = {p.name: p.rss_mb for p in taken}
            samples.append(_Sample(round(time.monotonic() - began, 2), progress.sim_time_s, rss))
            await asyncio.sleep(config.interval_s)

    options = RunOptions(
        scenario=scenario,
        roster=roster,
        speed=config.speed,
        broker_url=None,
        broker_kind="mosquitto",
        out_dir=out_dir / "run",
        workers=config.workers,
        join_timeout_s=120.0,  # worker processes starting on a loaded machine
    )
    async with asyncio.TaskGroup() as group:
        sampler = group.create_task(sample(), name="grid[bench].soak-rss")
        try:
            summary = await run_grid(options, on_progress=on_progress)
        finally:
            sampler.cancel()
    messages = summary["messages"]
    processes = _growth(samples, config, scenario.duration_s, messages["published"])
    lost_ok = messages["lost"] == 0 and summary["missing_accounts"] == []
    memory_ok = all(p["passed"] is not False for p in processes.values())
    wall = float(summary["wall_time_s"])
    return {
        "config": {
            **asdict(config),
            "duration_sim_s": scenario.duration_s,
            "drones": len(scenario.threats),
            "growth_limit_mb": GROWTH_LIMIT_MB,
            "growth_limit_share": GROWTH_LIMIT_SHARE,
            "growth_per_report_kb": GROWTH_PER_REPORT_KB,
            "broker": summary["broker"],
        },
        "machine": machine(),
        "messages": messages,
        "reports_per_wall_s": round(messages["published"] / config.duration_s, 1),
        "wall_time_s": wall,
        "latency_ms": summary.get("latency_ms"),
        "missing_accounts": summary["missing_accounts"],
        "processes": processes,
        "samples": [{"wall_s": s.wall_s, "sim_s": round(s.sim_s, 1), "rss_mb": s.rss_mb} for s in samples],
        "passed": {"nothing_lost": lost_ok, "memory_bounded": memory_ok, "all": lost_ok and memory_ok},
    }


def _print(console: Console, results: dict[str, Any]) -> None:
    from rich.table import Table

    c = results["config"]
    table = Table(
        title=(
            f"gridsim bench soak: {c['duration_s']:g} s at {c['speed']:g}x, {c['workers']} workers, "
            f"{c['drones']} drones, {results['reports_per_wall_s']:g} reports/s; RSS in MB"
        )
    )
    for column in ("process", "warm", "end", "peak", "growth", "%", "limit", "result"):
        table.add_column(column, justify="left" if column == "process" else "right", no_wrap=True)
    for name, p in results["processes"].items():
        verdict = {True: "[green]PASS[/green]", False: "[red]FAIL[/red]", None: "[yellow]n/a[/yellow]"}
        if p["passed"] is None:
            table.add_row(name, "-", "-", "-", "-", "-", "-", verdict[None])
            continue
        share = p["growth_share"]
        table.add_row(
            name,
            f"{p['warm_mb']:.1f}",
            f"{p['end_mb']:.1f}",
            f"{p['peak_mb']:.1f}",
            f"{p['growth_mb']:+.1f}",
            "-" if share is None else f"{share:+.1%}",
            f"{p['limit_mb']:.1f}",
            verdict[p["passed"]],
        )
    console.print(table)
    m = results["messages"]
    console.print(
        f"reports published {m['published']}, delivered {m['delivered']}, lost {m['lost']}, "
        f"duplicates {m['duplicates']}; missing accounts: {', '.join(results['missing_accounts']) or 'none'}"
    )
    ok = results["passed"]["all"]
    console.print("[green]PASS[/green]" if ok else "[red]FAIL[/red]", "soak: nothing lost, memory bounded")


def write_plot(results: dict[str, Any], path: Path) -> None:
    """A PNG of each process's RSS over the soak's wall time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name in results["processes"]:
        points = [(s["wall_s"], s["rss_mb"][name]) for s in results["samples"] if name in s["rss_mb"]]
        ax.plot([t for t, _ in points], [v for _, v in points], label=name)
    c = results["config"]
    ax.axvline(c["warmup_s"], color="grey", linestyle=":", label="end of warm-up")
    ax.set_xlabel("wall time, s")
    ax.set_ylabel("RSS, MB")
    ax.set_title(f"gridsim bench soak: {c['duration_s']:g} s at {c['speed']:g}x")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_soak(args: argparse.Namespace) -> int:
    """``gridsim bench soak``: exit 0 when it passed, 1 when it did not."""
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeRemainingColumn

    config = SoakConfig(
        duration_s=args.duration,
        speed=args.speed,
        workers=args.workers,
        period_s=args.period,
        warmup_s=args.warmup if args.warmup is not None else min(60.0, args.duration / 5),
        interval_s=args.interval if args.interval is not None else min(10.0, args.duration / 20),
    )
    roster = load_roster(getattr(args, "roster", None))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
    with bench_progress(args, Console(stderr=True), *columns) as bar:
        task = bar.add_task("bench soak", total=config.duration_s * config.speed)  # simulation s

        def watch(p: Progress, samples: int) -> None:
            bar.update(
                task,
                completed=p.sim_time_s,
                description=f"bench soak: {p.reports} reports, {samples} RSS samples",
            )

        results = run_async(soak(config, roster, out, watch))
    (out / f"{BENCH_SOAK_OUT_NAME}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    write_plot(results, out / f"{BENCH_SOAK_OUT_NAME}.png")
    _print(Console(), results)
    if not getattr(args, "quiet", False):
        Console(stderr=True).print(f"results written to {out / (BENCH_SOAK_OUT_NAME + '.json')}")
    return 0 if results["passed"]["all"] else 1
