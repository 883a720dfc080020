"""Broken scenario and member-state files: one line per problem, naming the file, its line and field."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from grid.app.cli import main
from grid.bundled import bundled_dir
from grid.errors import RosterError, ScenarioError
from grid.world.roster import load_roster
from grid.world.scenario import load_scenario
from grid.world.yaml_text import MAX_YAML_BYTES

SCENARIO = """\
name: test
duration_s: 100
threats:
  - id: a
    speed_mps: 50
    altitude_m: 300
    path: [[44.0, 28.0], [44.1, 28.1]]
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SCENARIO.replace("speed_mps: 50", "speed_mps: -5"), "x.yaml:5: threats[0].speed_mps: "),
        (
            SCENARIO.replace("duration_s: 100", "duration_s: 2026-13-45"),
            "x.yaml: not valid YAML: month must be",
        ),
        (SCENARIO.replace("name: test", "name: te\x07st"), "x.yaml:1: not valid YAML: special characters"),
        (SCENARIO.replace("path: [[44.0", "path: [[[44.0"), "x.yaml:8: not valid YAML: expected"),
        (
            SCENARIO + "extra: " + "[" * 100_000 + "]" * 100_000 + "\n",
            "x.yaml:8: not valid YAML: nested more than 32",
        ),
        (SCENARIO + "deep:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 200)), "x.yaml:"),
    ],
    ids=["out-of-range", "bad-date", "control-char", "unclosed", "deep-flow", "deep-block"],
)
def test_a_broken_scenario_gets_one_line_per_problem(tmp_path: Path, text: str, expected: str) -> None:
    """Each problem of a broken scenario is one line: ``file[:line]: [field: ]problem``."""
    file = tmp_path / "x.yaml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(file)
    lines = str(caught.value).splitlines()
    assert lines[0].startswith(str(tmp_path / expected)), lines
    assert len(lines) == len(caught.value.problems)


def test_a_scenario_that_is_not_utf8_or_too_large_is_refused_before_parsing(tmp_path: Path) -> None:
    """Bytes that are not UTF-8, or a file over the size limit, are one-line errors too."""
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(SCENARIO.encode() + b"\xff\xfe\n")
    with pytest.raises(ScenarioError, match=r"bad\.yaml: cannot read: not UTF-8"):
        load_scenario(bad)
    big = tmp_path / "big.yaml"
    big.write_text(SCENARIO + "#" * MAX_YAML_BYTES + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=rf"big\.yaml: \d+ bytes; at most {MAX_YAML_BYTES}"):
        load_scenario(big)


def _roster_with(tmp_path: Path, ro_text: str) -> Path:
    folder = tmp_path / "nodes"
    shutil.copytree(bundled_dir("nodes"), folder)
    (folder / "RO.yaml").write_text(ro_text, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("range_m: 150000", "range_m: -1"), r"RO\.yaml:12: sensors\[0\]\.range_m: "),
        (("id: RO\n", "id: RO\nid: RO\n"), r"RO\.yaml:\d+: "),
        (("grids: [", "grids: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["), r"RO\.yaml:6: not valid YAML: nested"),
        (("pd: 0.92", "pd: 0.92\x00"), r"RO\.yaml:\d+: not valid YAML: special characters"),
    ],
    ids=["out-of-range", "duplicate-key", "deep", "nul"],
)
def test_a_broken_member_file_gets_one_line_per_problem(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    """A member-state file's problems are one line each, with the file and line (and field when known)."""
    text = (bundled_dir("nodes") / "RO.yaml").read_text(encoding="utf-8").replace(*change, 1)
    folder = _roster_with(tmp_path, text)
    with pytest.raises(RosterError) as caught:
        load_roster(folder)
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.problems)
    assert all(line.startswith(str(folder / "RO.yaml")) for line in lines), lines
    assert re.match(re.escape(f"{folder}/") + expected, lines[0]), lines


def test_the_cli_shows_a_broken_scenario_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``gridsim scenario validate`` prints each problem on its line, and no traceback."""
    file = tmp_path / "x.yaml"
    file.write_text(SCENARIO.replace("speed_mps: 50", "speed_mps: -5") + "x: " + "[" * 5000 + "\n", "utf-8")
    code = main(["scenario", "validate", str(file)])
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err
    assert f"{file}:8: not valid YAML: nested more than 32 levels" in " ".join(err.split())
