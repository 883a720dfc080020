"""``scripts/fuzz --engine atheris``: the grid package instrumented, the outcome table at the end or at
SIGTERM, crashes saved once per cause, and crash inputs minimised.

The runs are real processes of a few thousand inputs; no verdict depends on how fast they went.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from grid.wire import topics
from tests.fuzz.feed import FuzzReport, record_crash
from tests.fuzz.libfuzzer import grid_functions
from tests.fuzz.minimize import minimize
from tests.fuzz.targets import Target, repo_root

pytest.importorskip("atheris")


def _fuzz(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fuzz.run", "--engine", "atheris", "--crashes", str(tmp_path), *args],
        cwd=repo_root(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_only_the_grid_package_is_instrumented() -> None:
    """The functions to instrument are grid's own (the topic parser among them), not all 22,000."""
    functions = grid_functions()
    assert all(f.__module__.partition(".")[0] == "grid" for f in functions)
    assert topics.parse_topic.__wrapped__ in functions  # under its lru_cache
    assert 100 < len(functions) < 5_000


@pytest.mark.timeout(600)
def test_a_run_is_coverage_guided_and_ends_with_the_table(tmp_path: Path) -> None:
    """libFuzzer reports coverage (``cov:``), and the table and the JSON figures come at its last run."""
    figures = tmp_path / "figures.json"
    proc = _fuzz(tmp_path, "--count", "1500", "--target", "wire", "--target", "topic", "--json", str(figures))
    out, err = proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    assert " cov: " in err
    assert "DONE" in err
    assert "inputs tried: " in out
    assert "  wire: " in out
    result = json.loads(figures.read_text())
    assert result["inputs"] >= 1_400  # -runs counts every execution; the empty input is not fed
    assert result["instrumented_functions"] > 100
    assert result["crashes"] == 0


@pytest.mark.timeout(600)
def test_sigterm_ends_the_run_with_the_figures_so_far(tmp_path: Path) -> None:
    """SIGTERM, once libFuzzer runs: the table of what was tried, the JSON, exit 0 (nothing crashed)."""
    figures = tmp_path / "figures.json"
    proc = _fuzz(tmp_path, "--count", "100000000", "--target", "wire", "--json", str(figures))
    assert proc.stderr is not None
    for line in proc.stderr:
        if "INITED" in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert "interrupted: the figures so far" in out
    assert json.loads(figures.read_text())["inputs"] > 0


class _Bang(Target):
    """Crashes on any input holding ``!``, from one line, whatever else the input holds."""

    name = "bang"

    def feed(self, data: bytes) -> str:
        if b"!" in data:
            raise KeyError("bang")
        return "accepted"


def test_a_crash_is_saved_once_per_cause_and_counted_every_time(tmp_path: Path) -> None:
    """Two inputs of one bug: one file, two crash inputs."""
    report = FuzzReport()
    target = _Bang([b"x"])
    for data in (b"a!", b"b!"):
        try:
            target.feed(data)
        except KeyError as exc:
            record_crash(report, tmp_path, "bang", data, exc)
    assert len(report.crashes) == 1
    assert report.as_dict()["crash_inputs"] == 2
    assert len(list(tmp_path.glob("bang-*.bin"))) == 1


def test_minimising_keeps_only_what_the_crash_needs() -> None:
    """A long input crashing on one byte shrinks to that byte."""
    rng = random.Random(3)
    data = bytes(rng.choice(b"abcdef") for _ in range(300)) + b"!" + b"z" * 200
    assert minimize(_Bang([b"x"]), data) == b"!"


def test_minimising_refuses_an_input_that_does_not_crash() -> None:
    """Nothing to minimise is an error, not a silent empty file."""
    with pytest.raises(ValueError, match="does not crash"):
        minimize(_Bang([b"x"]), b"fine")
