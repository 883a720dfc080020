"""``gridsim bench``: benchmarks, with PASS/FAIL against the targets and comparable result files.

``gridsim`` dispatches ``bench`` to :func:`run_bench`; ``python -m grid.app.bench fusion`` runs the
same without the ``gridsim`` CLI. The arguments are defined in :func:`grid.app.parser.add_fusion_parser`,
so that help never loads the benchmarks; the benchmark modules (numpy, scipy, the tracker) load
when one runs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from grid.app.parser import BENCH_FUSION_OUT_NAME as _OUT_NAME
from grid.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from grid.app.bench.targets import Target

__all__ = ["markdown_table", "run_bench", "run_bench_output"]


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


_COLUMNS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("RMSE m, tracker", lambda c: c["gridsim"]["rmse_m"]),
    ("RMSE m, EKF", lambda c: c["gridsim_filter"]["rmse_m"]),
    ("RMSE m, Stone Soup", lambda c: c["stonesoup"]["rmse_m"]),
    ("PCRLB m", lambda c: c["pcrlb_rmse_m"]),
    ("PCRLB m, tracker samples", lambda c: c["gridsim"]["pcrlb_on_samples_m"]),
    ("RMSE m, tracker, association given", lambda c: c["gridsim"].get("association_given", {}).get("rmse_m")),
    (
        "PCRLB m, its samples",
        lambda c: c["gridsim"].get("association_given", {}).get("pcrlb_on_samples_m"),
    ),
    ("us/update, tracker", lambda c: c["gridsim"]["us_per_update"]),
    ("us/update, EKF", lambda c: c["gridsim_filter"]["us_per_update"]),
    ("us/update, Stone Soup", lambda c: c["stonesoup"]["us_per_update"]),
    (
        "Stone Soup / tracker",
        lambda c: _ratio(c["stonesoup"]["us_per_update"], c["gridsim"]["us_per_update"]),
    ),
    (
        "Stone Soup / EKF",
        lambda c: _ratio(c["stonesoup"]["us_per_update"], c["gridsim_filter"]["us_per_update"]),
    ),
    ("Stone Soup GNN us/report", lambda c: c["stonesoup"].get("gnn", {}).get("us_per_report")),
    ("tracker us/report, same", lambda c: c["stonesoup"].get("gnn", {}).get("gridsim_us_same_reports")),
    ("locate s, tracker", lambda c: c["gridsim"]["time_to_locate_s"]),
    ("locate s, Stone Soup", lambda c: c["stonesoup"]["time_to_locate_s"]),
    ("located", lambda c: f"{c['gridsim']['located']}/{c['gridsim']['threats']}"),
    ("id switches max", lambda c: c["gridsim"]["id_switches_max"]),
    ("false tracks", lambda c: c["gridsim"]["false_tracks"]),
    ("OSPA m", lambda c: c["gridsim"]["ospa_m"]),
    ("GOSPA m", lambda c: c["gridsim"]["gospa_m"]),
    ("RMSE m, +delay", lambda c: c["gridsim"].get("delayed", {}).get("rmse_m")),
    ("JPDA: RMSE m", lambda c: c.get("gridsim_jpda", {}).get("rmse_m")),
    ("JPDA: us/update", lambda c: c.get("gridsim_jpda", {}).get("us_per_update")),
    ("JPDA: false tracks", lambda c: c.get("gridsim_jpda", {}).get("false_tracks")),
    ("JPDA: OSPA m", lambda c: c.get("gridsim_jpda", {}).get("ospa_m")),
]


def markdown_table(results: dict[str, Any]) -> str:
    """The results as Markdown: the main table, then the targets."""
    names = [c["name"] for c in results["cases"]]
    lines = ["| measure | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label, value in _COLUMNS:
        lines.append(f"| {label} | " + " | ".join(_fmt(value(c)) for c in results["cases"]) + " |")
    lines += ["", "| case | target | value | limit | result |", "|---|---|---|---|---|"]
    for c in results["cases"]:
        for t in c["targets"]:
            verdict = {True: "PASS", False: "FAIL", None: "n/a"}[t["passed"]]
            bound = ("<= " if t["at_most"] else ">= ") + _fmt(t["limit"], 2)
            lines.append(f"| {t['case']} | {t['name']} | {_fmt(t['value'], 2)} | {bound} | {verdict} |")
    return "\n".join(lines) + "\n"


def _print(console: Console, results: dict[str, Any], targets: list[Target]) -> None:
    from rich.table import Table

    table = Table(title="gridsim bench fusion")
    table.add_column("measure")
    for c in results["cases"]:
        table.add_column(c["name"], justify="right")
    for label, value in _COLUMNS:
        table.add_row(label, *(_fmt(value(c)) for c in results["cases"]))
    console.print(table)
    for t in targets:
        verdict = {True: "[green]PASS[/green]", False: "[red]FAIL[/red]", None: "[yellow]n/a[/yellow]"}[
            t.passed
        ]
        bound = ("<=" if t.at_most else ">=") + f" {t.limit:g}"
        note = f"  ({t.note})" if t.note and t.passed is False else ""
        console.print(f"{verdict} {t.case}: {t.name} = {_fmt(t.value, 2)} {bound}{note}")


def run_bench_output(args: argparse.Namespace) -> int:
    """A bench; with ``--quiet`` / ``--json`` its tables and progress are silenced, and ``--json`` prints
    the JSON result it writes (to a temporary ``--out`` when none is given) as the one stdout document."""
    import contextlib
    import os
    import tempfile
    from pathlib import Path

    from grid.app.output import Output

    o = Output.from_args(args)
    if o.human:
        return run_bench(args)
    args.quiet = True  # the benches' own flag: no progress display
    with contextlib.ExitStack() as stack:
        if args.out is None:
            args.out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gridsim-bench-")))
        with open(os.devnull, "w", encoding="utf-8") as null, contextlib.redirect_stdout(null):
            code = run_bench(args)
        written = args.out / f"bench-{args.bench_command}.json"
        o.result(json.loads(written.read_text(encoding="utf-8")))
    return code


def run_bench(args: argparse.Namespace) -> int:
    """Run the benchmark named by ``args.bench_command``; returns the exit code."""
    if args.bench_command == "latency":
        from grid.app.bench.latency import run_latency

        return run_latency(args)
    if args.bench_command == "scale":
        from grid.app.bench.scale import run_scale

        return run_scale(args)
    if args.bench_command == "soak":
        from grid.app.bench.soak import run_soak

        return run_soak(args)
    if args.bench_command == "codec":  # before the fusion bench's imports (numpy, scipy)
        from grid.app.bench.codec import run_codec_bench

        return run_codec_bench(args)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from grid.app.bench.cases import cases
    from grid.app.bench.fusion import run_cases
    from grid.app.bench.progress import bench_progress
    from grid.app.bench.targets import judge
    from grid.world.roster import load_roster

    if args.bench_command != "fusion":
        raise ConfigError(
            f"unknown benchmark {args.bench_command!r}; expected fusion, latency, scale, codec or soak"
        )
    console = Console(stderr=True)
    selected = cases(quick=args.quick)
    if args.case:
        unknown = sorted(set(args.case) - {c.name for c in selected})
        if unknown:
            raise ConfigError(
                f"unknown case {', '.join(unknown)}; expected {', '.join(c.name for c in selected)}"
            )
        selected = [c for c in selected if c.name in args.case]
    roster = load_roster(getattr(args, "roster", None))
    stonesoup = False if args.no_stonesoup else None
    quiet = bool(getattr(args, "quiet", False))  # gridsim's --quiet and --json: no log lines either
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with bench_progress(args, console, *columns, auto_refresh=False) as progress:
        task = progress.add_task("bench fusion", total=len(selected))

        def log(line: str) -> None:
            if not quiet:
                progress.console.print(line, highlight=False)

        def on_case(name: str) -> None:
            done = [c.name for c in selected].index(name)  # the cases before this one are done
            progress.update(task, completed=done, description=f"bench fusion: {name}", refresh=True)

        results = run_cases(selected, roster, stonesoup=stonesoup, log=log, on_case=on_case)
    results["config"]["quick"] = args.quick
    targets: list[Target] = []
    for case in results["cases"]:
        judged = judge(case)
        case["targets"] = [t.to_dict() for t in judged]
        targets += judged
    _print(Console(), results, targets)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{_OUT_NAME}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        (args.out / f"{_OUT_NAME}.md").write_text(markdown_table(results), encoding="utf-8")
        if not quiet:
            console.print(f"results written to {args.out / (_OUT_NAME + '.json')}")
    return 0
