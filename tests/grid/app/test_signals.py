"""SIGTERM and SIGINT stop every long-running command like a service: one line on stderr at once,
a clean MQTT goodbye, the partial summary of a run, no temporary folder or child process left,
exit 130 or 143; also when SIGINT was inherited ignored; a second signal exits at once.

Real processes (``python -m grid ...``) on a real Mosquitto. Waits are generous (a loaded
machine) and bounded by each test's timeout; no verdict depends on how long anything took.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from grid.errors import GridError
from grid.mqtt.address import free_port
from grid.mqtt.broker import BrokerInfo, start_broker
from grid.mqtt.session import Session
from grid.wire import topics
from grid.wire.messages import Envelope, NodeState, NodeStatus, RunAction, RunControl
from tests.processes import alive, children

pytestmark = pytest.mark.broker

_CODES: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}
_WORDS: dict[int, str] = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
_SIGNALS = pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])


@pytest.fixture
def tmpdir_env(tmp_path: Path) -> dict[str, str]:
    """The environment of the processes: TMPDIR an empty folder, to see nothing is left in it."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return {**os.environ, "TMPDIR": str(tmp), "COLUMNS": "200"}


def _gridsim(
    started: list[subprocess.Popen[str]], env: dict[str, str], *args: str, **popen: Any
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "grid", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **popen,
    )
    started.append(proc)
    return proc


def _read_until(proc: subprocess.Popen[str], word: str, *, stream: str = "stderr") -> str:
    """Lines of the process's stream up to the first containing ``word`` (fails on EOF first)."""
    pipe = proc.stderr if stream == "stderr" else proc.stdout
    assert pipe is not None
    seen = ""
    while word not in seen:
        line = pipe.readline()
        assert line, f"exited ({proc.wait()}) before saying {word!r}: {seen}{proc.communicate()}"
        seen += line
    return seen


def _check_stopped(proc: subprocess.Popen[str], signum: int, env: dict[str, str], before: str = "") -> str:
    """Wait for the exit; its code, the one line said, no traceback, nothing left in TMPDIR. stderr."""
    _, rest = proc.communicate(timeout=90)
    err = before + rest
    assert proc.returncode == _CODES[signum], err
    said = [line for line in err.splitlines() if line.startswith(_WORDS[signum])]
    assert said == [
        f"{_WORDS[signum]}: {signal.Signals(signum).name} received, stopping (again: exit at once)"
    ]
    assert "Traceback" not in err
    assert os.listdir(env["TMPDIR"]) == [], "a temporary file or folder was left behind"
    return err


async def _retained_status(broker: BrokerInfo, service: str) -> NodeStatus:
    async with Session(host=broker.host, port=broker.port, client_id="test-signals-status") as session:
        await session.subscribe(topics.status_topic(service))
        async for received in session.messages():
            body = Envelope.from_bytes(received.payload).body
            assert isinstance(body, NodeStatus)
            return body
    raise AssertionError("no retained status")


@pytest.mark.timeout(120)
@_SIGNALS
@pytest.mark.parametrize("service", ["RO", "fusion", "hub"], ids=["node", "fusion", "hub"])
def test_service_stops_on_signal(
    mosquitto: BrokerInfo,
    started: list[subprocess.Popen[str]],
    tmpdir_env: dict[str, str],
    service: str,
    signum: int,
) -> None:
    """node, fusion and hub: the signal's line, exit 130/143, and the retained status says offline."""
    command = ["node", "--id", service] if service == "RO" else [service]
    proc = _gridsim(started, tmpdir_env, *command, "--broker", mosquitto.url)
    before = _read_until(proc, f"{service} connected")
    proc.send_signal(signum)
    _check_stopped(proc, signum, tmpdir_env, before)
    status = asyncio.run(_retained_status(mosquitto, service))
    assert status.state is NodeState.OFFLINE


@pytest.mark.timeout(120)
def test_sigint_stops_a_node_started_with_sigint_ignored(
    mosquitto: BrokerInfo, started: list[subprocess.Popen[str]], tmpdir_env: dict[str, str]
) -> None:
    """A node that inherited SIGINT ignored (``cmd &`` in a script, nohup) still stops on SIGINT."""

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = _gridsim(
        started, tmpdir_env, "node", "--id", "RO", "--broker", mosquitto.url, preexec_fn=ignore_sigint
    )
    before = _read_until(proc, "RO connected")
    proc.send_signal(signal.SIGINT)
    _check_stopped(proc, signal.SIGINT, tmpdir_env, before)


