"""A federation's brokers on loopback: one Mosquitto per broker of a plan, bridged, and proven up.

:func:`start_federation` starts the core and every grid broker (each a :func:`start_broker`
child with its bridges appended to the usual configuration), then waits until every bridge
carries a probe end to end: a bridge that is connected but not yet subscribed on its source
would lose what is published meanwhile. All are stopped on exit, errors and cancellation.
With ``secure`` (:mod:`grid.mqtt.secure_federation`) every broker has a mutual-TLS listener and
its own ACL, the bridges connect over TLS, and the probes present the operator's certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from grid.errors import BrokerStartError
from grid.mqtt.address import LOOPBACK, free_port
from grid.mqtt.broker import BrokerInfo, start_broker
from grid.mqtt.federation import CORE, Bridge, FederationPlan, broker_config
from grid.mqtt.secure_federation import SecureFederation
from grid.mqtt.transport import Transport
from grid.security.tls import Credentials, active_credentials, use_credentials

__all__ = ["Federation", "start_federation", "wait_bridges"]

_PROBE_EVERY_S = 0.2


@dataclass(frozen=True, kw_only=True)
class Federation:
    """The running brokers of a plan, by name (:data:`~grid.mqtt.federation.CORE` or a grid)."""

    plan: FederationPlan
    brokers: dict[str, BrokerInfo]

    @property
    def core(self) -> BrokerInfo:
        """The broker of the grid's services and of the run controller."""
        return self.brokers[CORE]

    def home(self, node_id: str) -> BrokerInfo:
        """The broker ``node_id`` connects to."""
        return self.brokers[self.plan.homes[node_id]]

    def to_dict(self) -> dict[str, object]:
        """The brokers (URL and home nodes) and bridges, as recorded in a run's summary."""
        return {
            "brokers": {
                name: {
                    "url": info.url,
                    "nodes": list(self.plan.home_nodes(name)) if name != CORE else [],
                }
                for name, info in self.brokers.items()
            },
            "bridges": [b.to_dict() for b in self.plan.bridges],
        }


@asynccontextmanager
async def start_federation(
    plan: FederationPlan,
    *,
    core_port: int | None = None,
    log_dir: Path | None = None,
    ready_timeout_s: float = 30.0,
    secure: SecureFederation | None = None,
) -> AsyncIterator[Federation]:
    """Start every broker of ``plan`` on free loopback ports; yields once every bridge is up.

    Args:
        plan: the brokers and bridges.
        core_port: the core's port (e.g. 1883 for ``gridsim up``); a free one when None.
        log_dir: where ``broker-<name>.log`` goes; temporary files (removed) when None.
        ready_timeout_s: how long the bridges may take to come up.
        secure: mutual TLS, each broker's ACL and TLS bridges.

    Raises:
        ConfigError: ``secure``'s folder lacks a bridge's certificate.
        BrokerStartError: Mosquitto is missing, a broker did not start, or a bridge did not
            carry its probe in time.
    """
    ports = {name: free_port(LOOPBACK) for name in plan.brokers}
    if core_port is not None:
        ports[CORE] = core_port
    addresses = {name: f"{LOOPBACK}:{port}" for name, port in ports.items()}
    if secure is not None:
        secure.check(plan)
    async with contextlib.AsyncExitStack() as stack:
        brokers: dict[str, BrokerInfo] = {}
        for name in plan.brokers:
            brokers[name] = await stack.enter_async_context(
                start_broker(
                    "mosquitto",
                    port=ports[name],
                    log_path=None if log_dir is None else log_dir / f"broker-{name}.log",
                    extra_config=broker_config(
                        plan,
                        name,
                        base="",
                        addresses=addresses,
                        tls=None if secure is None else secure.bridge_tls,
                    ),
                    secure=None if secure is None else secure.setup(plan, name),
                )
            )
        federation = Federation(plan=plan, brokers=brokers)
        # The probes connect as the operator when the caller has set no credentials of its own.
        probe_as = Credentials(secure.certs) if secure is not None and active_credentials() is None else None
        with use_credentials(probe_as):
            await wait_bridges(federation, plan.bridges, timeout_s=ready_timeout_s)
        yield federation


async def wait_bridges(federation: Federation, bridges: Iterable[Bridge], *, timeout_s: float = 30.0) -> None:
    """Wait until each bridge carries a probe from its source to its receiver.

    Raises:
        BrokerStartError: some bridge did not, within ``timeout_s`` (they are named).
    """
    pending = list(bridges)
    up: set[str] = set()  # the bridges proven so far, to name the late ones
    try:
        async with asyncio.timeout(timeout_s), asyncio.TaskGroup() as group:
            for bridge in pending:
                group.create_task(
                    _probe(federation, bridge, up), name=f"grid[federation].probe[{bridge.name}]"
                )
    except TimeoutError:
        late = ", ".join(b.name for b in pending if b.name not in up)
        raise BrokerStartError("mosquitto", f"bridges not up after {timeout_s:g} s: {late}") from None


async def _probe(federation: Federation, bridge: Bridge, up: set[str]) -> None:
    """Publish on the bridge's probe topic at its source (QoS 0, so nothing queues) until it arrives."""
    receiver, source = federation.brokers[bridge.receiver], federation.brokers[bridge.source]
    tag = f"{bridge.name}-{os.getpid()}"
    async with (
        Transport(host=receiver.host, port=receiver.port, client_id=f"gridsim-probe-rx-{tag}") as rx,
        Transport(host=source.host, port=source.port, client_id=f"gridsim-probe-tx-{tag}") as tx,
    ):
        await rx.subscribe(bridge.probe_topic, qos=0)
        arrived = asyncio.Event()

        async def listen() -> None:
            async for message in rx.messages():
                if message.topic == bridge.probe_topic:
                    arrived.set()
                    return

        async with asyncio.TaskGroup() as group:
            listener = group.create_task(listen(), name=f"grid[federation].probe-rx[{bridge.name}]")
            while not arrived.is_set():
                await tx.publish(bridge.probe_topic, b"probe", qos=0)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_PROBE_EVERY_S):
                        await arrived.wait()
            listener.cancel()
    up.add(bridge.name)
