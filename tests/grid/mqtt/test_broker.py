"""Tests of grid.mqtt.broker and grid.mqtt.process with real broker processes and a real MQTT client."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import aiomqtt
import pytest

from grid.errors import BrokerStartError, BrokerUnavailable, ConfigError
from grid.mqtt.address import free_port
from grid.mqtt.broker import BrokerInfo, open_broker, start_broker
from grid.mqtt.config import render_config
from grid.mqtt.process import broker_command, mosquitto_path, spawn, stop_process, wait_ready
from tests.processes import children

LocalKind = Literal["mosquitto", "amqtt"]
KINDS: list[LocalKind] = ["mosquitto", "amqtt"]
REPO = Path(__file__).resolve().parents[3]
PR_SET_CHILD_SUBREAPER = 36


def _alive(pid: int) -> bool:
    """True while ``pid`` is a running (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    # The state letter follows the parenthesised command name, which may itself contain spaces.
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


async def _wait_gone(pid: int, within_s: float = 10.0) -> bool:
    """Wait (bounded) for ``pid`` to stop running; True if it did."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while _alive(pid):
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _gridsim_brokers() -> set[int]:
    """Pids of running brokers this test process started with start_broker (their config lives in
    a gridsim-* temp dir); only its own children, since other test workers start brokers too."""
    pids = set()
    for pid in children(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"gridsim-mosquitto-" in cmdline or b"gridsim-amqtt-" in cmdline:
            pids.add(pid)
    return pids


def _need(kind: LocalKind) -> None:
    # scripts/test installs Mosquitto: its absence is a broken setup, not a reason to skip.
    assert kind != "mosquitto" or mosquitto_path() is not None, "mosquitto is not installed: run scripts/test"


async def _round_trip(info: BrokerInfo) -> bytes:
    """Publish one QoS 1 message through the broker and return what the subscriber received."""
    topic = f"gridsim/test/{uuid.uuid4().hex}"
    async with aiomqtt.Client(info.host, info.port, identifier=f"sub-{uuid.uuid4().hex[:8]}") as sub:
        await sub.subscribe(topic, qos=1)
        async with aiomqtt.Client(info.host, info.port, identifier=f"pub-{uuid.uuid4().hex[:8]}") as pub:
            await pub.publish(topic, b"contact bearing 042", qos=1)
        async with asyncio.timeout(10):
            async for message in sub.messages:
                assert message.qos == 1
                return bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else b""
    raise AssertionError("no message received")


@pytest.mark.broker
@pytest.mark.parametrize("kind", KINDS)
async def test_round_trip_and_process_gone_after_exit(kind: LocalKind, tmp_path: Path) -> None:
    """A started broker relays a QoS 1 message and its process is gone after the context exits."""
    _need(kind)
    log = tmp_path / "broker.log"
    async with start_broker(kind, log_path=log) as info:
        assert info.kind == kind
        assert info.host == "127.0.0.1"
        assert info.version is not None
        assert info.version.startswith(f"{kind} ")
        assert info.pid is not None
        assert _alive(info.pid)
        assert await _round_trip(info) == b"contact bearing 042"
    assert not _alive(info.pid)
    assert log.exists()


@pytest.mark.broker
@pytest.mark.parametrize("kind", KINDS)
async def test_process_gone_when_body_raises(kind: LocalKind) -> None:
    """An exception in the body stops the broker and propagates unchanged."""
    _need(kind)
    pids: list[int | None] = []

    async def body() -> None:
        async with start_broker(kind) as info:
            pids.append(info.pid)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await body()
    assert len(pids) == 1
    assert pids[0] is not None
    assert not _alive(pids[0])


@pytest.mark.broker
@pytest.mark.parametrize("kind", KINDS)
async def test_process_gone_when_task_cancelled(kind: LocalKind) -> None:
    """Cancelling the task that holds the broker stops the broker before the task ends."""
    _need(kind)
    started: asyncio.Future[BrokerInfo] = asyncio.get_running_loop().create_future()

    async def hold() -> None:
        async with start_broker(kind) as info:
            started.set_result(info)
            await asyncio.Event().wait()

    task = asyncio.create_task(hold())
    info = await asyncio.wait_for(started, 30)
    assert info.pid is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not _alive(info.pid)


@pytest.mark.broker
async def test_auto_prefers_mosquitto() -> None:
    """With no kind given, Mosquitto is used when installed, else amqtt."""
    async with start_broker() as info:
        assert info.kind == ("mosquitto" if mosquitto_path() else "amqtt")


@pytest.mark.broker
@pytest.mark.parametrize("kind", KINDS)
async def test_port_in_use_is_refused(kind: LocalKind) -> None:
    """Asking for a port another socket holds fails with a BrokerStartError naming the port."""
    _need(kind)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(BrokerStartError, match=f"port {port} in use") as caught:
            async with start_broker(kind, port=port):
                pytest.fail("broker started on a port in use")
    assert caught.value.kind == kind


@pytest.mark.broker
@pytest.mark.parametrize("kind", KINDS)
async def test_given_free_port_is_used(kind: LocalKind) -> None:
    """A free port passed explicitly is the one the broker listens on."""
    _need(kind)
    port = free_port()
    async with start_broker(kind, port=port) as info:
        assert info.port == port
        assert info.url == f"mqtt://127.0.0.1:{port}"


@pytest.mark.broker
@pytest.mark.parametrize("kind", KINDS)
async def test_broker_failing_to_listen_fails_fast(kind: LocalKind, tmp_path: Path) -> None:
    """A broker that cannot bind its port is reported with its log, not waited for until the timeout."""
    _need(kind)
    # The public API refuses a busy port before launching, so launch directly to reach the
    # broker's own failure (which happens when another process takes the port in between).
    argv, _ = await broker_command(kind)
    log = tmp_path / "broker.log"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = tmp_path / "broker.conf"
        config.write_text(render_config(kind, port, tmp_path))
        with log.open("wb") as log_file:
            proc = await spawn(kind, [*argv, "-c", str(config)], log_file)
            try:
                with pytest.raises(BrokerStartError, match=f"port {port}") as caught:
                    await wait_ready(proc, kind, port, log, 30.0)
            finally:
                await stop_process(proc)
    assert "Address already in use" in caught.value.cause or "address already in use" in caught.value.cause
    assert proc.returncode is not None


@pytest.mark.broker
async def test_ready_timeout_stops_the_broker() -> None:
    """A broker not ready within ready_timeout_s raises BrokerStartError and is not left running."""
    before = _gridsim_brokers()
    with pytest.raises(BrokerStartError, match="not accepting connections"):
        async with start_broker("amqtt", ready_timeout_s=0.0):
            pytest.fail("amqtt was ready instantly")
    assert _gridsim_brokers() == before


@pytest.fixture
def subreaper() -> Iterator[None]:
    """Make this process adopt orphaned grandchildren, so a test can reap (and so check) them."""
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG and PR_SET_CHILD_SUBREAPER are Linux only")
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    if prctl(PR_SET_CHILD_SUBREAPER, 1) != 0:
        pytest.skip("cannot become a child subreaper")
    yield
    prctl(PR_SET_CHILD_SUBREAPER, 0)


async def _reaped(pid: int, within_s: float = 10.0) -> bool:
    """Wait (bounded) for the adopted process ``pid`` to exit, and reap it; True if it did."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)  # noqa: ASYNC222 -- WNOHANG never blocks
        except ChildProcessError:  # not adopted (no subreaper support): fall back to /proc
            return not _alive(pid)
        if done == pid:
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.broker
@pytest.mark.usefixtures("subreaper")
async def test_broker_dies_with_killed_parent(tmp_path: Path) -> None:
    """A broker does not outlive a SIGKILLed gridsim process (parent-death signal)."""
    script = textwrap.dedent(
        """
        import asyncio
        from grid.mqtt.broker import start_broker

        async def main() -> None:
            async with start_broker() as info:
                print(info.pid, flush=True)
                await asyncio.sleep(60)

        asyncio.run(main())
        """
    )
    # TMPDIR: the killed parent cannot remove its temp config dir, so keep it inside tmp_path.
    pythonpath = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": pythonpath, "TMPDIR": str(tmp_path)}
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=subprocess.PIPE, env=env, cwd=REPO
    )
    broker_pid: int | None = None
    try:
        assert parent.stdout is not None
        broker_pid = int(await asyncio.wait_for(parent.stdout.readline(), 30))
        assert _alive(broker_pid)
        parent.kill()
        await parent.wait()
        assert await _reaped(broker_pid)
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()
        if broker_pid is not None and _alive(broker_pid):
            os.kill(broker_pid, signal.SIGKILL)
            await _reaped(broker_pid)