@pytest.mark.timeout(120)
def test_second_signal_exits_at_once(
    started: list[subprocess.Popen[str]], tmpdir_env: dict[str, str]
) -> None:
    """A second SIGTERM while the node is stopping (its broker frozen, so the goodbye hangs) ends it."""

    async def scenario() -> None:
        async with start_broker("mosquitto") as broker:
            proc = _gridsim(started, tmpdir_env, "node", "--id", "RO", "--broker", broker.url)
            await asyncio.to_thread(_read_until, proc, "RO connected")
            assert broker.pid is not None
            os.kill(broker.pid, signal.SIGSTOP)  # the node's goodbye now waits for its timeouts
            try:
                proc.send_signal(signal.SIGTERM)
                await asyncio.to_thread(_read_until, proc, "terminated: SIGTERM received")
                if proc.poll() is not None:
                    pytest.skip("the node finished stopping before the second signal could be sent")
                proc.send_signal(signal.SIGTERM)
                _, err = await asyncio.to_thread(proc.communicate, timeout=60)
            finally:
                os.kill(broker.pid, signal.SIGCONT)
            assert proc.returncode == 143, err
            assert "second SIGTERM while stopping: exiting at once" in err
            assert "Traceback" not in err

    asyncio.run(scenario())


async def _await_run(port: int) -> None:
    """Return once the broker at ``port`` holds a retained run start (every participant online)."""
    while True:
        try:
            async with Session(host="127.0.0.1", port=port, client_id="test-signals-watch") as session:
                await session.subscribe(topics.CONTROL)
                async for received in session.messages():
                    body = Envelope.from_bytes(received.payload).body
                    if isinstance(body, RunControl) and body.action is RunAction.START:
                        return
        except GridError:  # the broker is not listening yet
            await asyncio.sleep(0.2)


def _worker_pids(pid: int) -> list[int]:
    return [c for c in children(pid) if b"grid.app.workers" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if alive(pid)]


@pytest.mark.timeout(180)
@_SIGNALS
def test_run_stops_on_signal_with_partial_summary(
    tmp_path: Path, started: list[subprocess.Popen[str]], tmpdir_env: dict[str, str], signum: int
) -> None:
    """``run --workers 2`` mid-run: the line, the partial summary (stdout and partial.json), exit
    130/143; broker and workers reaped, each worker stopped on the parent's SIGTERM."""
    port = free_port()
    out = tmp_path / "out"
    proc = _gridsim(
        started, tmpdir_env, "run", "--quiet", "--workers", "2", "--port", str(port), "--out", str(out)
    )
    asyncio.run(_await_run(port))
    spawned = children(proc.pid)
    assert len(_worker_pids(proc.pid)) == 3, spawned  # 2 node workers and the services' one
    proc.send_signal(signum)
    _check_stopped(proc, signum, tmpdir_env)
    assert not _alive(spawned), "a child process was left behind"
    partial = json.loads((out / "partial.json").read_text())
    assert partial["stopped_by"] == signal.Signals(signum).name
    assert partial["started"] is True
    for worker in ("fusion", "worker-0", "worker-1"):
        log = (out / f"{worker}.log").read_text()
        assert "terminated: SIGTERM received" in log, log  # the parent stops its workers with SIGTERM
        assert " stopped: " in log, log


@pytest.mark.timeout(180)
@_SIGNALS
def test_up_stops_on_signal(
    tmp_path: Path, started: list[subprocess.Popen[str]], tmpdir_env: dict[str, str], signum: int
) -> None:
    """``up`` (its own broker, workers): the line, exit 130/143, nothing left behind."""
    port = free_port()
    proc = _gridsim(
        started, tmpdir_env, "up", "--workers", "1", "--port", str(port), "--out", str(tmp_path / "runs")
    )
    _read_until(proc, "grid up on", stream="stdout")
    spawned = children(proc.pid)
    assert spawned
    proc.send_signal(signum)
    _check_stopped(proc, signum, tmpdir_env)
    assert not _alive(spawned), "a child process was left behind"


def test_stop_signals_restores_the_previous_handlers() -> None:
    """In-process callers (tests calling ``main``) get their own handlers back afterwards."""
    from grid.app.signals import stop_signals

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with stop_signals():
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {s: signal.getsignal(s) for s in before} == before


@pytest.mark.timeout(120)
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_node_as_pid_1_stops_on_sigterm(
    mosquitto: BrokerInfo, started: list[subprocess.Popen[str]], tmpdir_env: dict[str, str]
) -> None:
    """As PID 1 of a PID namespace (a container without init), where the kernel drops a SIGTERM
    that has no handler, the node still stops on it."""
    unshare = ["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-m", "grid"]
    proc = subprocess.Popen(
        [*unshare, "node", "--id", "RO", "--broker", mosquitto.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=tmpdir_env,
    )
    started.append(proc)
    assert proc.stderr is not None
    first = proc.stderr.readline()
    if first.startswith("unshare:"):  # no permission for namespaces here (not root, or seccomp)
        pytest.skip(first.strip())
    before = first if "RO connected" in first else first + _read_until(proc, "RO connected")
    (inner,) = children(proc.pid)
    nspid = next(
        line for line in Path(f"/proc/{inner}/status").read_text().splitlines() if line.startswith("NSpid")
    )
    assert nspid.split()[-1] == "1", nspid
    os.kill(inner, signal.SIGTERM)
    _check_stopped(proc, signal.SIGTERM, tmpdir_env, before)  # unshare passes on the node's exit code
