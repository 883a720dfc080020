"""The MQTT broker of a run: one gridsim starts itself, or an external one.

Three ways behind one interface, :func:`open_broker`:

* no URL, Mosquitto installed: ``mosquitto`` in a child process on a free loopback port;
* no URL, no Mosquitto: the amqtt broker in a child process (same Python interpreter);
* ``mqtt://host:port``: any MQTT 3.1.1/5 broker, checked for reachability only.

A broker gridsim starts is stopped by the same context manager on normal exit, errors and
cancellation, and (on Linux) dies with gridsim even if gridsim is killed.
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
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import urlsplit

from grid.bundled import bundled_dir
from grid.errors import BrokerStartError, BrokerUnavailable, ConfigError

__all__ = [
    "BrokerInfo",
    "BrokerKind",
    "BrokerProcess",
    "free_port",
    "mosquitto_path",
    "open_broker",
    "parse_broker_url",
    "start_broker",
]

BrokerKind = Literal["mosquitto", "amqtt", "external"]
_LocalKind = Literal["mosquitto", "amqtt"]

_HOST = "127.0.0.1"
_DEFAULT_PORT = 1883
_URL_SCHEMES = ("mqtt", "tcp")
_POLL_S = 0.05
_PROBE_TIMEOUT_S = 0.5
_EXTERNAL_TIMEOUT_S = 3.0
_TERM_GRACE_S = 3.0
_LOG_TAIL_LINES = 15
_PR_SET_PDEATHSIG = 1
# amqtt logs this and keeps running (its listener task failed, the event loop did not).
_AMQTT_FAILURE_MARKER = "Broker startup failed"

_TEMPLATE_FILES: dict[_LocalKind, str] = {"mosquitto": "mosquitto.conf", "amqtt": "amqtt.yaml"}
_DEFAULT_TEMPLATES: dict[_LocalKind, str] = {
    "mosquitto": (
        "listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "set_tcp_nodelay true\n"
        "persistence true\n"
        "persistence_location {dir}/\n"
        "autosave_interval 0\n"
        "max_queued_messages 100000\n"
        "max_inflight_messages 0\n"
        "log_dest stderr\n"
        "log_type error\n"
        "log_type warning\n"
        "log_type notice\n"
        "log_timestamp true\n"
    ),
    "amqtt": (
        "listeners:\n"
        "  default:\n"
        "    type: tcp\n"
        "    bind: 127.0.0.1:{port}\n"
        "plugins:\n"
        "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
        "    allow_anonymous: true\n"
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerInfo:
    """Where the run's broker is and what it is.

    Attributes:
        kind: ``mosquitto`` or ``amqtt`` when gridsim started it, else ``external``.
        host: address clients connect to.
        port: TCP port clients connect to.
        version: e.g. ``mosquitto 2.0.11`` or ``amqtt 0.12.1``; None when unknown.
        pid: process id of a broker gridsim started (when it started); None for an external one.
        process: the child process of a broker gridsim started, which can be stopped and
            restarted (a scenario's ``broker_outage``); None for an external one.
    """

    kind: BrokerKind
    host: str
    port: int
    version: str | None = None
    pid: int | None = None
    process: BrokerProcess | None = field(default=None, compare=False, repr=False)

    @property
    def url(self) -> str:
        """The broker as an ``mqtt://host:port`` URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mqtt://{host}:{self.port}"

    def to_dict(self) -> dict[str, object]:
        """The fields recorded in a run's summary.json."""
        return {
            "kind": self.kind,
            "url": self.url,
            "host": self.host,
            "port": self.port,
            "version": self.version,
        }


def parse_broker_url(url: str) -> tuple[str, int]:
    """Split a broker address into host and port.

    Accepts ``mqtt://host:port``, ``mqtt://host`` (port 1883), ``tcp://...`` and ``host:port``.

    Raises:
        ConfigError: another scheme (TLS and websockets are not supported), a bad or missing
            host or port, credentials or a path.
    """
    text = url.strip()
    has_scheme = "://" in text
    try:
        parts = urlsplit(text if has_scheme else f"mqtt://{text}")
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"broker URL {url!r}: bad host or port ({exc})") from exc
    if parts.scheme.lower() not in _URL_SCHEMES:
        raise ConfigError(
            f"broker URL {url!r}: scheme {parts.scheme!r} is not supported; use mqtt://host:port (plain TCP)"
        )
    if not parts.hostname:
        raise ConfigError(f"broker URL {url!r}: no host; expected mqtt://host:port")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"broker URL {url!r}: credentials are not supported; expected mqtt://host:port")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"broker URL {url!r}: unexpected path or query; expected mqtt://host:port")
    if port is None:
        if not has_scheme:
            raise ConfigError(f"broker address {url!r}: no port; expected host:port or mqtt://host")
        port = _DEFAULT_PORT
    if port == 0:
        raise ConfigError(f"broker URL {url!r}: port must be 1-65535")
    return parts.hostname, port


