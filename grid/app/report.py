"""What a person sees of a run: live progress while it plays, tables when it ends."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

if TYPE_CHECKING:
    from grid.app.run import Progress as RunProgress
    from grid.world.scenario import Scenario

__all__ = ["print_summary", "progress_display"]


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}{unit}"
    return f"{value}{unit}"


@contextlib.contextmanager
def progress_display(console: Console, scenario: Scenario) -> Iterator[Callable[[RunProgress], None]]:
    """A live bar of simulation time with report, track and awareness counts."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:>6.0f}/{task.total:.0f} sim s"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[detail]}"),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(scenario.name, total=scenario.duration_s, detail="starting")

        def update(p: RunProgress) -> None:
            detail = (
                f"reports {p.reports}  fused tracks {p.track_updates}  "
                f"confirmed tracks {len(p.confirmed_tracks)}  aware nodes {len(p.aware_nodes)}"
            )
            bar.update(task, completed=p.sim_time_s, detail=detail)

        yield update


def print_summary(console: Console, summary: dict[str, Any]) -> None:
    """Per-threat and per-member-state tables, then message and latency figures."""
    broker = summary["broker"]
    console.print(
        f"[bold]{summary['scenario']}[/bold]  seed {summary['seed']}  speed {summary['speed']}x  "
        f"broker {broker['kind']} {broker['url']}  wall {summary['wall_time_s']} s"
    )
    threats = Table(title="Threats", title_justify="left")
    for col in ("threat", "detected", "first detection s", "located s", "RMSE m", "tracks"):
        threats.add_column(col, justify="right" if col not in ("threat", "tracks") else "left")
    for t in summary["threats"]:
        threats.add_row(
            t["id"],
            "yes" if t["detected"] else "[red]no[/red]",
            _fmt(t["time_to_first_detection_s"]),
            _fmt(t["time_to_locate_s"]) if t["time_to_locate_s"] is not None else "[red]never[/red]",
            _fmt(t["rmse_m"]),
            ", ".join(t["track_ids"]) or "-",
        )
    console.print(threats)

    threat_ids = [t["id"] for t in summary["threats"]]
    members = Table(
        title="Time to awareness per member state (sim s after threat start)", title_justify="left"
    )
    members.add_column("member")
    for tid in threat_ids:
        members.add_column(tid, justify="right")
    members.add_column("first learned from")
    members.add_column("reports published", justify="right")
    for node_id, per_threat in summary["awareness"].items():
        sources = {e["source"] for e in per_threat.values() if e["source"]}
        members.add_row(
            node_id,
            *(_fmt(per_threat[tid]["time_to_awareness_s"]) for tid in threat_ids),
            ", ".join(sorted(sources)) or "-",
            str(summary["per_node"].get(node_id, {}).get("published", "-")),
        )
    console.print(members)

    msgs = summary["messages"]
    lat = summary.get("latency_ms") or {}
    console.print(
        f"reports published {msgs['published']}, delivered to fusion {msgs['delivered']}, "
        f"rejected {sum(msgs['rejected'].values())} {msgs['rejected'] or ''}, duplicates {msgs['duplicates']}"
    )
    if lat:
        console.print(
            f"report latency at the fusion centre (ms): p50 {lat['p50']:.2f}  p95 {lat['p95']:.2f}  "
            f"p99 {lat['p99']:.2f}  max {lat['max']:.2f}  (n={lat['count']:.0f})"
        )
    if air := summary.get("air_picture"):
        every = (
            "every update"
            if air["interval_s"] == 0
            else f"each track at most once per {air['interval_s']:g} sim s"
        )
        console.print(
            f"air picture: {air['published']} fused tracks published ({every}) "
            f"for {air['tracker_updates']} tracker updates"
        )
    for warning in summary.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {warning}")
