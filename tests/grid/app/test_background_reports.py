"""`gridsim up` builds each injected run's report in a child process, stopped with the grid."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grid.app.background_reports import BackgroundReports
from grid.app.inject import inject
from grid.mqtt.address import free_port
from grid.world.scenario import load_scenario
from tests.processes import alive, children

pytestmark = pytest.mark.timeout(300)


def _wait_done(reports: BackgroundReports, timeout_s: float) -> list[tuple[Path, str | None]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done := reports.done():
            return done
        time.sleep(0.05)
    raise AssertionError("no build ended")


def test_a_failed_build_says_why(tmp_path: Path) -> None:
    """A folder with no run in it: the build fails, and its last stderr line is the reason."""
    with BackgroundReports() as reports:
        reports.start(tmp_path)
        ((run_dir, error),) = _wait_done(reports, 120)
    assert run_dir == tmp_path
    assert error is not None
    assert "summary.json" in error, error


def test_leaving_stops_a_build_at_once(tmp_path: Path) -> None:
    """A build still running when the grid stops is terminated, not waited for, and reaped."""
    slow = [sys.executable, "-c", "import time; time.sleep(120)"]
    with BackgroundReports(command=lambda _: slow) as reports:
        reports.start(tmp_path)
        (proc,) = reports._running.values()
        assert proc.poll() is None
    assert proc.returncode == -signal.SIGTERM
    assert not alive(proc.pid)


def test_up_writes_each_injected_runs_report(tmp_path: Path, started: list[subprocess.Popen[str]]) -> None:
    """A real `gridsim up` on its own Mosquitto: an injected run's report.html appears beside its
    summary; SIGTERM then stops the grid with nothing left running."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "grid",
            "up",
            "--port",
            str(port),
            "--workers",
            "0",
            "--out",
            str(tmp_path),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started.append(proc)
    assert proc.stderr is not None
    while "grid up on" not in (line := proc.stderr.readline()):
        assert line, f"up exited ({proc.wait()}): {proc.communicate()}"
    scenario = load_scenario().model_copy(update={"duration_s": 30.0})
    summary = asyncio.run(inject(scenario, broker_url=f"mqtt://127.0.0.1:{port}", speed=10.0, wait=True))
    assert summary is not None
    report = tmp_path / str(summary["run_id"]) / "report.html"
    deadline = time.monotonic() + 180
    while not report.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert report.is_file(), sorted(p.name for p in report.parent.iterdir())
    spawned = children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 143
    counts = json.loads(out.strip().splitlines()[-1])
    assert counts["runs"][0]["report"] == str(report)
    assert not [pid for pid in spawned if alive(pid)], "a child process was left behind"