def free_port(host: str = _HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


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
        kind: _LocalKind,
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
        self._proc = await _spawn(self.kind, self._argv, self._log_file)
        await _wait_ready(self._proc, self.kind, self.port, self._log, self._ready_timeout_s)

    async def stop(self) -> None:
        """SIGTERM (the broker saves its state), then SIGKILL after a grace period."""
        if self._proc is not None:
            await _uncancellable(_stop(self._proc))

    async def restart(self) -> None:
        """Start again after :meth:`stop`; the port must still be free."""
        if _port_in_use(_HOST, self.port):
            raise BrokerStartError(self.kind, f"port {self.port} was taken while the broker was down")
        await self.start()
        self.restarts += 1


@asynccontextmanager
async def start_broker(
    kind: Literal["auto", "mosquitto", "amqtt"] = "auto",
    *,
    port: int | None = None,
    log_path: Path | None = None,
    ready_timeout_s: float = 15.0,
) -> AsyncIterator[BrokerInfo]:
    """Start a broker in a child process on loopback and stop it on exit.

    Args:
        kind: ``auto`` picks Mosquitto when installed, else amqtt.
        port: port to listen on; a free one when None.
        log_path: file for the broker's stdout and stderr; a temporary file when None.
        ready_timeout_s: how long to wait for the broker to answer an MQTT CONNECT.

    Yields:
        Where the broker listens.

    Raises:
        BrokerStartError: no Mosquitto for ``kind="mosquitto"``, the port is in use, or the broker
            exited or did not answer in time (the message ends with the broker's log).
    """
    chosen: _LocalKind = kind if kind != "auto" else ("mosquitto" if mosquitto_path() else "amqtt")
    if port is not None and _port_in_use(_HOST, port):
        raise BrokerStartError(chosen, f"port {port} in use on {_HOST}")
    listen_port = port if port is not None else free_port(_HOST)
    argv_prefix, version = await _command(chosen)
    workdir = Path(tempfile.mkdtemp(prefix=f"gridsim-{chosen}-"))
    log_file: IO[bytes] | None = None
    process: BrokerProcess | None = None
    try:
        config = workdir / _TEMPLATE_FILES[chosen]
        config.write_text(_render_config(chosen, listen_port, workdir), encoding="utf-8")
        log = log_path if log_path is not None else workdir / "broker.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log_file = log.open("wb")
        process = BrokerProcess(
            kind=chosen,
            argv=[*argv_prefix, "-c", str(config)],
            port=listen_port,
            log=log,
            log_file=log_file,
            ready_timeout_s=ready_timeout_s,
        )
        await process.start()
        yield BrokerInfo(
            kind=chosen, host=_HOST, port=listen_port, version=version, pid=process.pid, process=process
        )
    finally:
        if process is not None:
            await process.stop()
        if log_file is not None:
            log_file.close()
        shutil.rmtree(workdir, ignore_errors=True)


@asynccontextmanager
async def open_broker(
    url: str | None,
    *,
    kind: Literal["auto", "mosquitto", "amqtt"] = "auto",
    port: int | None = None,
    log_path: Path | None = None,
) -> AsyncIterator[BrokerInfo]:
    """The run's broker: a new one (on ``port``, else a free one) when ``url`` is None, else the external one.

    Raises:
        ConfigError: ``url`` is malformed.
        BrokerUnavailable: the external broker does not accept TCP connections within 3 s.
        BrokerStartError: gridsim could not start its own broker.
    """
    if url is None:
        async with start_broker(kind, port=port, log_path=log_path) as info:
            yield info
        return
    host, port = parse_broker_url(url)
    await _check_reachable(url, host, port)
    yield BrokerInfo(kind="external", host=host, port=port)


async def _check_reachable(url: str, host: str, port: int) -> None:
    try:
        async with asyncio.timeout(_EXTERNAL_TIMEOUT_S):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError as exc:
        raise BrokerUnavailable(url, f"no TCP connection within {_EXTERNAL_TIMEOUT_S:g} s") from exc
    except OSError as exc:
        raise BrokerUnavailable(url, exc.strerror or str(exc)) from exc
    await _close(writer)


async def _command(kind: _LocalKind) -> tuple[list[str], str | None]:
    """The command line (without the config) and version of a local broker."""
    if kind == "amqtt":
        try:
            version: str | None = f"amqtt {importlib.metadata.version('amqtt')}"
        except importlib.metadata.PackageNotFoundError as exc:
            raise BrokerStartError(kind, "the amqtt package is not installed") from exc
        return [sys.executable, "-m", "amqtt.scripts.broker_script"], version
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
        await _stop(proc)
        return None
    match = re.search(rb"mosquitto version (\S+)", out)
    return f"mosquitto {match.group(1).decode()}" if match else None


def _render_config(kind: _LocalKind, port: int, workdir: Path) -> str:
    text = _read_template(kind).replace("{port}", str(port)).replace("{dir}", str(workdir))
    if kind == "mosquitto" and os.geteuid() == 0:
        # As root Mosquitto switches to user "mosquitto", and a uid change clears PR_SET_PDEATHSIG.
        text += "\nuser root\n"
    return text


def _read_template(kind: _LocalKind) -> str:
    """The template from the repo's broker/, else the wheel's grid/_data/broker/, else built in."""
    name = _TEMPLATE_FILES[kind]
    candidate = bundled_dir("broker") / name
    if candidate.is_file():
        return candidate.read_text(encoding="utf-8")
    return _DEFAULT_TEMPLATES[kind]


async def _spawn(kind: _LocalKind, argv: list[str], log_file: IO[bytes]) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # Own session: Ctrl-C in the terminal reaches gridsim only, which then stops the broker in order.
            start_new_session=True,
            preexec_fn=_die_with_parent_hook(),
        )
    except OSError as exc:
        raise BrokerStartError(kind, f"cannot run {argv[0]}: {exc}") from exc


