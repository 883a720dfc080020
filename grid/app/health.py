"""``gridsim health``: a container healthcheck, from what a participant retains on the broker.

Every node and service keeps its status retained on ``grid/v1/status/<id>`` (``online``, or
``running`` during a run), and the broker replaces it with ``offline`` by the last will if the
process dies: so a healthy status means the process is connected now. ``--node ID`` checks that
node, ``--service fusion`` the fusion centre, ``--service hub`` the cyber-exchange hub and the
Joint Cyber Centre (``gridsim hub`` runs both); with neither, only that the broker answers.

Deterministic, without waiting out a quiet period: after subscribing to the status topics the
check publishes a probe to itself, and the broker sends the probe after every retained status
of that subscription. Everything, connecting included, is bounded by the timeout.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from grid.errors import BrokerUnavailable, ConfigError, MessageRejected
from grid.mqtt.address import parse_broker_url
from grid.mqtt.rabbitmq import parse_cluster_urls
from grid.mqtt.transport import Transport
from grid.wire import topics
from grid.wire.messages import Envelope, NodeState, NodeStatus

__all__ = ["SERVICES", "Health", "check_health"]

# ``--service`` name -> the status ids it stands for: grid.participants.service's FUSION_ID, HUB_ID
# and JCC_ID, spelled out since that module loads the world model (pydantic, numpy) and this one
# must start at once; tests/grid/app/test_health.py checks they agree.
SERVICES: dict[str, tuple[str, ...]] = {"fusion": ("fusion",), "hub": ("hub", "jcc")}
_HEALTHY = (NodeState.ONLINE, NodeState.RUNNING)


@dataclass(frozen=True, slots=True)
class Health:
    """The verdict and the one line that says it."""

    ok: bool
    line: str


def _ids(node: str | None, service: str | None) -> tuple[str, ...]:
    if node is not None and service is not None:
        raise ConfigError("give --node or --service, not both")
    if service is not None:
        if service not in SERVICES:
            raise ConfigError(f"--service must be one of {', '.join(SERVICES)}, got {service!r}")
        return SERVICES[service]
    if node is None:
        return ()
    try:
        topics.status_topic(node)
    except ValueError as exc:
        raise ConfigError(f"--node: {exc}") from None
    return (node,)


def _describe(state: dict[str, NodeStatus | None]) -> tuple[bool, str]:
    parts = []
    for service_id, status in state.items():
        if status is None:
            parts.append(f"{service_id} has no status")
        elif status.run_id is not None and status.state is NodeState.RUNNING:
            parts.append(f"{service_id} running (run {status.run_id})")
        else:
            parts.append(f"{service_id} {status.state}")
    ok = all(s is not None and s.state in _HEALTHY for s in state.values())
    return ok, ", ".join(parts)


async def _statuses(transport: Transport, ids: tuple[str, ...], client: str) -> dict[str, NodeStatus | None]:
    """The retained status of each id (None: none retained), read up to the probe's echo."""
    found: dict[str, NodeStatus | None] = dict.fromkeys(ids)
    status_topics = {topics.status_topic(i): i for i in ids}
    probe = topics.health_probe_topic(client)
    await transport.subscribe(*status_topics, probe)
    await transport.publish(probe, b"probe")
    async for received in transport.messages():
        if received.topic == probe:
            break
        service_id = status_topics.get(received.topic)
        if service_id is None or not received.payload:  # a cleared retained status: none
            continue
        try:
            body = Envelope.from_bytes(received.payload).body
        except MessageRejected:
            continue  # not a status we can read: counts as none
        if isinstance(body, NodeStatus):
            found[service_id] = body
    return found


async def check_health(
    broker_url: str, *, node: str | None = None, service: str | None = None, timeout_s: float = 5.0
) -> Health:
    """Whether the broker answers and, if asked, whether ``node``'s or ``service``'s status is healthy.

    Raises:
        ConfigError: a bad broker URL (or list of a cluster's members), node id or service name,
            both a node and a service, or a timeout that is not positive.
    """
    if not timeout_s > 0:
        raise ConfigError(f"--timeout must be > 0 s, got {timeout_s:g}")
    ids = _ids(node, service)
    # A cluster's members (URL1,URL2,...): the first that answers gives the verdict, since every
    # member keeps a copy of each retained status (grid.mqtt.rabbitmq).
    members = parse_cluster_urls(broker_url) if "," in broker_url else [parse_broker_url(broker_url)]
    client = f"gridsim-health-{os.urandom(4).hex()}"  # unique: healthchecks of many containers overlap
    url = f"mqtt://{members[0][0]}:{members[0][1]}"
    unavailable: list[str] = []
    try:
        async with asyncio.timeout(timeout_s):
            for host, port in members:
                url = f"mqtt://{host}:{port}"
                try:
                    async with Transport(
                        host=host, port=port, client_id=client, timeout_s=timeout_s
                    ) as transport:
                        if not ids:
                            return Health(True, f"healthy: broker {url} answers")
                        state = await _statuses(transport, ids, client)
                        break
                except BrokerUnavailable as exc:
                    unavailable.append(str(exc))
            else:
                return Health(False, f"unhealthy: {'; '.join(unavailable)}")
    except TimeoutError:
        return Health(False, f"unhealthy: no answer from the broker at {url} within {timeout_s:g} s")
    ok, said = _describe(state)
    return Health(ok, f"{'healthy' if ok else 'unhealthy'}: {said} on {url}")
