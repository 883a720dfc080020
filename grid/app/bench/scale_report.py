"""What ``gridsim bench scale`` prints and draws: a line per phase, a table per size, the knee table, PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from grid.app.bench.scale_knee import knee_spread

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["point_line", "print_knees", "print_size", "write_plots"]


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value * 1e6:.1f}"


def point_line(p: dict[str, Any]) -> str:
    """One measured phase on one line (progress)."""
    verdict = "pass" if p["passed"] else "FAIL"
    return (
        f"{p['nodes']:>4} {p['kind']:<8} {p['rate_hz']:>7.1f} Hz: p99 {_fmt(p['p99_ms'], 1)} ms, "
        f"lost {p['lost']}, lag {_fmt(p['lag_p99_ms'], 1)} ms, {p['deliveries_per_s']:.0f}/s {verdict}"
    )


def print_size(console: Console, nodes: int, points: list[dict[str, Any]]) -> None:
    """Every phase measured at one roster size, grid then baseline (each repeat's phases together)."""
    from rich.table import Table

    table = Table(
        title=f"gridsim bench scale: {nodes} nodes",
        caption="Hz: offered aggregate reports/s; latency and lag99 (publishers behind schedule) in ms; "
        "cpu, wrk, brk: CPU us per delivery of this process, the workers, the broker",
    )
    repeated = any(p.get("repeat", 0) > 0 for p in points)
    headers = [
        "kind",
        *(["rep"] if repeated else []),
        "Hz",
        "sent Hz",
        "dlv/s",
        "p50",
        "p99",
        "max",
        "lost",
        "lag99",
        "cpu",
        "wrk",
        "brk",
        "",
    ]
    for h in headers:
        table.add_column(h, justify="left" if h == "kind" else "right")
    for p in sorted(points, key=lambda p: (p["kind"] != "grid", p.get("repeat", 0), p["rate_hz"])):
        table.add_row(
            p["kind"],
            *([str(p["repeat"])] if repeated else []),
            _fmt(p["rate_hz"]),
            _fmt(p["achieved_hz"]),
            _fmt(p["deliveries_per_s"], 0),
            _fmt(p["p50_ms"], 2),
            _fmt(p["p99_ms"], 2),
            _fmt(p["max_ms"], 1),
            str(p["lost"]),
            _fmt(p["lag_p99_ms"]),
            _us(p["cpu_s_per_delivery"]),
            _us(p["worker_cpu_s_per_delivery"]),
            _us(p["broker_cpu_s_per_delivery"]),
            "[green]pass[/green]" if p["passed"] else "[red]fail[/red]",
        )
    console.print(table)


def print_knees(console: Console, results: dict[str, Any]) -> None:
    """The knee of every size, grid against baseline, and the target's PASS/FAIL.

    With repeats the knees are the medians, each followed by the spread of its searches (min-max).
    """
    from rich.table import Table

    c, t = results["config"], results["target"]
    repeats = c.get("repeats", 1)
    table = Table(
        title=(
            f"bench scale knees (aggregate reports/s): QoS {c['qos']}, {c['broker']['kind']} "
            f"({results['versions']['broker'] or 'version unknown'}), workers {c['workers']}, "
            f"{c['duration_s']:g} s phases after {c['warmup_s']:g} s warm-up"
            + (f"; median of {repeats} searches (min-max)" if repeats > 1 else "")
        )
    )
    for h in (
        "nodes",
        "grid knee Hz",
        "baseline knee Hz",
        "grid / baseline",
        f"target >= {t['ratio_min']:g}",
    ):
        table.add_column(h, justify="right")
    for n, k in results["knees"].items():

        def knee(value: float | None, capped: bool, every: list[float | None]) -> str:
            text = ("none" if value is None else f"{value:.1f}") + (" (cap)" if capped else "")
            if len(every) > 1:
                spread = knee_spread(every)
                text += " (none)" if spread is None else f" ({spread[0]:.0f}-{spread[1]:.0f})"
            return text

        table.add_row(
            n,
            knee(k["grid"], k["grid_capped"], k.get("grid_knees", [])),
            knee(k["baseline"], k["baseline_capped"], k.get("baseline_knees", [])),
            _fmt(k["ratio"], 2),
            "[green]PASS[/green]" if k["passed"] else "[red]FAIL[/red]",
        )
    console.print(table)


def write_plots(results: dict[str, Any], scale_png: Path, load_png: Path) -> None:
    """The scale curve (knee against nodes) and latency against load (p99 against offered rate)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    sizes = [int(n) for n in results["knees"]]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    found = False
    for kind, marker in (("grid", "o"), ("baseline", "s")):
        xs = [n for n in sizes if results["knees"][str(n)][kind] is not None]
        found = found or bool(xs)
        (line,) = ax.plot(xs, [results["knees"][str(n)][kind] for n in xs], marker=marker, label=kind)
        every = [
            (n, k)
            for n in sizes
            if len(ks := results["knees"][str(n)].get(f"{kind}_knees", [])) > 1
            for k in ks
            if k is not None
        ]
        if every:  # with repeats the line joins the medians; each search's knee is a faint dot
            ax.scatter([n for n, _ in every], [k for _, k in every], color=line.get_color(), alpha=0.35, s=14)
    ax.set_xscale("log")
    if found:
        ax.set_yscale("log")
    else:  # a log axis needs a value: say why the plot is empty instead
        ax.text(0.5, 0.5, "no rate passed at any size", ha="center", transform=ax.transAxes)
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("nodes")
    ax.set_ylabel("knee: highest aggregate reports/s that passed")
    ax.set_title(f"bench scale: knee against roster size (workers {results['config']['workers']})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(scale_png, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for n in sizes:
        for kind, style in (("grid", "-o"), ("baseline", "--s")):
            best: dict[float, dict[str, Any]] = {}  # a rate measured twice: the attempt its verdict rests on
            for p in results["points"]:
                mine = p["nodes"] == n and p["kind"] == kind and p["p99_ms"] is not None
                if mine and (p["rate_hz"] not in best or p["p99_ms"] < best[p["rate_hz"]]["p99_ms"]):
                    best[p["rate_hz"]] = p
            pts = [best[r] for r in sorted(best)]
            if pts:
                ax.plot([p["rate_hz"] for p in pts], [p["p99_ms"] for p in pts], style, label=f"{n} {kind}")
    ax.axhline(results["config"]["p99_limit_ms"], color="grey", linestyle=":", label="p99 limit")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered aggregate reports/s")
    ax.set_ylabel("p99 one-way latency, ms")
    ax.set_title("bench scale: latency against load (best attempt per rate)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(load_png, dpi=120)
    plt.close(fig)
