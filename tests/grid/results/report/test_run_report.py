"""The run report, from a real short run's folder: its data files, the page and its PNGs, the
``gridsim report`` command and its one-line error for a folder that lacks a file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grid.app.parser import build_parser
from grid.errors import RunDataError
from grid.results.report import REPORT_FILE, build_report
from grid.results.report.data import load_run
from grid.results.run_data import DATA_FILES, TRACKS_FILE, read_json, read_jsonl

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[4]), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "grid", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_run_writes_versioned_data_files(run_dir: Path) -> None:
    """The run wrote every data file with its format and version; they hold what the summary counts."""
    summary = json.loads((run_dir / "summary.json").read_text())
    for name in DATA_FILES:
        assert (run_dir / name).is_file(), name
    _, truth = read_jsonl(run_dir / "truth.jsonl", "truth")
    assert {row["threat"] for row in truth} == {t["id"] for t in summary["threats"]}
    _, tracks = read_jsonl(run_dir / TRACKS_FILE, "tracks")
    assert len(tracks) == summary["air_picture"]["published"], "every fused track the grid received"
    assert all(len(row["cov"]) == 16 for row in tracks)
    latency = read_json(run_dir / "latency.json", "latency")
    assert sum(len(v) for v in latency["by_node"].values()) == summary["latency_ms"]["count"]
    sites = read_json(run_dir / "sites.json", "sites")
    assert len(sites["members"]) == summary["nodes"]["count"]
    assert any(s["orbit"] for m in sites["members"] for s in m["sensors"]), "the AEW orbit"


def test_run_builds_the_report(run_dir: Path) -> None:
    """``gridsim run`` ends by building report.html and notes the build in summary.json."""
    summary = json.loads((run_dir / "summary.json").read_text())
    report = summary["report"]
    assert report["files"][0] == REPORT_FILE
    assert report["build_s"] > 0
    for name in report["files"]:
        assert (run_dir / name).is_file(), name


def test_report_page_is_self_contained(run_copy: Path) -> None:
    """The page shows every figure by a relative path to a real PNG and names no address at all."""
    info = build_report(run_copy)
    page = (run_copy / REPORT_FILE).read_text(encoding="utf-8")
    assert "http" not in page.lower()
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sources == [name for name in info.files if name.endswith(".png")]
    assert {"report-map.png", "report-engagement.png", "report-error.png", "report-latency.png"} <= set(
        sources
    )
    assert {"report-awareness.png", "report-messages.png"} <= set(sources)
    for name in sources:
        assert "/" not in name
        assert (run_copy / name).read_bytes()[:8] == _PNG_MAGIC
    assert "report built in" in page
    assert json.loads((run_copy / "summary.json").read_text())["report"]["files"] == list(info.files)


def test_report_loads_tracks_and_truth(run_copy: Path) -> None:
    """The loader pairs the located threat's track with its truth, covariance matrices included."""
    data = load_run(run_copy)
    summary = data.summary
    (threat,) = summary["threats"]
    track = data.tracks[threat["located_by_track"]]
    assert track.cov.shape == (len(track.t), 4, 4)
    assert (track.cov[:, 0, 0] > 0).all()
    assert threat["id"] in data.truth
    assert data.locate_radius_m == summary["locate_radius_m"]


def test_report_command(run_copy: Path) -> None:
    """``gridsim report RUN_DIR`` builds the page and says where it is."""
    (run_copy / REPORT_FILE).unlink()
    done = _cli("report", str(run_copy))
    assert done.returncode == 0, done.stderr
    assert "report written to" in done.stdout
    assert (run_copy / REPORT_FILE).is_file()


def test_missing_file_is_one_line_naming_it(run_copy: Path) -> None:
    """``gridsim report`` on a folder without tracks.jsonl fails with one line naming it, no traceback."""
    (run_copy / TRACKS_FILE).unlink()
    done = _cli("report", str(run_copy))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("RunDataError: ")
    assert TRACKS_FILE in lines[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("name", [*DATA_FILES, "summary.json"])
def test_every_missing_file_is_named(run_copy: Path, name: str) -> None:
    """Without any one of the files the report names that file."""
    (run_copy / name).unlink()
    with pytest.raises(RunDataError, match=re.escape(name)):
        build_report(run_copy)


def test_other_format_version_is_refused(run_copy: Path) -> None:
    """A data file of another version is refused by name, not misread."""
    path = run_copy / TRACKS_FILE
    lines = path.read_text().splitlines()
    lines[0] = json.dumps({"format": "gridsim-tracks", "version": 99})
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RunDataError, match="version 99"):
        build_report(run_copy)


def test_no_report_flag() -> None:
    """``gridsim run --no-report`` is understood (the run then writes the data files only)."""
    args = build_parser().parse_args(["run", "--no-report"])
    assert args.no_report is True
    assert build_parser().parse_args(["run"]).no_report is False


def test_cyber_indicators_are_shown_defanged(run_copy: Path) -> None:
    """A run whose hub shared indicators gets their table and a time-to-warning figure; the URLs
    they quote are defanged, so the page still names no address."""
    path = run_copy / "summary.json"
    summary = json.loads(path.read_text())
    summary["cyber"]["indicators"] = [
        {
            "key": "url--1",
            "pattern": "[url:value = 'HTTPS://constanta-port-logistics.example.com/invoice']",
            "observed_by": ["RO", "BG"],
            "sightings": 2,
            "time_to_flag_s": 6.5,
            "time_to_mitigate_s": 7.6,
        }
    ]
    summary["cyber"]["time_to_warning_s"] = {"RO": 5.2, "BG": 5.3, "TR": None}
    path.write_text(json.dumps(summary))
    info = build_report(run_copy)
    assert "report-cyber.png" in info.files
    page = (run_copy / REPORT_FILE).read_text(encoding="utf-8")
    assert "http" not in page.lower()
    assert "hxxps://constanta-port-logistics.example.com/invoice" in page
