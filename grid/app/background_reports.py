"""Run reports built beside a live grid: ``gridsim up`` writes each injected run's report.

Each build is a child process (``python -m grid report DIR --quiet``), so the grid's event loop
never waits on matplotlib and a stop signal ends a build at once instead of after it: leaving the
context terminates every build still running (the run's ``summary.json`` is already written, and
``gridsim report DIR`` builds the report again).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = ["BackgroundReports"]

_TERMINATE_WAIT_S = 5.0


def report_command(run_dir: Path) -> list[str]:
    """The child that builds one run's report, quietly (its error, if any, on stderr)."""
    return [sys.executable, "-m", "grid", "report", str(run_dir), "--quiet"]


@dataclass
class BackgroundReports:
    """Start report builds; collect what they made; at exit, stop what is still building."""

    command: Callable[[Path], list[str]] = report_command
    _running: dict[Path, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, run_dir: Path) -> None:
        """Build ``run_dir/report.html`` in a child process."""
        self._running[run_dir] = subprocess.Popen(
            self.command(run_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def done(self) -> list[tuple[Path, str | None]]:
        """Builds ended since the last call: each run folder and its error (None: built)."""
        ended = [(d, p) for d, p in self._running.items() if p.poll() is not None]
        out: list[tuple[Path, str | None]] = []
        for run_dir, proc in ended:
            del self._running[run_dir]
            lines = proc.stderr.read().decode(errors="replace").strip().splitlines() if proc.stderr else []
            if proc.stderr:
                proc.stderr.close()
            error = None if proc.returncode == 0 else (lines[-1] if lines else f"exit {proc.returncode}")
            out.append((run_dir, error))
        return out

    def __enter__(self) -> BackgroundReports:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for proc in self._running.values():
            proc.terminate()
        for proc in self._running.values():
            try:
                proc.wait(_TERMINATE_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr:
                proc.stderr.close()
        self._running.clear()