def _die_with_parent_hook() -> Callable[[], None] | None:
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


async def _wait_ready(
    proc: asyncio.subprocess.Process, kind: _LocalKind, port: int, log: Path, timeout_s: float
) -> None:
    """Poll until the broker answers an MQTT CONNECT; fail fast when it exits or reports failure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        if proc.returncode is not None:
            raise BrokerStartError(
                kind, f"exited with code {proc.returncode} before listening on port {port}{_log_tail(log)}"
            )
        if kind == "amqtt" and _AMQTT_FAILURE_MARKER in _read_log(log):
            raise BrokerStartError(kind, f"failed to listen on port {port}{_log_tail(log)}")
        if await _answers_mqtt(_HOST, port):
            return
        if loop.time() >= deadline:
            raise BrokerStartError(
                kind, f"not accepting connections on port {port} after {timeout_s:g} s{_log_tail(log)}"
            )
        await asyncio.sleep(_POLL_S)


async def _answers_mqtt(host: str, port: int) -> bool:
    """True if an MQTT 3.1.1 CONNECT on ``host:port`` gets an accepting CONNACK.

    A bare TCP connect is not enough: another process may hold the port (taken between
    :func:`free_port` and the broker's bind), and amqtt keeps running after failing to bind.
    """
    client_id = f"gridsim-probe-{os.getpid()}".encode()
    variable_header = b"\x00\x04MQTT\x04\x02\x00\x0a"  # protocol name, level 4, clean session, keepalive 10 s
    payload = len(client_id).to_bytes(2, "big") + client_id
    connect = bytes([0x10, len(variable_header) + len(payload)]) + variable_header + payload
    try:
        async with asyncio.timeout(_PROBE_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(connect)
                await writer.drain()
                connack = await reader.readexactly(4)
                accepted = connack[0] == 0x20 and connack[3] == 0
                if accepted:
                    writer.write(b"\xe0\x00")  # DISCONNECT, so the broker logs a clean goodbye
                    await writer.drain()
            finally:
                await _close(writer)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
    return accepted


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option the brokers set, so a port in TIME_WAIT does not count as in use.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _read_log(log: Path) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _log_tail(log: Path) -> str:
    lines = _read_log(log).strip().splitlines()[-_LOG_TAIL_LINES:]
    return "; broker log:\n" + "\n".join(lines) if lines else "; broker log is empty"


async def _stop(proc: asyncio.subprocess.Process) -> None:
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
