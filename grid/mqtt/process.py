"""A broker in a child process: its command line, launch, readiness and stop.

The child runs in its own session (Ctrl-C reaches gridsim only, which then stops the broker in
order) and, on Linux, gets SIGTERM when gridsim dies, even if gridsim is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.metadata
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import IO, Any

from grid.errors import BrokerStartError, BrokerUnavailable
from grid.mqtt.address import LOOPBACK, port_in_use
from grid.mqtt.config import LocalKind
from grid.mqtt.transport import Transport

__all__ = [
    "BrokerProcess",
    "broker_command",
    "die_with_parent_hook",
    "mosquitto_path",
    "spawn",
    "stop_process",
    "wait_ready",
]

_POLL_S = 0.05
_PROBE_TIMEOUT_S = 0.5
_TERM_GRACE_S = 3.0
_LOG_TAIL_LINES = 15
_PR_SET_PDEATHSIG = 1
# amqtt logs this and keeps running (its listener task failed, the event loop did not).
_AMQTT_FAILURE_MARKER = "Broker startup failed"


def mosquitto_path() -> str | None:
    """Path of the ``mosquitto`` binary, or None when it is not installed.

    Debian installs it in /usr/sbin, which is often not on a user's PATH.
    """
    found = shutil.which("mosquitto")
    if found is not None:
        return found
    fallback = Path("/usr/sbin/mosquitto")
    return str(fallback) if os.access(fallback, os.X_OK) else None


class BrokerProcess:
    """A broker in a child process: it can be stopped and started again on the same port.

    Mosquitto keeps persistent sessions and their queued messages across the restart (it saves
    them on SIGTERM); amqtt keeps nothing, so clients re-subscribe and what it held is gone.
    """

    def __init__(
        self,
        *,
        kind: LocalKind,
        argv: list[str],
        port: int,
        log: Path,
        log_file: IO[bytes],
        ready_timeout_s: float,
    ) -> None:
        self.kind = kind
        self.port = port
        self.restarts = 0
        self._argv = argv
        self._log = log
        self._log_file = log_file
        self._ready_timeout_s = ready_timeout_s
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        """Whether the broker process is up."""
        return self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        """The current process id, if running."""
        return self._proc.pid if self._proc is not None and self.running else None

    async def start(self) -> None:
        """Spawn the broker and wait until it answers an MQTT CONNECT."""
        self._proc = await spawn(self.kind, self._argv, self._log_file)
        await wait_ready(self._proc, self.kind, self.port, self._log, self._ready_timeout_s)

    async def stop(self) -> None:
        """SIGTERM (the broker saves its state), then SIGKILL after a grace period."""
        if self._proc is not None:
            await _uncancellable(stop_process(self._proc))

    async def kill(self) -> None:
        """SIGKILL, as a crash would: the broker keeps only what it had saved (autosave)."""
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            await _uncancellable(_reap(self._proc))

    async def restart(self) -> None:
        """Start again after :meth:`stop`; the port must still be free."""
        if port_in_use(LOOPBACK, self.port):
            raise BrokerStartError(self.kind, f"port {self.port} was taken while the broker was down")
        await self.start()
        self.restarts += 1


async def broker_command(kind: LocalKind) -> tuple[list[str], str | None]:
    """The command line (without ``-c <config>``) and version of a local broker.

    Raises:
        BrokerStartError: Mosquitto or the amqtt package is not installed.
    """
    if kind == "amqtt":
        try:
            # The summary's broker version says the broker is not amqtt's own script.
            version: str | None = f"amqtt {importlib.metadata.version('amqtt')} (with gridsim's fixes)"
        except importlib.metadata.PackageNotFoundError as exc:
            raise BrokerStartError(kind, "the amqtt package is not installed") from exc
        # amqtt's own command line, with two of its races closed (grid.mqtt.amqtt_broker).
        return [sys.executable, "-m", "grid.mqtt.amqtt_broker"], version
    binary = mosquitto_path()
    if binary is None:
        raise BrokerStartError(kind, "mosquitto not found on PATH or in /usr/sbin")
    return [binary], await _mosquitto_version(binary)


async def _mosquitto_version(binary: str) -> str | None:
    """``mosquitto -h`` prints ``mosquitto version 2.0.11`` first (and exits non-zero)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            binary, "-h", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    except OSError:
        return None
    try:
        async with asyncio.timeout(5.0):
            out, _ = await proc.communicate()
    except TimeoutError:
        await stop_process(proc)
        return None
    match = re.search(rb"mosquitto version (\S+)", out)
    return f"mosquitto {match.group(1).decode()}" if match else None