@pytest.mark.broker
async def test_open_broker_starts_one_without_url() -> None:
    """open_broker(None) starts a broker of its own and stops it afterwards."""
    async with open_broker(None, kind="amqtt") as info:
        assert info.kind == "amqtt"
        assert info.pid is not None
    assert not _alive(info.pid)


@pytest.mark.broker
async def test_open_broker_external(mosquitto: BrokerInfo) -> None:
    """An external broker that accepts connections is reported as external and usable."""
    async with open_broker(mosquitto.url) as info:
        assert info == BrokerInfo(kind="external", host=mosquitto.host, port=mosquitto.port)
        assert info.to_dict() == {
            "kind": "external",
            "url": mosquitto.url,
            "host": mosquitto.host,
            "port": mosquitto.port,
            "version": None,
        }
        assert await _round_trip(info) == b"contact bearing 042"
    assert mosquitto.pid is not None
    assert _alive(mosquitto.pid)


async def test_open_broker_unreachable() -> None:
    """A URL where nothing listens raises BrokerUnavailable with the URL."""
    url = f"mqtt://127.0.0.1:{free_port()}"
    with pytest.raises(BrokerUnavailable) as caught:
        async with open_broker(url):
            pytest.fail("connected to a closed port")
    assert caught.value.url == url


async def test_open_broker_rejects_bad_url() -> None:
    """A malformed URL is a ConfigError before any connection is tried."""
    with pytest.raises(ConfigError, match="scheme"):
        async with open_broker("ws://127.0.0.1:9001"):
            pytest.fail("accepted a websocket URL")


def test_broker_info_url_brackets_ipv6() -> None:
    """IPv6 hosts are bracketed in the URL."""
    assert BrokerInfo(kind="external", host="::1", port=1883).url == "mqtt://[::1]:1883"
