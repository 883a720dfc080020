"""``gridsim cyber export RUN_DIR`` end to end, in a child process: its table, its files, its exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grid.results.cyber_export import BUNDLE_FILE, OBJECTS_FILE, export_bundle
from tests.grid.results.cyber_run import campaign_objects, write_objects

_ROOT = Path(__file__).resolve().parents[3]


def _gridsim(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m grid ARGS`` from this checkout, wide enough that no line wraps; at most 60 s."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "grid", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.timeout(90)
def test_export_prints_objects_by_type_and_the_validator_verdict(tmp_path: Path) -> None:
    """Exit 0; the table counts each type; the validator finds no errors; the file is what the library
    writes for the same objects (same bytes in another process)."""
    write_objects(tmp_path / "run", campaign_objects())
    done = _gridsim("cyber", "export", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    rows = {
        cells[0]: cells[1]
        for line in done.stdout.splitlines()
        if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) == 2
    }
    assert rows["indicator"] == "4"
    assert rows["sighting"] == "2"
    assert rows["total"] == str(len(campaign_objects()))
    assert "stix2: parsed back" in done.stdout
    assert "stix2-validator: valid" in done.stdout
    written = (tmp_path / "run" / BUNDLE_FILE).read_bytes()
    write_objects(tmp_path / "again", campaign_objects())
    assert export_bundle(tmp_path / "again").path.read_bytes() == written


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "no such file"), ("[{", "not JSON"), ('"bundle"', "expected a JSON list")],
    ids=["missing", "not-json", "not-a-list"],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: str | None, problem: str) -> None:
    """A missing or broken objects file: exit 2, one line naming the file and the problem, no traceback."""
    if content is not None:
        (tmp_path / OBJECTS_FILE).write_text(content, encoding="utf-8")
    done = _gridsim("cyber", "export", str(tmp_path))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"CyberExportError: {tmp_path / OBJECTS_FILE}: ")
    assert problem in line
    assert not (tmp_path / BUNDLE_FILE).exists()


@pytest.mark.timeout(90)
def test_validator_errors_exit_1_and_are_listed(tmp_path: Path) -> None:
    """An object stix2 accepts but stix2-validator refuses (a bad language tag): the bundle is written,
    the error is printed, exit 1."""
    objects = campaign_objects()
    identity = next(o for o in objects if o["type"] == "identity")
    identity["lang"] = "xx-notalang"
    write_objects(tmp_path, objects)
    done = _gridsim("cyber", "export", str(tmp_path))
    assert done.returncode == 1, done.stderr
    assert "stix2-validator: 1 error," in done.stdout
    assert f"{identity['id']}: 'xx-notalang' is not a valid RFC 5646 language code" in done.stdout
    assert json.loads((tmp_path / BUNDLE_FILE).read_text(encoding="utf-8"))["type"] == "bundle"


_IMPORTS_OF_HELP = """
import sys
from grid.app.cli import main
try:
    main(["cyber", "export", "--help"])
except SystemExit:
    pass
print(" ".join(sorted(sys.modules)))
"""


def test_help_loads_neither_stix_nor_rich() -> None:
    """``gridsim cyber export --help`` describes the exit codes and imports no stix2, validator or rich."""
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTS_OF_HELP],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": str(_ROOT)},
        timeout=60,
        check=True,
    )
    assert "usage: gridsim cyber export" in done.stdout
    assert "Exit 0 when it is valid" in done.stdout
    modules = set(done.stdout.split("\n")[-2].split())
    assert not {m.split(".")[0] for m in modules} & {"stix2", "stix2validator", "rich", "grid.results"}
    assert "grid.results.cyber_export" not in modules
