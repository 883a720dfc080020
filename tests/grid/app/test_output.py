"""The output modes: ``--quiet`` and ``--json`` on every command (grid.app.output).

``--json``: exactly one JSON document on stdout, the result, a stopped service's counts, or
``{"error": ...}``; ``--quiet``: nothing on stdout; errors on stderr either way, same exit codes.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from rich.console import Console

from grid.app.bench.progress import bench_progress, shows_progress
from grid.app.cli import main
from grid.app.output import Output
from grid.app.parser import build_parser
from grid.mqtt.address import free_port
from grid.mqtt.broker import BrokerInfo
from grid.mqtt.session import Session
from grid.participants.service import CONTROLLER_ID, FUSION_ID, HUB_ID, JCC_ID
from grid.wire import topics
from grid.wire.messages import Envelope, NodeState, NodeStatus, RunAction, RunControl
from grid.world.scenario import load_scenario
from tests.grid.results.cyber_run import campaign_objects, write_objects

if TYPE_CHECKING:
    from tests.conftest import GridsimProcesses

_ROOT = Path(__file__).resolve().parents[3]
_FLAGS = ("--quiet", "--json")


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every command that runs something (no subcommands of its own), by its words."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        return {path: parser}
    found: dict[tuple[str, ...], Any] = {}
    for action in subparsers:
        for name, child in action.choices.items():
            if child not in found.values():  # aliases name the same parser
                found.update(_leaves(child, (*path, name)))
    return found


def _document(capsys: pytest.CaptureFixture[str]) -> tuple[Any, str]:
    """Stdout as exactly one JSON document (it fails otherwise), and stderr."""
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def _nothing_on_stdout(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


def _error_document(capsys: pytest.CaptureFixture[str], code: int, kind: str, expected: int) -> str:
    """The failure is one JSON document on stdout, and the same one line on stderr; its message."""
    doc, err = _document(capsys)
    assert code == expected, err
    assert set(doc) == {"error"}
    assert doc["error"]["type"] == kind
    assert doc["error"]["exit_code"] == expected
    assert f"{kind}: " in err
    assert "Traceback" not in err
    message: str = doc["error"]["message"]
    assert message.split(maxsplit=1)[0] in err
    return message


# ----------------------------------------------------------------------------- the grammar


def test_every_command_takes_quiet_and_json() -> None:
    """Each leaf command, the bench, cyber, federation and scenario actions included, takes both flags."""
    leaves = _leaves(build_parser())
    expected = {
        ("run",),
        ("up",),
        ("node",),
        ("fusion",),
        ("hub",),
        ("inject",),
        ("results",),
        ("report",),
        ("health",),
        ("cot",),
        ("dashboard",),
        ("certs",),
        ("scenario", "validate"),
        ("cyber", "export"),
        ("federation", "configs"),
        *(("bench", name) for name in ("fusion", "latency", "scale", "codec", "soak")),
    }
    assert expected <= set(leaves)
    for words, parser in leaves.items():
        for flag in _FLAGS:
            assert flag in parser._option_string_actions, f"gridsim {' '.join(words)} lacks {flag}"
            assert parser._option_string_actions[flag].help, f"gridsim {' '.join(words)} {flag}: no help"


def test_json_wins_over_quiet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The flags are not exclusive: both given, the JSON document is printed (one rule everywhere)."""
    args = build_parser().parse_args(["scenario", "validate", "x.yaml", "--quiet", "--json"])
    assert Output.from_args(args) == Output(quiet=True, json=True)
    assert not Output.from_args(args).human
    code = main(["federation", "configs", str(tmp_path / "fed"), "--quiet", "--json"])
    doc, _ = _document(capsys)
    assert code == 0
    assert doc["dir"] == str(tmp_path / "fed")


# ------------------------------------------------------------------ cheap commands, in-process


def _valid_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(load_scenario().to_dict()), encoding="utf-8")
    return path


