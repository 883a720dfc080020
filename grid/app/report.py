"""What a person sees of a run: live progress while it plays, tables when it ends."""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

if TYPE_CHECKING:
    from grid.app.run import Progress as RunProgress
    from grid.results.cyber_export import ExportReport
    from grid.world.scenario import Scenario

__all__ = [
    "partial_summary",
    "print_cyber",
    "print_export",
    "print_partial",
    "print_summary",
    "progress_display",
]


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


def partial_summary(progress: RunProgress | None, *, stopped_by: str) -> dict[str, Any]:
    """What a run stopped by a signal got to (``DIR/partial.json``): the live figures, no scoring."""
    if progress is None:
        return {"stopped_by": stopped_by, "started": False}
    return {
        "stopped_by": stopped_by,
        "started": True,
        "sim_time_s": round(progress.sim_time_s, 1),
        "duration_s": progress.duration_s,
        "reports": progress.reports,
        "track_updates": progress.track_updates,
        "confirmed_tracks": sorted(progress.confirmed_tracks),
        "aware_nodes": sorted(progress.aware_nodes),
    }


def print_partial(console: Console, partial: Mapping[str, Any]) -> None:
    """One line: how far a run stopped by a signal got."""
    if not partial["started"]:
        console.print(f"partial: stopped by {partial['stopped_by']} before the run started")
        return
    console.print(
        f"partial: stopped by {partial['stopped_by']} at {partial['sim_time_s']:.0f}/"
        f"{partial['duration_s']:.0f} sim s; reports {partial['reports']}, fused tracks "
        f"{partial['track_updates']}, confirmed tracks {len(partial['confirmed_tracks'])}, aware nodes "
        f"{len(partial['aware_nodes'])}",
        soft_wrap=True,
    )


def _print_signing(console: Console, summary: dict[str, Any]) -> None:
    """Signed reports, the tracks no other member corroborates (a compromised member's phantom), and
    what stopped an outsider's forgeries."""
    if (signing := summary.get("signing") or {}).get("signed"):
        window = signing["replay_window_s"]
        console.print(f"signed reports: keys {escape(str(signing['keys']))}, replay window {window:g} s")
    alone = (summary.get("tracking") or {}).get("single_source_tracks") or {}
    for event in summary.get("events", []):
        if event.get("kind") == "spoofing":
            console.print(f"spoofing by {event['node']}: {escape(str(event.get('caught_by', '')))}")
        elif event.get("kind") == "forgery":
            console.print(f"forgery as {event['as_node']}: {escape(str(event.get('caught_by', '')))}")
    if alone:
        tracks = ", ".join(f"{t} ({n} only)" for t, n in alone.items())
        console.print(f"uncorroborated tracks (one member's reports alone): {tracks}")


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
    _print_signing(console, summary)
    if fed := summary.get("federation"):
        _print_federation(console, fed)
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
    print_cyber(console, summary.get("cyber"))
    for warning in summary.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {warning}")


def _print_federation(console: Console, fed: Mapping[str, Any]) -> None:
    dups = fed["duplicates"]
    console.print(
        f"federation: {len(fed['brokers'])} brokers, {len(fed['bridges'])} bridges; duplicates seen "
        f"{dups['seen']} (fusion {dups['at_fusion']}, nodes {dups['at_nodes']}), dropped {dups['dropped']}"
    )


def print_cyber(console: Console, cyber: Mapping[str, Any] | None) -> None:
    """The cyber exchange's indicators, then its savings, warning times, rejections and TAXII feed.

    Prints nothing when the run had no cyber section or no shared indicator.
    """
    if not cyber or not cyber.get("indicators"):
        return
    table = Table(
        title="Cyber indicators (flagged, mitigated: sim s from first observation; - : not yet)",
        title_justify="left",
    )
    table.add_column("type")
    table.add_column("value", overflow="fold", min_width=21)
    for col in ("members", "sightings", "flagged", "mitigated"):
        table.add_column(col, justify="right")
    for ind in cyber["indicators"]:
        kind, value = _observable(ind)
        table.add_row(
            escape(kind),
            escape(value),
            str(len(ind["observed_by"])),
            str(ind["sightings"]),
            _fmt(ind["time_to_flag_s"]),
            _fmt(ind["time_to_mitigate_s"]),
        )
    console.print(table)
    line = (
        f"cyber: {cyber['duplicates_absorbed']} duplicates absorbed, "
        f"analysis saved {cyber['analysis_saved']:.0%} (sightings and duplicates over reports)"
    )
    per_member = cyber.get("time_to_warning_s") or {}
    warned = [float(s) for s in per_member.values() if s is not None]
    if warned:
        line += (
            f"; time to warning p50 {statistics.median(warned):.1f} s, max {max(warned):.1f} s "
            f"over {len(warned)} of {len(per_member)} members warned"
        )
    elif per_member:
        line += f"; none of {len(per_member)} members warned"
    console.print(line)
    if rejected := {k: v for k, v in (cyber.get("rejected") or {}).items() if v}:
        reasons = ", ".join(f"{escape(str(k))} {v}" for k, v in sorted(rejected.items()))
        console.print(f"cyber reports rejected: {sum(rejected.values())} ({reasons})")
    if taxii := cyber.get("taxii"):
        console.print(_taxii_line(taxii))
    if recovery := cyber.get("recovery"):
        console.print(_recovery_line(recovery, cyber["indicators"]))
    if export := cyber.get("export"):
        console.print(_export_line(export))


