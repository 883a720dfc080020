"""A real short run's folder, made once per module by ``gridsim run`` (its own Mosquitto, worker
processes, the run report built at its end), for the report tests to read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grid.world.scenario import load_scenario

# 30 simulated s at 5x: 6 wall s of play, far below what a loaded two-core machine allows.
_SHORT_S = 30.0
_SPEED = "5"
_RUN_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of a 30 s run of the default scenario (``gridsim run``, report included)."""
    base = tmp_path_factory.mktemp("report-run")
    scenario = base / "short.yaml"
    scenario.write_text(
        yaml.safe_dump({**load_scenario().to_dict(), "duration_s": _SHORT_S}), encoding="utf-8"
    )
    out = base / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[4])}
    done = subprocess.run(
        [sys.executable, "-m", "grid", "run", str(scenario), "--speed", _SPEED, "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=_RUN_TIMEOUT_S,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture
def run_copy(run_dir: Path, tmp_path: Path) -> Path:
    """A copy of the run's folder that a test may change."""
    return Path(shutil.copytree(run_dir, tmp_path / "run"))
