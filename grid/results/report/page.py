"""``report.html``: one self-contained page that opens from disk.

Inline CSS, images by relative ``src``, and no address of any kind: text from the run (indicator
patterns quote the URLs a phishing campaign used) is escaped and defanged (``hxxp``), so the page
links nowhere and a browser fetches nothing but the PNGs beside it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from grid.results.report.data import ReportData

__all__ = ["render_page"]

_CSS = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ccc; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
th { background: #f0f0f0; } td.l, th.l { text-align: left; }
img { max-width: 100%; display: block; margin: 0.5em 0; border: 1px solid #ddd; }
.meta { color: #666; font-size: 0.85em; } code { font-size: 0.9em; }
"""
_FANGED = re.compile(r"(?i)h(tt)(ps?)")

_CAPTIONS = {
    "map": (
        "Theatre",
        "Land and borders (Natural Earth 1:50m, vendored). Each sensor site with its coverage: radar "
        "range (solid), RF direction-finder range (dashed), acoustic range (dotted), the AEW orbit "
        "(solid purple) and its radar's reach from the orbit (dash-dot). Threat paths in colour.",
    ),
    "engagement": (
        "Tracks",
        "Each threat's true path (solid), the fused tracks the grid received (dashed) with "
        "2\N{GREEK SMALL LETTER SIGMA} "
        "position ellipses from their covariance, and the point where the threat was located (star).",
    ),
    "error": ("Position error", "Distance from each fused track to its threat's true position."),
    "latency": ("Latency", "Wall-clock delay of every report from its publish to the fusion centre."),
    "awareness": ("Time to awareness", "When each member state first learned of each threat."),
    "messages": ("Message counts", "Per member node, from its final account."),
    "cyber": ("Cyber exchange", "When the cyber hub's warning reached each member state."),
}


def _text(value: Any) -> str:
    """Escaped for HTML and defanged: no ``http`` survives into the page."""
    return _FANGED.sub(lambda m: f"hxx{m.group(2).lower()}", html.escape(str(value)))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return _text(value)


def _table(headers: Iterable[str], rows: Iterable[Iterable[Any]], left: int = 1) -> str:
    head = "".join(f'<th class="{"l" if i < left else ""}">{_text(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"l" if i < left else ""}">{_fmt(v)}</td>' for i, v in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _threats(summary: Mapping[str, Any]) -> str:
    keys = [
        ("id", "threat"),
        ("detected", "detected"),
        ("time_to_first_detection_s", "first detection s"),
        ("time_to_first_track_s", "first track s"),
        ("time_to_locate_s", "located s"),
        ("located_by_track", "by track"),
        ("rmse_m", "RMSE m"),
        ("pcrlb_rmse_m", "PCRLB m"),
        ("id_switches", "id switches"),
        ("track_ids", "tracks"),
    ]
    rows = [[t.get(k) for k, _ in keys] for t in summary.get("threats", [])]
    return _table([label for _, label in keys], rows)


def _messages(summary: Mapping[str, Any]) -> str:
    messages = summary.get("messages") or {}
    latency = summary.get("latency_ms") or {}
    rows = [
        [k.replace("_", " "), v if not isinstance(v, dict) else sum(v.values())] for k, v in messages.items()
    ]
    rows += [[f"latency {k} ms", v] for k, v in latency.items() if k in ("p50", "p95", "p99", "max")]
    return _table(["figure", "value"], rows)


def _indicators(summary: Mapping[str, Any]) -> str:
    indicators = (summary.get("cyber") or {}).get("indicators") or []
    if not indicators:
        return "<p>No indicators were shared in this run.</p>"
    rows = [
        [
            i.get("pattern"),
            i.get("observed_by"),
            i.get("sightings"),
            i.get("time_to_flag_s"),
            i.get("time_to_mitigate_s"),
        ]
        for i in indicators
    ]
    return _table(["pattern (defanged)", "observed by", "sightings", "flagged s", "mitigated s"], rows)


def render_page(data: ReportData, images: Mapping[str, Path], *, build_s: float) -> str:
    """The page for ``data``, showing ``images`` (paths beside the page), built in ``build_s``."""
    summary = data.summary
    sections = []
    for name, path in images.items():
        title, caption = _CAPTIONS.get(name, (name, ""))
        sections.append(
            f"<h2>{_text(title)}</h2><p>{_text(caption)}</p>"
            f'<img src="{_text(path.name)}" alt="{_text(title)}">'
        )
        if name == "messages":
            sections.append(_messages(summary))
        if name == "cyber":
            sections.append(_indicators(summary))
    meta = (
        f"run {_text(summary.get('run_id', ''))} · seed {_fmt(summary.get('seed'))} · speed "
        f"{_fmt(summary.get('speed'))}x · wall {_fmt(summary.get('wall_time_s'))} s · gridsim "
        f"{_text(summary.get('gridsim_version', ''))} · started {_text(summary.get('started_at', ''))}"
    )
    warnings = "".join(f"<li>{_text(w)}</li>" for w in summary.get("warnings") or [])
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>gridsim report: {_text(summary.get('scenario', ''))}</title>"
        f"<style>{_CSS}</style></head><body>"
        f'<h1>{_text(summary.get("scenario", "run"))}</h1><p class="meta">{meta}</p>'
        + (f"<ul>{warnings}</ul>" if warnings else "")
        + "<h2>Threats</h2>"
        + _threats(summary)
        + "".join(sections)
        + f'<p class="meta">report built in {build_s:.2f} s from {_text(data.run_dir.name)}/ '
        "(summary.json, truth.jsonl, tracks.jsonl, latency.json, sites.json)</p>"
        "</body></html>\n"
    )