async def spawn(kind: LocalKind, argv: list[str], log_file: IO[bytes]) -> asyncio.subprocess.Process:
    """Start ``argv`` with its output in ``log_file``; it does not outlive gridsim.

    Raises:
        BrokerStartError: the program cannot be run.
    """
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # Own session: Ctrl-C in the terminal reaches gridsim only, which then stops the broker in order.
            start_new_session=True,
            preexec_fn=die_with_parent_hook(),
        )
    except OSError as exc:
        raise BrokerStartError(kind, f"cannot run {argv[0]}: {exc}") from exc


def die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when gridsim dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    # The signal fires when the *thread* that spawned the child ends: gridsim spawns from its
    # event-loop thread, which lives as long as the run.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # gridsim died before prctl took effect
            os._exit(1)

    return hook


async def wait_ready(
    proc: asyncio.subprocess.Process, kind: LocalKind, port: int, log: Path, timeout_s: float
) -> None:
    """Poll until the broker answers an MQTT CONNECT; fail fast when it exits or reports failure.

    Raises:
        BrokerStartError: the broker exited, reported a failure, or did not answer in time
            (the message ends with the tail of its log).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        if proc.returncode is not None:
            raise BrokerStartError(
                kind, f"exited with code {proc.returncode} before listening on port {port}{_log_tail(log)}"
            )
        if kind == "amqtt" and _AMQTT_FAILURE_MARKER in _read_log(log):
            raise BrokerStartError(kind, f"failed to listen on port {port}{_log_tail(log)}")
        if await _answers_mqtt(LOOPBACK, port):
            return
        if loop.time() >= deadline:
            raise BrokerStartError(
                kind, f"not accepting connections on port {port} after {timeout_s:g} s{_log_tail(log)}"
            )
        await asyncio.sleep(_POLL_S)


async def _answers_mqtt(host: str, port: int) -> bool:
    """True if an MQTT CONNECT on ``host:port`` gets an accepting CONNACK within 0.5 s.

    A bare TCP connect is not enough: another process may hold the port (taken between
    :func:`~grid.mqtt.address.free_port` and the broker's bind), and amqtt keeps running after
    failing to bind. The check is the run's own client connecting and disconnecting.
    """
    try:
        async with Transport(
            host=host, port=port, client_id=f"gridsim-probe-{os.getpid()}", timeout_s=_PROBE_TIMEOUT_S
        ):
            return True
    except BrokerUnavailable:
        return False


def _read_log(log: Path) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _log_tail(log: Path) -> str:
    lines = _read_log(log).strip().splitlines()[-_LOG_TAIL_LINES:]
    return "; broker log:\n" + "\n".join(lines) if lines else "; broker log is empty"


async def stop_process(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, up to 3 s grace, then SIGKILL; always reaps the process."""
    try:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                async with asyncio.timeout(_TERM_GRACE_S):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
    finally:
        # Reached early only if this task itself was cancelled (e.g. asyncio.run shutting down).
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()


async def _reap(proc: asyncio.subprocess.Process) -> None:
    await proc.wait()


async def _uncancellable(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` to the end even if the caller is cancelled meanwhile, then re-raise the cancel."""
    task = asyncio.ensure_future(work)
    caller_cancel: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as exc:
            if task.cancelled():
                raise
            caller_cancel = exc
    if caller_cancel is not None:
        raise caller_cancel
    task.result()
