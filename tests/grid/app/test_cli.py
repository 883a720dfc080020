"""The command line: quick help, and every error a user meets gives its lines and a non-zero exit."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grid.app.cli import main
from grid.mqtt.address import free_port
from grid.mqtt.broker import BrokerInfo

GRIDSIM = [sys.executable, "-m", "grid.app.cli"]


def _children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["node", "--help"], ["fusion", "--help"]])
def test_help_says_what_it_does(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """``gridsim --help`` and each subcommand's help describe the command."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: gridsim" in out
    assert len(out.splitlines()) > 3


_HEAVY = ("numpy", "scipy", "aiomqtt", "pydantic", "rich", "grid.app.bench")

_IMPORTED_BY_HELP = """
import sys
from grid.app.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(" ".join(sorted(sys.modules)))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["run", "--help"],
        ["bench", "--help"],
        ["bench", "fusion", "--help"],
        ["bench", "codec", "--help"],
        ["scenario", "validate", "--help"],
        ["up", "--help"],
    ],
    ids=" ".join,
)
def test_help_imports_no_heavy_module(argv: list[str]) -> None:
    """Help loads none of numpy, scipy, aiomqtt, pydantic, rich or the benchmarks: it starts at once."""
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTED_BY_HELP, *argv], capture_output=True, text=True, check=True
    )
    assert "usage: gridsim" in done.stdout
    modules = set(done.stdout.split("\n")[-2].split())
    assert "grid.app.cli" in modules
    assert [m for m in modules if m.split(".")[0] in _HEAVY or m.startswith("grid.app.bench")] == []


def _one_line_error(capsys: pytest.CaptureFixture[str], code: int, expected_code: int, *words: str) -> str:
    err = capsys.readouterr().err
    assert code == expected_code, err
    assert "Traceback" not in err
    text = " ".join(err.split())
    for word in words:
        assert word in text, text
    return text


def test_missing_scenario_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A missing scenario file is named, exit code 2."""
    code = main(["run", str(tmp_path / "nope.yaml"), "--quiet"])
    _one_line_error(capsys, code, 2, "ScenarioError", "nope.yaml", "no such file")


def test_broken_scenario_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A scenario that breaks the schema names the file, line and field; nothing starts."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nduration_s: 60\nthreats:\n  - id: a\n    speed_mps: fast\n    altitude_m: 1\n"
        "    path: [[44, 29], [44.1, 29]]\n"
    )
    code = main(["run", str(bad), "--quiet"])
    _one_line_error(capsys, code, 2, "ScenarioError", "bad.yaml:5", "threats[0].speed_mps")


def test_every_scenario_problem_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Each problem of a scenario is printed on a line of its own, user text like ``[lat, lon]`` intact."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nduration_s: 60\nthreats:\n  - id: a\n    sped_mps: 5\n    altitude_m: 1\n"
        "    path: [[44, 29], somewhere]\n"
    )
    code = main(["run", str(bad), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if "bad.yaml:" in line]
    assert len(lines) == 2, err
    assert "bad.yaml:5: threats[0].sped_mps: unknown key 'sped_mps'; did you mean 'speed_mps'?" in lines[0]
    assert "bad.yaml:7: threats[0].path[1]: expected [lat, lon]" in lines[1]


def test_unreachable_broker(capsys: pytest.CaptureFixture[str]) -> None:
    """A broker URL nobody listens on gives BrokerUnavailable, exit code 1."""
    port = free_port()
    code = main(["run", "--broker", f"mqtt://127.0.0.1:{port}", "--quiet"])
    _one_line_error(capsys, code, 1, "BrokerUnavailable", str(port))


def test_bad_broker_url(capsys: pytest.CaptureFixture[str]) -> None:
    """A URL that is not mqtt:// is a configuration error."""
    code = main(["run", "--broker", "http://127.0.0.1:80", "--quiet"])
    _one_line_error(capsys, code, 2, "ConfigError")


def test_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    """Asking for a broker port that is taken names the port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["run", "--port", str(port), "--quiet"])
    _one_line_error(capsys, code, 1, "BrokerStartError", str(port), "in use")


def test_unknown_node_id(capsys: pytest.CaptureFixture[str]) -> None:
    """``gridsim node`` with an id not in the roster lists the known ids."""
    code = main(["node", "--id", "XX", "--broker", "mqtt://127.0.0.1:1883"])
    _one_line_error(capsys, code, 2, "UnknownNodeError", "'XX'", "RO", "BG")


def test_external_needs_broker(capsys: pytest.CaptureFixture[str]) -> None:
    """``--external`` without ``--broker`` is refused up front."""
    code = main(["run", "--external", "--quiet"])
    _one_line_error(capsys, code, 2, "ConfigError", "--broker")


@pytest.mark.broker
def test_ctrl_c_mid_run_leaves_nothing_behind(tmp_path: Path) -> None:
    """Ctrl-C during a run: one line, exit 130, and the broker process gridsim started is gone."""
    proc = subprocess.Popen(
        [*GRIDSIM, "run", "--speed", "1", "--out", str(tmp_path), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    deadline = time.monotonic() + 30
    children: list[int] = []
    while time.monotonic() < deadline and not children:
        time.sleep(0.2)
        children = _children(proc.pid)
    assert children, "gridsim started no broker process"
    time.sleep(3.0)  # nodes connected and the run under way
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert "Traceback" not in err
    assert not [pid for pid in children if _alive(pid)], "a broker process was left behind"


@pytest.mark.broker
def test_node_process_goes_offline_on_ctrl_c(mosquitto: BrokerInfo) -> None:
    """``gridsim node`` connects, says online, and on Ctrl-C stops cleanly with exit 130."""
    proc = subprocess.Popen(
        [*GRIDSIM, "node", "--id", "RO", "--broker", mosquitto.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    err_seen = ""
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        err_seen += line
        if "connected" in line:
            break
    assert "RO connected" in err_seen
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
