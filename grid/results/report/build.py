"""Build ``RUN_DIR/report.html`` and its PNGs, and note the build in ``summary.json``."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from grid.results.report.data import SUMMARY_FILE, load_run
from grid.results.report.figures import draw_all
from grid.results.report.page import render_page

__all__ = ["REPORT_FILE", "ReportInfo", "build_report"]

REPORT_FILE = "report.html"


@dataclass(frozen=True)
class ReportInfo:
    """What a build wrote and how long it took (wall s, loading the run folder included)."""

    path: Path
    files: tuple[str, ...]  # report.html first, then the PNGs, names relative to the run folder
    build_s: float

    def as_dict(self) -> dict[str, object]:
        """The ``summary["report"]`` entry."""
        return {"build_s": round(self.build_s, 3), "files": list(self.files)}


def build_report(run_dir: Path) -> ReportInfo:
    """Write ``run_dir/report.html`` and its images; record ``{"build_s", "files"}`` under
    ``"report"`` in ``run_dir/summary.json``.

    Raises:
        RunDataError: a file the report reads is missing or bad (the message names it).
    """
    began = time.perf_counter()
    data = load_run(run_dir)
    images = draw_all(data, run_dir)
    page = run_dir / REPORT_FILE
    _replace(page, render_page(data, images, build_s=time.perf_counter() - began))
    info = ReportInfo(
        path=page,
        files=(REPORT_FILE, *(p.name for p in images.values())),
        build_s=time.perf_counter() - began,
    )
    summary = {**data.summary, "report": info.as_dict()}
    _replace(run_dir / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    return info


def _replace(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a build stopped by a signal (``gridsim up`` stopping while
    one runs) leaves the run's summary intact and no half page."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
