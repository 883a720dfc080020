"""The report's charts: position error, latency CDFs, awareness, message counts, cyber warnings;
and :func:`draw_all`, every figure (the maps are :mod:`grid.results.report.maps`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from grid.results.report.data import ReportData
from grid.results.report.maps import (
    SIGMA,
    draw_engagement,
    draw_map,
    pyplot,
    save,
    threat_colour,
    track_threat,
)

__all__ = ["FIGURES", "draw_all"]

_AWARENESS_BARS_MAX = 3  # more threats: a grid of cells, not bars
FIGURES = ("map", "engagement", "error", "latency", "awareness", "messages", "cyber")


def draw_error(data: ReportData, out: Path) -> Path:
    """Each threat's fused position error over time, against the locate radius."""
    plt = pyplot()
    owner = track_threat(data)
    fig, ax = plt.subplots(figsize=(9, 4.2))
    for k, (threat_id, path) in enumerate(data.truth.items()):
        for track in data.tracks.values():
            if owner.get(track.track_id) != threat_id:
                continue
            east, north = path.at(track.t)
            error = np.hypot(track.east - east, track.north - north)
            sigma = np.sqrt(np.clip(track.cov[:, 0, 0] + track.cov[:, 1, 1], 0.0, None))
            colour = threat_colour(k)
            ax.plot(track.t, error, color=colour, lw=1.2, label=f"{threat_id} ({track.track_id})")
            ax.plot(track.t, sigma, color=colour, lw=0.8, ls=":", alpha=0.8)
    for threat in data.summary.get("threats", []):
        if threat.get("time_to_locate_s") is not None:
            located = data.threat_start_s(str(threat["id"])) + float(threat["time_to_locate_s"])
            ax.axvline(located, color="gold", lw=1.0)
    ax.axhline(
        data.locate_radius_m,
        color="red",
        ls="--",
        lw=1.0,
        label=f"locate radius {data.locate_radius_m:.0f} m",
    )
    ax.set_yscale("log")
    ax.set_xlabel("simulation time (s)")
    ax.set_ylabel("horizontal error (m)")
    ax.set_title(f"fused position error (solid) and its 1{SIGMA} (dotted); gold: located")
    from matplotlib.ticker import NullFormatter

    ax.yaxis.set_minor_formatter(NullFormatter())  # log-scale minor labels crowd the axis
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=3)
    return save(fig, out)