def _recovery_line(recovery: Mapping[str, Any], indicators: list[Mapping[str, Any]]) -> str:
    """What a restart of the hub's process replayed, and the indicators whose times it delayed."""
    late = set(recovery.get("late_keys") or ())
    delayed = ", ".join(escape(_observable(i)[0]) for i in indicators if i["key"] in late) or "none"
    return (
        f"cyber hub restarted: {recovery.get('replayed', 0)} messages replayed, "
        f"{recovery.get('resent', 0)} sent again, {recovery.get('redelivered', 0)} redeliveries dropped, "
        f"{recovery.get('queued', 0)} queued while down; times delayed by it: {delayed}"
    )


def _observable(indicator: Mapping[str, Any]) -> tuple[str, str]:
    """An indicator's observable type and value, read from its pattern (the pattern when it is not
    one comparison)."""
    from grid.cyber.stix import observable_of_pattern  # stix2 loads only when there is a cyber table

    pattern = str(indicator["pattern"])
    found = observable_of_pattern(pattern)
    return ("?", pattern) if found is None else (str(found[0]), found[1])


def _export_line(export: Mapping[str, Any]) -> str:
    """One line of an export report (:meth:`grid.results.cyber_export.ExportReport.as_dict`)."""
    line = f"STIX bundle: {export['objects']} objects in {escape(str(export['path']))}"
    if (v := export.get("validator")) is None:
        return line + "; stix2-validator not installed"
    verdict = "valid" if not v["errors"] else f"[red]{_count(v['errors'], 'error')}[/red]"
    return line + f"; stix2-validator: {verdict}, {_count(v['warnings'], 'warning')}"


def _taxii_line(taxii: Mapping[str, Any]) -> str:
    parts = []
    if (pushed := taxii.get("pushed")) is not None:
        parts.append(f"{pushed} objects pushed")
    if (seconds := taxii.get("seconds")) is not None:
        parts.append(f"in {float(seconds):.2f} s")
    if failures := taxii.get("failures"):
        parts.append(f"[red]{failures} failed pushes[/red]")
    return "TAXII feed: " + (" ".join(parts) or "no push")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def print_export(console: Console, report: ExportReport) -> None:
    """What ``gridsim cyber export`` wrote: objects by type, then the validator's verdict."""
    table = Table(title="STIX 2.1 bundle", title_justify="left")
    table.add_column("type")
    table.add_column("objects", justify="right")
    for kind, count in report.objects_by_type.items():
        table.add_row(kind, str(count))
    table.add_row("[bold]total[/bold]", f"[bold]{report.objects}[/bold]")
    console.print(table)
    console.print(f"bundle id {report.bundle_id}")
    console.print("stix2: parsed back, no custom content")
    v = report.validator
    if v is None:
        console.print("stix2-validator: [yellow]not installed[/yellow] (pip install stix2-validator)")
    else:
        codes = ", ".join(f"{code}: {n}" for code, n in v.warning_codes.items())
        verdict = "[green]valid[/green]" if not v.errors else f"[red]{_count(len(v.errors), 'error')}[/red]"
        console.print(
            f"stix2-validator: {verdict}, {_count(len(v.warnings), 'warning')}"
            + (f" by check code ({escape(codes)})" if codes else "")
        )
        for error in v.errors:
            console.print(f"  [red]error[/red] {escape(error)}", soft_wrap=True)
    console.print(f"bundle written to [bold]{escape(str(report.path))}[/bold]")