def test_scenario_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``files[]`` with ``file``, ``ok``, ``error``; an invalid file is also one stderr line, exit 2."""
    good, bad = _valid_scenario(tmp_path), tmp_path / "missing.yaml"
    assert main(["scenario", "validate", str(good), "--json"]) == 0
    doc, _ = _document(capsys)
    assert doc == {"files": [{"file": str(good), "ok": True, "error": None}]}
    assert main(["scenario", "validate", str(good), "--quiet"]) == 0
    assert _nothing_on_stdout(capsys) == ""

    assert main(["scenario", "validate", str(good), str(bad), "--json"]) == 2
    doc, err = _document(capsys)
    assert [f["ok"] for f in doc["files"]] == [True, False]
    assert "no such file" in doc["files"][1]["error"]
    assert "invalid" in err
    assert main(["scenario", "validate", str(bad), "--quiet"]) == 2
    assert "no such file" in _nothing_on_stdout(capsys)


def test_federation_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``dir``, ``grids`` (each grid's home nodes), ``brokers`` and ``bridges``; the files written."""
    assert main(["federation", "configs", str(tmp_path / "a"), "--json"]) == 0
    doc, _ = _document(capsys)
    assert set(doc) == {"dir", "grids", "brokers", "bridges", "secure"}
    assert doc["secure"] is False
    assert doc["brokers"] == len(doc["grids"]) + 1  # one per grid, and the core
    homes = json.loads((tmp_path / "a" / "homes.json").read_text(encoding="utf-8"))["nodes"]
    assert {n: grid for grid, nodes in doc["grids"].items() for n in nodes} == {
        n: home["grid"] for n, home in homes.items()
    }
    assert main(["federation", "configs", str(tmp_path / "b"), "--quiet"]) == 0
    assert _nothing_on_stdout(capsys) == ""
    assert (tmp_path / "b" / "mosquitto.conf").is_file()


@pytest.mark.timeout(120)  # key generation on a loaded machine
def test_certs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``dir`` and every file written; an existing folder is a ConfigError document, exit 2."""
    out = tmp_path / "certs"
    assert main(["certs", str(out), "--json"]) == 0
    doc, _ = _document(capsys)
    assert set(doc) == {"dir", "files", "kept"}
    assert doc["dir"] == str(out)
    assert doc["kept"] is False
    assert str(out / "ca.crt") in doc["files"]
    assert all(Path(f).is_file() for f in doc["files"])
    message = _error_document(capsys, main(["certs", str(out), "--json"]), "ConfigError", 2)
    assert "--force" in message
    assert main(["certs", str(tmp_path / "quiet"), "--quiet"]) == 0
    assert _nothing_on_stdout(capsys) == ""


@pytest.mark.broker
def test_health(mosquitto: BrokerInfo, capsys: pytest.CaptureFixture[str]) -> None:
    """``ok`` and ``line``; a broker that does not answer: ``ok`` false, its line on stderr, exit 1."""
    assert main(["health", "--broker", mosquitto.url, "--json"]) == 0
    doc, _ = _document(capsys)
    assert doc["ok"] is True
    assert set(doc) == {"ok", "line"}
    assert main(["health", "--broker", mosquitto.url, "--quiet"]) == 0
    assert _nothing_on_stdout(capsys) == ""

    closed = f"mqtt://127.0.0.1:{free_port()}"
    assert main(["health", "--broker", closed, "--json", "--timeout", "5"]) == 1
    doc, err = _document(capsys)
    assert doc["ok"] is False
    assert doc["line"] in err
    assert main(["health", "--broker", closed, "--quiet", "--timeout", "5"]) == 1
    assert "unhealthy" in _nothing_on_stdout(capsys)


_TINY_CODEC = ["bench", "codec", "--repeats", "3", "--inner", "1"]


def test_bench_codec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The bench's results file as the document; no table, no progress, no status line anywhere."""
    assert main([*_TINY_CODEC, "--json"]) == 0
    doc, err = _document(capsys)
    assert {"config", "versions", "machine", "messages", "production_over_json_report", "targets"} <= set(doc)
    assert doc["config"]["repeats"] == 3
    assert err == ""  # stderr is not a terminal: no progress; and --json silences the status lines
    assert main([*_TINY_CODEC, "--quiet", "--out", str(tmp_path)]) == 0
    assert _nothing_on_stdout(capsys) == ""
    assert json.loads((tmp_path / "bench-codec.json").read_text(encoding="utf-8"))["config"]["inner"] == 1


