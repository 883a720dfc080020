"""``gridsim health``: exit 0 and one line when the retained status says online (or the broker
answers), 1 and one line otherwise (offline, no status, broker down or silent), within the timeout."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from grid.app.cli import main
from grid.app.env import BROKER_URL, NODE_ID
from grid.app.health import SERVICES
from grid.mqtt.address import free_port
from grid.mqtt.broker import BrokerInfo
from grid.participants.service import FUSION_ID, HUB_ID, JCC_ID


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (BROKER_URL, NODE_ID):
        monkeypatch.delenv(var, raising=False)


def _serve(started: list[subprocess.Popen[str]], *args: str) -> subprocess.Popen[str]:
    """``gridsim ARGS`` once it said it connected (for the hub: both the hub and the JCC)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "grid", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    started.append(proc)
    assert proc.stderr is not None
    waiting = 2 if args[0] == "hub" else 1
    seen = ""
    while waiting:
        line = proc.stderr.readline()
        assert line, f"exited before connecting: {seen}"
        seen += line
        waiting -= "connected" in line
    return proc


def _health(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["health", *args])
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return code, lines[0]


def test_service_names_match_the_participants() -> None:
    """The status ids behind --service are the participants' own."""
    assert SERVICES == {"fusion": (FUSION_ID,), "hub": (HUB_ID, JCC_ID)}


@pytest.mark.broker
def test_broker_answers(mosquitto: BrokerInfo, capsys: pytest.CaptureFixture[str]) -> None:
    """Neither --node nor --service: healthy when the broker answers."""
    code, line = _health(capsys, "--broker", mosquitto.url)
    assert (code, line) == (0, f"healthy: broker {mosquitto.url} answers")


@pytest.mark.broker
@pytest.mark.timeout(120)
def test_node_online_then_offline(
    mosquitto: BrokerInfo,
    started: list[subprocess.Popen[str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A running node is healthy (by --node or GRID_NODE_ID); once it stopped, its status says offline."""
    assert _health(capsys, "--broker", mosquitto.url, "--node", "RO")[0] == 1  # none yet
    node = _serve(started, "node", "--id", "RO", "--broker", mosquitto.url)
    code, line = _health(capsys, "--broker", mosquitto.url, "--node", "RO")
    assert (code, line) == (0, f"healthy: RO online on {mosquitto.url}")
    monkeypatch.setenv(NODE_ID, "RO")
    monkeypatch.setenv(BROKER_URL, mosquitto.url)
    assert _health(capsys)[0] == 0
    node.send_signal(signal.SIGTERM)
    assert node.wait(timeout=60) == 143
    code, line = _health(capsys)
    assert (code, line) == (1, f"unhealthy: RO offline on {mosquitto.url}")


@pytest.mark.broker
def test_node_without_status(mosquitto: BrokerInfo, capsys: pytest.CaptureFixture[str]) -> None:
    """A node that never connected has no status: unhealthy."""
    code, line = _health(capsys, "--broker", mosquitto.url, "--node", "BG")
    assert (code, line) == (1, f"unhealthy: BG has no status on {mosquitto.url}")


@pytest.mark.broker
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("service", "said"), [("fusion", "fusion online"), ("hub", "hub online, jcc online")]
)
def test_service_online(
    mosquitto: BrokerInfo,
    started: list[subprocess.Popen[str]],
    capsys: pytest.CaptureFixture[str],
    service: str,
    said: str,
) -> None:
    """``--service fusion|hub``: the service's retained status (the hub's process also runs the JCC)."""
    code, line = _health(capsys, "--broker", mosquitto.url, "--service", service)
    assert code == 1
    assert "has no status" in line
    _serve(started, service, "--broker", mosquitto.url)
    code, line = _health(capsys, "--broker", mosquitto.url, "--service", service)
    assert (code, line) == (0, f"healthy: {said} on {mosquitto.url}")


def test_broker_down(capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listening: unhealthy, one line."""
    port = free_port()
    code, line = _health(capsys, "--broker", f"mqtt://127.0.0.1:{port}", "--node", "RO")
    assert code == 1
    assert line.startswith(f"unhealthy: MQTT broker at mqtt://127.0.0.1:{port} unavailable"), line


@pytest.mark.broker
def test_a_cluster_answers_on_its_first_live_member(
    mosquitto: BrokerInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--broker DEAD,LIVE`` (a cluster's members): the verdict comes from the first that answers."""
    dead = f"mqtt://127.0.0.1:{free_port()}"
    code, line = _health(capsys, "--broker", f"{dead},{mosquitto.url}")
    assert (code, line) == (0, f"healthy: broker {mosquitto.url} answers")
    code, line = _health(capsys, "--broker", f"{dead},{mosquitto.url}", "--node", "BG")
    assert (code, line) == (1, f"unhealthy: BG has no status on {mosquitto.url}")
    other = f"mqtt://127.0.0.1:{free_port()}"
    code, line = _health(capsys, "--broker", f"{dead},{other}")
    assert code == 1
    assert dead in line, line
    assert other in line, line


@pytest.mark.timeout(60)
def test_silent_broker_times_out(capsys: pytest.CaptureFixture[str]) -> None:
    """A port that accepts connections but never answers MQTT: unhealthy once the timeout is up."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the handshake; nobody ever reads or answers
        port = silent.getsockname()[1]
        code, line = _health(capsys, "--broker", f"mqtt://127.0.0.1:{port}", "--timeout", "0.5")
    assert code == 1
    assert line == f"unhealthy: no answer from the broker at mqtt://127.0.0.1:{port} within 0.5 s"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--timeout", "0"], ["--timeout must be > 0"]),
        (["--node", "no/such"], ["--node", "invalid node id"]),
        ([], ["--broker", BROKER_URL]),
    ],
    ids=["timeout", "bad-node", "no-broker"],
)
def test_bad_arguments(args: list[str], words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Bad arguments: a ConfigError line, exit 2."""
    broker = ["--broker", "mqtt://127.0.0.1:1"] if args else []
    code, line = _health(capsys, *broker, *args)
    assert code == 2
    assert line.startswith("ConfigError")
    for word in words:
        assert word in line, line


def test_node_and_service_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    """--node and --service together are refused by the parser."""
    with pytest.raises(SystemExit) as exit_info:
        main(["health", "--node", "RO", "--service", "fusion"])
    assert exit_info.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


_IMPORTED = """
import sys
from grid.app.cli import main
code = main(sys.argv[1:])
print(code, " ".join(sorted(sys.modules)))
"""


def test_health_starts_quickly() -> None:
    """``gridsim health`` loads none of the heavy modules (numpy, scipy, pydantic, the world model)."""
    port = free_port()
    out = subprocess.run(
        [sys.executable, "-c", _IMPORTED, "health", "--broker", f"mqtt://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},  # this checkout
    ).stdout
    code, modules = out.split(" ", 1)
    assert code == "1"
    loaded = set(modules.split())
    for heavy in ("numpy", "scipy", "pydantic", "grid.world.scenario", "grid.participants.service"):
        assert heavy not in loaded, heavy
