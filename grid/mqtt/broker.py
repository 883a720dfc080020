"""The MQTT broker of a run: one gridsim starts itself, or an external one.

Three ways behind one interface, :func:`open_broker`:

* no URL, Mosquitto installed: ``mosquitto`` in a child process on a free loopback port;
* no URL, no Mosquitto: the amqtt broker in a child process (same Python interpreter);
* ``mqtt://host:port``: any MQTT 3.1.1/5 broker, checked for reachability only.

A broker gridsim starts is stopped by the same context manager on normal exit, errors and
cancellation, and (on Linux) dies with gridsim even if gridsim is killed. Addresses are
:mod:`grid.mqtt.address`, configuration files :mod:`grid.mqtt.config`, the child process
:mod:`grid.mqtt.process`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from grid.errors import BrokerStartError, BrokerUnavailable
from grid.mqtt.address import LOOPBACK, free_port, parse_broker_url, port_in_use
from grid.mqtt.config import LocalKind, write_config
from grid.mqtt.process import BrokerProcess, broker_command, mosquitto_path
from grid.security.broker_tls import SecureSetup, secure_config
from grid.security.tls import Credentials, active_credentials, use_credentials

__all__ = ["BrokerInfo", "BrokerKind", "open_broker", "start_broker"]

BrokerKind = Literal["mosquitto", "amqtt", "external", "rabbitmq"]

_EXTERNAL_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerInfo:
    """Where the run's broker is and what it is.

    Attributes:
        kind: ``mosquitto`` or ``amqtt`` when gridsim started it, ``rabbitmq`` for a RabbitMQ
            cluster (host and port: its first member), else ``external``.
        host: address clients connect to.
        port: TCP port clients connect to.
        version: e.g. ``mosquitto 2.0.11`` or ``amqtt 0.12.1 (with gridsim's fixes)``; None when unknown.
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


@asynccontextmanager
async def start_broker(
    kind: Literal["auto", "mosquitto", "amqtt"] = "auto",
    *,
    port: int | None = None,
    log_path: Path | None = None,
    ready_timeout_s: float = 15.0,
    extra_config: str = "",
    secure: SecureSetup | None = None,
) -> AsyncIterator[BrokerInfo]:
    """Start a broker in a child process on loopback and stop it on exit.

    Args:
        kind: ``auto`` picks Mosquitto when installed, else amqtt.
        port: port to listen on; a free one when None.
        log_path: file for the broker's stdout and stderr; a temporary file when None.
        ready_timeout_s: how long to wait for the broker to answer an MQTT CONNECT.
        extra_config: appended to Mosquitto's configuration (a federation's bridges).
        secure: Mosquitto with (mutual) TLS and the ACL instead of a plain listener
            (:mod:`grid.security.broker_tls`); its readiness check connects as the operator.

    Yields:
        Where the broker listens.

    Raises:
        BrokerStartError: no Mosquitto for ``kind="mosquitto"``, the port is in use, its
            configuration template is missing, or the broker exited or did not answer in time
            (the message ends with the broker's log).
    """
    chosen: LocalKind = kind if kind != "auto" else ("mosquitto" if mosquitto_path() else "amqtt")
    if secure is not None and chosen != "mosquitto":
        raise BrokerStartError(chosen, "secure mode needs Mosquitto (TLS, client certificates, ACL)")
    if port is not None and port_in_use(LOOPBACK, port):
        raise BrokerStartError(chosen, f"port {port} in use on {LOOPBACK}")
    listen_port = port if port is not None else free_port(LOOPBACK)
    argv_prefix, version = await broker_command(chosen)
    workdir = Path(tempfile.mkdtemp(prefix=f"gridsim-{chosen}-"))
    log_file: IO[bytes] | None = None
    process: BrokerProcess | None = None
    try:
        config = write_config(chosen, listen_port, workdir, extra=extra_config)
        if secure is not None:
            acl = workdir / "acl"
            acl.write_text(secure.acl, encoding="utf-8")
            config.write_text(secure_config(config.read_text(encoding="utf-8"), secure.broker(acl)))
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
        # A secure broker answers TLS clients with certificates only: the check connects as the operator.
        ready_as = Credentials(secure.certs) if secure is not None and active_credentials() is None else None
        with use_credentials(ready_as):
            await process.start()
        yield BrokerInfo(
            kind=chosen, host=LOOPBACK, port=listen_port, version=version, pid=process.pid, process=process
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
    secure: SecureSetup | None = None,
) -> AsyncIterator[BrokerInfo]:
    """The run's broker: a new one (on ``port``, else a free one) when ``url`` is None, else the external one.

    ``secure`` applies to a broker gridsim starts (an external one is secured by whoever runs it).

    Raises:
        ConfigError: ``url`` is malformed.
        BrokerUnavailable: the external broker does not accept TCP connections within 3 s.
        BrokerStartError: gridsim could not start its own broker.
    """
    if url is None:
        async with start_broker(kind, port=port, log_path=log_path, secure=secure) as info:
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
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
