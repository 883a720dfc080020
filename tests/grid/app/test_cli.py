"""The command line: quick help, and every error a user meets gives its lines and a non-zero exit."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from grid.app.cli import main
from grid.app.parser import ANALYSIS_HELP_DEFAULT, TRACK_INTERVAL_HELP_DEFAULT
from grid.mqtt.address import free_port
from grid.mqtt.broker import BrokerInfo
from grid.mqtt.session import Session
from grid.participants.air_picture import DEFAULT_TRACK_INTERVAL_S
from grid.participants.jcc import DEFAULT_ANALYSIS_S
from grid.wire import topics
from grid.wire.messages import Envelope, RunAction, RunControl
from tests.processes import alive, children

if TYPE_CHECKING:
    from tests.conftest import GridsimProcesses


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["run", "--help"],
        ["node", "--help"],
        ["fusion", "--help"],
        ["hub", "--help"],
        ["cot", "--help"],
    ],
)
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
from grid.app.parser import ANALYSIS_HELP_DEFAULT, TRACK_INTERVAL_HELP_DEFAULT
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
        ["bench", "latency", "--help"],
        ["bench", "scale", "--help"],
        ["scenario", "validate", "--help"],
        ["up", "--help"],
        ["cot", "--help"],
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


def test_unwritable_output_folder_is_refused_before_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An --out that cannot be written is a ConfigError at once, not a traceback after the run."""
    taken = tmp_path / "file"
    taken.write_text("not a folder")
    code = main(["run", "--quiet", "--out", str(taken / "run")])
    _one_line_error(capsys, code, 2, "ConfigError", "cannot write to", "GRID_UID")
    code = main(["up", "--out", str(taken)])
    _one_line_error(capsys, code, 2, "ConfigError", "cannot write to")


def test_unreachable_broker(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A broker URL nobody listens on gives BrokerUnavailable, exit code 1, and leaves no empty
    run folder behind; a folder that was there before stays."""
    port = free_port()
    out = tmp_path / "runs" / "r1"
    code = main(["run", "--broker", f"mqtt://127.0.0.1:{port}", "--quiet", "--out", str(out)])
    _one_line_error(capsys, code, 1, "BrokerUnavailable", str(port))
    assert not out.exists()
    out.mkdir()
    code = main(["run", "--broker", f"mqtt://127.0.0.1:{port}", "--quiet", "--out", str(out)])
    _one_line_error(capsys, code, 1, "BrokerUnavailable", str(port))
    assert out.is_dir()


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


@pytest.mark.parametrize(
    "command", [["run", "--quiet"], ["up"], ["fusion", "--broker", "mqtt://127.0.0.1:1"]]
)
def test_negative_track_interval(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """``--track-interval`` below 0 is refused before anything starts, by every command that takes it."""
    code = main([*command, "--track-interval", "-1"])
    _one_line_error(capsys, code, 2, "ConfigError", "--track-interval must be", ">= 0, got -1")


def test_track_interval_with_external_fusion(capsys: pytest.CaptureFixture[str]) -> None:
    """With ``--external`` the fusion centre is another process: the interval belongs to `gridsim fusion`."""
    code = main(["run", "--external", "--broker", "mqtt://127.0.0.1:1", "--track-interval", "2", "--quiet"])
    _one_line_error(capsys, code, 2, "ConfigError", "gridsim fusion")


def test_track_interval_help_gives_the_centres_default(capsys: pytest.CaptureFixture[str]) -> None:
    """The parser (which must not import the fusion code) states the fusion centre's own default."""
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert TRACK_INTERVAL_HELP_DEFAULT == DEFAULT_TRACK_INTERVAL_S
    assert f"default {DEFAULT_TRACK_INTERVAL_S:g})" in " ".join(capsys.readouterr().out.split())


def _follow(proc: subprocess.Popen[str], condition: Callable[[], bool], what: str) -> None:
    """Wait until ``condition()`` holds while ``proc`` runs; fail with its stderr if it exits first.

    No deadline of its own: the wait follows the process, and the test's timeout bounds it.
    """
    while not condition():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"gridsim exited with {proc.returncode} before {what}: {err}")
        time.sleep(0.1)


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def _run_announced(port: int) -> None:
    """Return once the retained control topic on the broker at ``port`` says a run has started."""
    async with Session(host="127.0.0.1", port=port, client_id="test-cli-watch") as session:
        await session.subscribe(topics.CONTROL)
        async for received in session.messages():
            body = Envelope.from_bytes(received.payload).body
            if isinstance(body, RunControl) and body.action is RunAction.START:
                return


