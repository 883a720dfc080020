"""A RabbitMQ cluster as the grid's broker: its MQTT plugin's quirks, designed for or refused.

RabbitMQ 3.10's MQTT plugin, measured on a three-member cluster (``tests/rabbitmq.py``):

* retained messages are stored per member: one published via member 1 is not seen by a new
  subscriber on member 2. A :class:`ClusterSession` therefore writes every retained message
  (control, status, results) to every member it can reach;
* a retained message is delivered only to an exact-topic subscription, not to a wildcard one:
  whoever reads statuses after the fact subscribes to each status topic by name, and the most
  recent run's summary is also kept on one exact topic (``grid/v1/results/latest``);
* ``.`` is a topic-level separator (MQTT ``/`` becomes AMQP ``.``), so ``a.b`` would match
  ``+/+``; gridsim ids may contain ``.`` (swarm members ``<id>.<k>``): refused, naming the id;
* ``*`` in a topic breaks aiomqtt clients: refused (gridsim's topic segments never have one);
* QoS 2 is silently downgraded to 1: refused;
* a persistent client whose member dies can resume its session on another member only if
  durable queues are quorum queues (``mqtt.durable_queue_type = quorum``); with classic queues
  messages acknowledged during the outage were lost. The cluster must be configured so;
* the last will of a client on a member that stops is never sent: nobody waits for one;
* right after a member dies, a CONNECT to a survivor can go unanswered for a long time (30 s
  seen): a cluster session gives up on one after 10 s and tries the next member.

A participant is given every member's address, its own first (nodes spread round-robin over
the members, :func:`member_for`), and fails over to the next one when its member dies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import Self

from grid.errors import BrokerUnavailable, ConfigError
from grid.mqtt.address import parse_broker_url
from grid.mqtt.session import OnConnect, Session, SessionFactory
from grid.mqtt.transport import Received, Transport, Will

__all__ = [
    "ClusterSession",
    "UnsupportedOnBroker",
    "check_ids",
    "check_topic",
    "cluster_sessions",
    "member_for",
    "parse_cluster_urls",
]

log = logging.getLogger(__name__)

_REPLICA_TIMEOUT_S = 5.0
# Right after a member dies, a CONNECT to a survivor was seen unanswered for 30 s (aiomqtt's
# default) while the cluster recovered; giving up sooner moves on to the next member.
_CONNECT_TIMEOUT_S = 10.0


class UnsupportedOnBroker(ConfigError):
    """Something gridsim was asked to do that the broker (RabbitMQ's MQTT plugin) gets wrong."""


def check_ids(ids: Iterable[str]) -> None:
    """Refuse ids that RabbitMQ would split into topic levels (``.``) or mangle (``*``)."""
    bad = sorted(i for i in ids if "." in i or "*" in i)
    if bad:
        raise UnsupportedOnBroker(
            f"id {bad[0]!r} contains '.' or '*', which RabbitMQ's MQTT plugin treats as a topic "
            f"separator or wildcard (ids refused: {', '.join(bad)}); rename it, or use Mosquitto"
        )


def check_topic(topic: str) -> str:
    """``topic`` unchanged, or :class:`UnsupportedOnBroker` when RabbitMQ would misroute it."""
    if "." in topic or "*" in topic:
        raise UnsupportedOnBroker(
            f"topic {topic!r} contains '.' or '*': RabbitMQ's MQTT plugin would route it as other levels"
        )
    return topic


def parse_cluster_urls(text: str | Sequence[str]) -> list[tuple[str, int]]:
    """Members' addresses from ``URL1,URL2,...`` (or a list of URLs), in order, without repeats."""
    urls = [u.strip() for u in text.split(",")] if isinstance(text, str) else [u.strip() for u in text]
    members: list[tuple[str, int]] = []
    for url in urls:
        if not url:
            raise ConfigError(f"broker list {text!r}: an empty URL")
        member = parse_broker_url(url)
        if member not in members:
            members.append(member)
    if not members:
        raise ConfigError("broker list: no URL")
    return members


def member_for(service_id: str, ids: Sequence[str], members: int) -> int:
    """The member (0-based) ``service_id`` connects to first: round-robin over the sorted ``ids``."""
    ordered = sorted(ids)
    return (ordered.index(service_id) if service_id in ordered else 0) % members


class ClusterSession:
    """A :class:`Session` on one member, failing over to the others; retained messages go to all.

    It refuses what RabbitMQ would get wrong (QoS 2, ``.`` or ``*`` in a topic) with
    :class:`UnsupportedOnBroker` rather than let a message go astray.
    """

    def __init__(
        self,
        members: Sequence[tuple[str, int]],
        *,
        first: int,
        client_id: str,
        will: Will | None = None,
        subscriptions: Sequence[str] = (),
        on_connect: OnConnect | None = None,
    ) -> None:
        if will is not None:
            check_topic(will.topic)
        for f in subscriptions:
            check_topic(f)
        self._members = [*members[first:], *members[:first]]
        host, port = self._members[0]
        self.client_id = client_id
        self.replica_failures = 0  # retained copies a member did not take (it was down)
        self._session = Session(
            host=host,
            port=port,
            client_id=client_id,
            will=will,
            subscriptions=subscriptions,
            on_connect=self._replicated(on_connect),
            fallbacks=self._members[1:],
            connect_timeout_s=_CONNECT_TIMEOUT_S,
        )
        self._background: set[asyncio.Task[None]] = set()
        self._copies = 0

    def _replicated(self, on_connect: OnConnect | None) -> OnConnect | None:
        """``on_connect``, with its retained messages also copied to the other members."""
        if on_connect is None:
            return None

        def messages() -> Sequence[tuple[str, bytes, bool]]:
            sent = on_connect()
            for topic, payload, retain in sent:
                if retain:
                    task = asyncio.get_running_loop().create_task(self._copy_to_others(topic, payload))
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)
            return sent

        return messages

    @property
    def reconnects(self) -> int:
        """How many times the connection came back after it was lost."""
        return self._session.reconnects

    @property
    def failovers(self) -> int:
        """How many of those reconnects went to another member."""
        return self._session.failovers

    @property
    def connected(self) -> bool:
        """Whether a connection is up right now."""
        return self._session.connected

    @property
    def url(self) -> str:
        """The member connected to (or being connected to)."""
        return self._session.url

    async def __aenter__(self) -> Self:
        await self._session.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._session.__aexit__(exc_type, exc, tb)

    def hold(self) -> None:
        """Drop the connection as if the network failed (the broker sends our will); stay down."""
        self._session.hold()

    def release(self) -> None:
        """Let the session reconnect after :meth:`hold`."""
        self._session.release()

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish via our member; a retained message also to every other member that is up."""
        check_topic(topic)
        if qos > 1:
            raise UnsupportedOnBroker(f"QoS {qos} on {topic!r}: RabbitMQ's MQTT plugin downgrades QoS 2 to 1")
        await self._session.publish(topic, payload, qos=qos, retain=retain)
        if retain:
            await self._copy_to_others(topic, payload)

    async def _copy_to_others(self, topic: str, payload: bytes) -> None:
        """The retained message on every member but ours (each keeps its own retained store).

        A short clean connection each: retained messages are few (control, status, results). A
        member that is down misses the copy, counted; it comes back without its retained store
        anyway unless it was only partitioned.
        """
        current = (self._session.host, self._session.port)
        self._copies += 1
        client_id = f"{self.client_id}-copy{self._copies}"  # copies may overlap: one id each
        for host, port in self._members:
            if (host, port) == current:
                continue
            try:
                async with (
                    asyncio.timeout(_REPLICA_TIMEOUT_S),
                    Transport(host=host, port=port, client_id=client_id) as copy,
                ):
                    await copy.publish(topic, payload, retain=True)
            except (BrokerUnavailable, TimeoutError):
                self.replica_failures += 1
                log.debug("%s: retained %s not copied to %s:%d", self.client_id, topic, host, port)

    async def subscribe(self, *filters: str, qos: int = 1) -> None:
        """Subscribe now and again on every reconnect."""
        for f in filters:
            check_topic(f)
        if qos > 1:
            raise UnsupportedOnBroker(f"QoS {qos}: RabbitMQ's MQTT plugin downgrades QoS 2 to 1")
        await self._session.subscribe(*filters, qos=qos)

    def messages(self) -> AsyncIterator[Received]:
        """Every message received, across reconnects and failovers, until the session closes."""
        return self._session.messages()


def cluster_sessions(members: Sequence[tuple[str, int]], *, first: int) -> SessionFactory:
    """A factory of :class:`ClusterSession` s starting on member ``first`` (0-based)."""
    if not 0 <= first < len(members):
        raise ConfigError(f"member {first} of a cluster of {len(members)}")

    def make(
        *,
        client_id: str,
        will: Will | None = None,
        subscriptions: Sequence[str] = (),
        on_connect: OnConnect | None = None,
    ) -> ClusterSession:
        return ClusterSession(
            members,
            first=first,
            client_id=client_id,
            will=will,
            subscriptions=subscriptions,
            on_connect=on_connect,
        )

    return make