def draw_latency(data: ReportData, out: Path) -> Path:
    """The CDF of report latency at the fusion centre, one line per publishing node."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    cmap = plt.get_cmap("tab20")
    for k, (node, samples) in enumerate(sorted(data.latency_ms.items())):
        if not samples.size:
            continue
        xs = np.sort(np.clip(samples, 1e-3, None))
        ax.step(
            xs,
            np.arange(1, xs.size + 1) / xs.size,
            where="post",
            color=cmap(k % 20),
            lw=1.1,
            label=f"{node} (n={xs.size})",
        )
    ax.set_xscale("log")
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("publish to fusion centre (ms, wall clock)")
    ax.set_ylabel("fraction of reports")
    ax.set_title("report latency per node")
    ax.grid(True, which="both", alpha=0.3)
    if any(samples.size for samples in data.latency_ms.values()):  # else matplotlib warns of an empty legend
        ax.legend(fontsize=7, ncol=2, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save(fig, out)


def draw_awareness(data: ReportData, out: Path) -> Path:
    """Time to awareness per member state and threat; bars coloured by how it learned."""
    plt = pyplot()
    awareness: dict[str, dict[str, Any]] = data.summary.get("awareness") or {}
    members = sorted(awareness)
    threats = sorted({t for entry in awareness.values() for t in entry})
    if len(threats) > _AWARENESS_BARS_MAX:
        return _awareness_grid(data, awareness, members, threats, out)
    fig, ax = plt.subplots(figsize=(9, 0.35 * max(1, len(members)) * max(1, min(len(threats), 3)) + 1.2))
    height = 0.8 / max(1, len(threats))
    colours = {"own_sensor": "#2ca02c", "grid_report": "#1f77b4"}
    for j, threat in enumerate(threats):
        for i, member in enumerate(members):
            entry = awareness[member].get(threat) or {}
            value = entry.get("time_to_awareness_s")
            y = i + (j - (len(threats) - 1) / 2) * height
            if value is None:
                ax.text(0, y, " never", va="center", fontsize=6, color="red")
                continue
            ax.barh(y, value, height=height * 0.9, color=colours.get(str(entry.get("source")), "#7f7f7f"))
    ax.set_yticks(range(len(members)), [f"{m} {data.member_names.get(m, '')}" for m in members], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("simulation s after the threat took off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    ax.legend(handles, ["own sensor", "grid report"], fontsize=7, loc="lower right")
    ax.set_title(f"time to awareness per member state ({len(threats)} threat(s), one bar each)")
    ax.grid(True, axis="x", alpha=0.3)
    return save(fig, out)


def _awareness_grid(
    data: ReportData, awareness: dict[str, dict[str, Any]], members: list[str], threats: list[str], out: Path
) -> Path:
    """Many threats: one cell per member state and threat, its time in it ("o": own sensor)."""
    plt = pyplot()
    values = np.full((len(members), len(threats)), np.nan)
    for i, member in enumerate(members):
        for j, threat in enumerate(threats):
            value = (awareness[member].get(threat) or {}).get("time_to_awareness_s")
            values[i, j] = np.nan if value is None else float(value)
    fig, ax = plt.subplots(figsize=(min(16, 2.5 + 0.7 * len(threats)), 0.4 * len(members) + 1.8))
    image = ax.imshow(values, cmap="YlOrRd", aspect="auto")
    for i, member in enumerate(members):
        for j, threat in enumerate(threats):
            entry = awareness[member].get(threat) or {}
            text = "never" if np.isnan(values[i, j]) else f"{values[i, j]:.2f}"
            own = " o" if entry.get("source") == "own_sensor" else ""
            ax.text(j, i, text + own, ha="center", va="center", fontsize=6, color="black")
    ax.set_xticks(range(len(threats)), threats, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(members)), [f"{m} {data.member_names.get(m, '')}" for m in members], fontsize=7)
    fig.colorbar(image, ax=ax, label="simulation s after the threat took off")
    ax.set_title("time to awareness per member state and threat (o: from its own sensor)")
    return save(fig, out)


def draw_messages(data: ReportData, out: Path) -> Path:
    """Reports each node published and received, and fused tracks it received."""
    plt = pyplot()
    per_node: dict[str, dict[str, int]] = data.summary.get("per_node") or {}
    nodes = sorted(per_node)
    keys = [
        ("published", "reports published"),
        ("received_reports", "reports received"),
        ("received_tracks", "fused tracks received"),
    ]
    fig, ax = plt.subplots(figsize=(9, 4))
    x = np.arange(len(nodes))
    for k, (key, label) in enumerate(keys):
        ax.bar(x + (k - 1) * 0.27, [per_node[n].get(key, 0) for n in nodes], width=0.27, label=label)
    ax.set_xticks(x, nodes, fontsize=8)
    ax.set_ylabel("messages")
    ax.set_title("message counts per member node")
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)
    return save(fig, out)


def draw_cyber(data: ReportData, out: Path) -> Path | None:
    """Each member state's time to warning from the cyber hub; None for a run without indicators."""
    cyber = data.summary.get("cyber") or {}
    if not cyber.get("indicators"):
        return None
    warned = {m: v for m, v in (cyber.get("time_to_warning_s") or {}).items() if v is not None}
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.6))
    members = sorted(warned)
    ax.bar(members, [warned[m] for m in members], color="#d62728")
    ax.set_ylabel("simulation s")
    ax.set_title(f"time to warning per member state ({len(cyber['indicators'])} indicator(s) shared)")
    ax.grid(True, axis="y", alpha=0.3)
    return save(fig, out)


def draw_all(data: ReportData, out_dir: Path) -> dict[str, Path]:
    """Every figure that has something to show, as ``{name: path}`` (``report-<name>.png``)."""
    drawers = {
        "map": draw_map,
        "engagement": draw_engagement,
        "error": draw_error,
        "latency": draw_latency,
        "awareness": draw_awareness,
        "messages": draw_messages,
        "cyber": draw_cyber,
    }
    drawn = {}
    for name, draw in drawers.items():
        path = draw(data, out_dir / f"report-{name}.png")
        if path is not None:
            drawn[name] = path
    return drawn