def test_cyber_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The export's report; a run folder without cyber objects: a CyberExportError document, exit 2."""
    write_objects(tmp_path / "run", campaign_objects())
    assert main(["cyber", "export", str(tmp_path / "run"), "--json"]) == 0
    doc, _ = _document(capsys)
    assert set(doc) == {"path", "bundle_id", "objects", "objects_by_type", "validator"}
    assert doc["objects"] == len(campaign_objects())
    assert doc["objects_by_type"]["indicator"] == 4
    assert main(["cyber", "export", str(tmp_path / "run"), "--quiet"]) == 0
    assert _nothing_on_stdout(capsys) == ""
    code = main(["cyber", "export", str(tmp_path / "none"), "--json"])
    assert "no such file" in _error_document(capsys, code, "CyberExportError", 2)


# --------------------------------------------------------------------------- typed errors


def test_bench_that_cannot_reach_its_broker(capsys: pytest.CaptureFixture[str]) -> None:
    """``bench latency --json`` on a closed port: a BrokerUnavailable document, exit 1, no traceback."""
    argv = ["bench", "latency", "--broker", f"mqtt://127.0.0.1:{free_port()}", "--duration", "1"]
    message = _error_document(capsys, main([*argv, "--json"]), "BrokerUnavailable", 1)
    assert "unavailable" in message
    assert main([*argv, "--quiet"]) == 1
    assert "BrokerUnavailable" in _nothing_on_stdout(capsys)