@pytest.mark.broker
@pytest.mark.timeout(180)
def test_ctrl_c_mid_run_leaves_nothing_behind(tmp_path: Path, gridsim: GridsimProcesses) -> None:
    """Ctrl-C during a run: one line, exit 130, and the broker process gridsim started is gone."""
    port = free_port()
    proc = gridsim.start(
        "run",
        *("--speed", "1", "--port", str(port), "--out", str(tmp_path), "--quiet"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    _follow(proc, lambda: bool(children(proc.pid)), "starting its broker")
    spawned = children(proc.pid)
    _follow(proc, lambda: _accepts(port), "its broker accepted connections")
    asyncio.run(_run_announced(port))  # every node and the fusion centre online, the run under way
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert "Traceback" not in err
    assert not [pid for pid in spawned if alive(pid)], "a broker process was left behind"


@pytest.mark.broker
@pytest.mark.timeout(120)
def test_node_process_goes_offline_on_ctrl_c(mosquitto: BrokerInfo, gridsim: GridsimProcesses) -> None:
    """``gridsim node`` connects, says online, and on Ctrl-C stops cleanly with exit 130."""
    proc = gridsim.start(
        "node",
        "--id",
        "RO",
        "--broker",
        mosquitto.url,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    err_seen = ""
    # Follows the process: reads its log until it says it connected, or until it exits (EOF).
    while "connected" not in err_seen and (line := proc.stderr.readline()):
        err_seen += line
    assert "RO connected" in err_seen
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err


@pytest.mark.broker
@pytest.mark.timeout(120)
def test_child_started_with_sigint_ignored_still_stops(
    mosquitto: BrokerInfo, gridsim: GridsimProcesses
) -> None:
    """A gridsim child whose parent ignores SIGINT (a job started with `&`) still stops on Ctrl-C."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc = gridsim.start(
            "node",
            "--id",
            "RO",
            "--broker",
            mosquitto.url,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    assert proc.stderr is not None
    err_seen = ""
    while "connected" not in err_seen and (line := proc.stderr.readline()):
        err_seen += line
    assert "RO connected" in err_seen
    (code,) = gridsim.stop(proc)
    assert code == 130, "the child stopped on Ctrl-C, not by the kill after the grace"


@pytest.mark.parametrize("command", [["run", "--quiet"], ["up"], ["hub", "--broker", "mqtt://127.0.0.1:1"]])
def test_bad_taxii_url(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """A ``--taxii`` URL that names no TAXII collection is refused before anything starts."""
    code = main([*command, "--taxii", "http://127.0.0.1:1/no-collection"])
    _one_line_error(capsys, code, 2, "ConfigError", "TAXII URL")


def test_taxii_with_external_hub(capsys: pytest.CaptureFixture[str]) -> None:
    """With ``--external`` the hub is another process: the TAXII URL belongs to `gridsim hub`."""
    url = "http://127.0.0.1:1/api/collections/feed/"
    code = main(["run", "--external", "--broker", "mqtt://127.0.0.1:1", "--taxii", url, "--quiet"])
    _one_line_error(capsys, code, 2, "ConfigError", "gridsim hub")


@pytest.mark.parametrize("command", [["run", "--quiet"], ["up"], ["hub", "--broker", "mqtt://127.0.0.1:1"]])
@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_bad_analysis_delay(command: list[str], value: str, capsys: pytest.CaptureFixture[str]) -> None:
    """An ``--analysis`` delay that is not a finite number of seconds >= 0 is refused up front."""
    code = main([*command, "--analysis", value])
    _one_line_error(capsys, code, 2, "ConfigError", "--analysis")


def test_analysis_with_external_hub(capsys: pytest.CaptureFixture[str]) -> None:
    """With ``--external`` the Joint Cyber Centre runs in `gridsim hub`: the delay belongs there."""
    code = main(["run", "--external", "--broker", "mqtt://127.0.0.1:1", "--analysis", "2", "--quiet"])
    _one_line_error(capsys, code, 2, "ConfigError", "gridsim hub")


def test_analysis_help_gives_the_centres_default(capsys: pytest.CaptureFixture[str]) -> None:
    """The parser (which must not import aiomqtt) states the Joint Cyber Centre's own default."""
    with pytest.raises(SystemExit):
        main(["hub", "--help"])
    assert ANALYSIS_HELP_DEFAULT == DEFAULT_ANALYSIS_S
    assert f"arrives (default {DEFAULT_ANALYSIS_S:g})" in " ".join(capsys.readouterr().out.split())