@pytest.mark.parametrize(
    ("argv", "kind", "code"),
    [
        (["bench", "codec", "--repeats", "0"], "ConfigError", 2),
        (["run", "--speed", "0"], "ConfigError", 2),
        (["node", "--id", "XX", "--broker", "mqtt://127.0.0.1:1"], "UnknownNodeError", 2),
        (["fusion", "--broker", "http://127.0.0.1:1"], "ConfigError", 2),
        (["report", "/nonexistent/run"], "RunDataError", 2),
    ],
    ids=["bench", "run", "node", "fusion", "report"],
)
def test_typed_error_is_one_json_document(
    argv: list[str], kind: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """Any command's typed error with --json: ``{"error": {type, message, exit_code}}``, same exit code."""
    _error_document(capsys, main([*argv, "--json"]), kind, code)


def test_usage_error_is_one_json_document(capsys: pytest.CaptureFixture[str]) -> None:
    """An argument argparse refuses: exit 2 and its usage on stderr as always; with --json, the document."""
    with pytest.raises(SystemExit) as exit_info:
        main(["health", "--timeout", "soon", "--json"])
    assert exit_info.value.code == 2
    doc, err = _document(capsys)
    assert doc == {
        "error": {
            "type": "UsageError",
            "message": "argument --timeout: invalid float value: 'soon'",
            "exit_code": 2,
        }
    }
    assert "usage: gridsim health" in err
    assert doc["error"]["message"] in err
    with pytest.raises(SystemExit):
        main(["health", "--timeout", "soon"])
    assert _nothing_on_stdout(capsys).startswith("usage: gridsim health")


@pytest.mark.timeout(120)
def test_closed_stdout_is_no_traceback(tmp_path: Path) -> None:
    """``gridsim ... --json | head``: the reader gone, exit 1 and no traceback (stdout's EPIPE)."""
    read, write = os.pipe()
    os.close(read)  # every write now fails with EPIPE (Python ignores SIGPIPE)
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    argv = [sys.executable, "-m", "grid", "federation", "configs", str(tmp_path), "--json"]
    try:
        done = subprocess.run(
            argv, stdout=write, stderr=subprocess.PIPE, text=True, env=env, timeout=90, check=False
        )
    finally:
        os.close(write)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr


# ----------------------------------------------------------------------------------- progress


def test_bench_progress_only_on_a_terminal() -> None:
    """A bench's progress shows on a terminal; not off one, nor with --quiet (which --json sets)."""
    tty = Console(file=io.StringIO(), force_terminal=True)
    pipe = Console(file=io.StringIO(), force_terminal=False)
    assert shows_progress(argparse.Namespace(quiet=False), tty)
    assert shows_progress(argparse.Namespace(), tty)  # python -m grid.app.bench: no --quiet
    assert not shows_progress(argparse.Namespace(quiet=True), tty)
    assert not shows_progress(argparse.Namespace(quiet=False), pipe)
    for console, shown in ((tty, True), (pipe, False)):
        with bench_progress(argparse.Namespace(quiet=False), console, auto_refresh=False) as progress:
            task = progress.add_task("bench step", total=2)
            progress.update(task, advance=1, refresh=True)
        assert isinstance(console.file, io.StringIO)
        assert ("bench step" in console.file.getvalue()) is shown


# ------------------------------------------------------------------------- real processes


def _gridsim(*args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "grid", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
        check=False,
    )


@pytest.mark.broker
@pytest.mark.timeout(540)  # two processes of at most 240 s each, far above their loaded wall time
def test_run_then_report_as_json(tmp_path: Path) -> None:
    """``gridsim run --json --no-report`` (30 sim s, its own Mosquitto) prints ``summary``,
    ``summary_path`` and ``report`` (null); ``gridsim report RUN_DIR --json`` then ``path``,
    ``files`` and ``build_s``. Nothing else on stdout."""
    scenario = tmp_path / "short.yaml"
    scenario.write_text(yaml.safe_dump({**load_scenario().to_dict(), "duration_s": 30.0}), encoding="utf-8")
    out = tmp_path / "run"
    run = _gridsim(
        *("run", str(scenario), "--speed", "10", "--workers", "0", "--out", str(out)),
        *("--json", "--no-report"),
        timeout_s=240,
    )
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert set(doc) == {"summary", "summary_path", "report"}
    assert doc["report"] is None
    assert doc["summary_path"] == str(out / "summary.json")
    assert doc["summary"] == json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert doc["summary"]["messages"]["published"] > 0
    assert not (out / "report.html").exists()

    report = _gridsim("report", str(out), "--json", timeout_s=240)
    assert report.returncode == 0, report.stderr
    built = json.loads(report.stdout)
    assert set(built) == {"path", "files", "build_s"}
    assert built["path"] == str(out / "report.html")
    assert all((out / f).is_file() for f in built["files"])
    assert built["build_s"] > 0  # reported, not bounded


async def _statuses(session: Session, wanted: NodeState, ids: list[str], run_id: str | None = None) -> None:
    """Until each of ``ids``' retained status says ``wanted`` (for ``run_id``, if given)."""
    waiting = set(ids)
    async for received in session.messages():
        if received.payload and received.topic in {topics.status_topic(i) for i in waiting}:
            body = Envelope.from_bytes(received.payload).body
            if isinstance(body, NodeStatus) and body.state is wanted and run_id in (None, body.run_id):
                waiting.discard(body.node_id)
                if not waiting:
                    return


def _start(run_id: str, scenario: dict[str, Any]) -> bytes:
    control = RunControl(
        action=RunAction.START, run_id=run_id, epoch_ns=time.time_ns(), speed=1.0, scenario=scenario
    )
    return Envelope(body=control, origin=CONTROLLER_ID).to_bytes()


@pytest.mark.broker
@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("argv", "ids"),
    [(["fusion"], [FUSION_ID]), (["node", "--id", "RO"], ["RO"]), (["hub"], [HUB_ID, JCC_ID])],
    ids=["fusion", "node", "hub"],
)
async def test_service_counts_on_sigterm(
    argv: list[str], ids: list[str], mosquitto: BrokerInfo, gridsim: GridsimProcesses
) -> None:
    """``gridsim fusion|node|hub --json`` stopped by SIGTERM: exit 143 and one JSON line of counts,
    per service its connections, outages, runs and its counters over all of them (a refused start
    included)."""
    proc = gridsim.start(
        *argv, "--broker", mosquitto.url, "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    async with Session(host=mosquitto.host, port=mosquitto.port, client_id="test-output") as session:
        await session.subscribe(*(topics.status_topic(i) for i in ids))
        # A hang guard only (the test's timeout bounds it too): waits follow the services' messages.
        async with asyncio.timeout(150):
            await _statuses(session, NodeState.ONLINE, ids)
            # In order on one topic from one client: the refused start is counted before the run starts.
            await session.publish(topics.CONTROL, _start("run-refused", {"name": 1}))
            await session.publish(topics.CONTROL, _start("run-output", load_scenario().to_dict()))
            await _statuses(session, NodeState.RUNNING, ids, "run-output")
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.to_thread(proc.communicate, timeout=60)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert "connected" not in err  # the human status line: not with --json
    (line,) = out.splitlines()
    counts = json.loads(line)
    assert counts["command"] == argv[0]
    assert counts["stopped"] is True
    for service in ids:
        mine = counts[service]
        assert (mine["connections"], mine["outages"], mine["runs"]) == (1, 0, 1), service
        assert mine["counters"]["rejected.bad_scenario"] == 1, service


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def _run_started(proc: subprocess.Popen[str], port: int) -> None:
    """Once the run's broker (on ``port``) carries the run's start; fails if ``proc`` exits first."""
    while not _accepts(port):  # follows the process: its own broker is starting
        if proc.poll() is not None:
            pytest.fail(f"gridsim run exited with {proc.returncode} before its broker accepted connections")
        await asyncio.sleep(0.1)
    async with Session(host="127.0.0.1", port=port, client_id="test-output-run") as session:
        await session.subscribe(topics.CONTROL)
        async for received in session.messages():
            body = Envelope.from_bytes(received.payload).body if received.payload else None
            if isinstance(body, RunControl) and body.action is RunAction.START:
                return


@pytest.mark.broker
@pytest.mark.timeout(240)
async def test_run_stopped_prints_its_partial_as_json(tmp_path: Path, gridsim: GridsimProcesses) -> None:
    """``gridsim run --json`` stopped by SIGTERM mid-run: exit 143, one document ``partial`` (the
    live figures, as DIR/partial.json) and ``partial_path``; no human line on stdout."""
    port, out = free_port(), tmp_path / "run"
    proc = gridsim.start(
        *("run", "--speed", "1", "--workers", "0", "--port", str(port), "--out", str(out), "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    await _run_started(proc, port)
    proc.send_signal(signal.SIGTERM)
    stdout, err = await asyncio.to_thread(proc.communicate, timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    doc = json.loads(stdout)
    assert set(doc) == {"partial", "partial_path"}
    assert doc["partial"]["stopped_by"] == "SIGTERM"
    assert doc["partial_path"] == str(out / "partial.json")
    written = await asyncio.to_thread((out / "partial.json").read_text, encoding="utf-8")
    assert doc["partial"] == json.loads(written)
    # ``started`` is not asserted: the start message may come before the run's first progress figures.


@pytest.mark.broker
@pytest.mark.timeout(120)
def test_dashboard_counts_on_sigterm(mosquitto: BrokerInfo, gridsim: GridsimProcesses) -> None:
    """``gridsim dashboard --json``: its address on stderr; stopped, one JSON line of its counters."""
    proc = gridsim.start(
        *("dashboard", "--broker", mosquitto.url, "--port", "0", "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = ""
    while "live map on" not in seen and (line := proc.stderr.readline()):  # until it serves, or exits
        seen += line
    assert "live map on http://127.0.0.1:" in seen, seen
    proc.send_signal(signal.SIGTERM)
    stdout, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    (line,) = stdout.splitlines()
    counts = json.loads(line)
    assert counts["command"] == "dashboard"
    assert counts["stopped"] is True
    assert counts["url"].startswith("http://127.0.0.1:")
    assert {"received", "rejected", "tracks", "pages_served", "dropped"} <= set(counts)
