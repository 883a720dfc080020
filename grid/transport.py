"""The MQTT edge: the only module that imports aiomqtt. Its errors become BrokerUnavailable here.

Every connection disables Nagle's algorithm (TCP_NODELAY): without it the first messages of a
connection wait up to ~40 ms and QoS 1 fan-out latency collapses.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import aiomqtt

from grid.errors import BrokerUnavailable

__all__ = ["Received", "Transport", "Will", "map_transport_errors"]


@dataclass(frozen=True, slots=True)
class Will:
    """The message the broker publishes for us if we vanish."""

    topic: str
    payload: bytes
    retain: bool = True
    qos: int = 1


@dataclass(frozen=True, slots=True)
class Received:
    """One message as it came off the broker."""

    topic: str
    payload: bytes
    retain: bool


@contextlib.contextmanager
def map_transport_errors(url: str) -> Iterator[None]:
    """Turn aiomqtt's errors into :class:`BrokerUnavailable` naming the broker."""
    try:
        yield
    except aiomqtt.MqttError as exc:
        raise BrokerUnavailable(url, str(exc) or type(exc).__name__) from exc


class Transport:
    """One MQTT client connection, owned by an ``async with`` block."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        will: Will | None = None,
        keepalive_s: int = 10,
        timeout_s: float = 30.0,
    ) -> None:
        self.url = f"mqtt://{host}:{port}"
        self.client_id = client_id
        self._client = aiomqtt.Client(
            host,
            port,
            identifier=client_id,
            will=None if will is None else aiomqtt.Will(will.topic, will.payload, will.qos, will.retain),
            keepalive=keepalive_s,
            timeout=timeout_s,  # connecting, and each QoS 1 acknowledgement under load
            clean_session=True,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )

    async def __aenter__(self) -> Self:
        with map_transport_errors(self.url):
            try:
                await self._client.__aenter__()
            except OSError as exc:  # refused before MQTT even starts
                raise BrokerUnavailable(self.url, exc.strerror or str(exc)) from exc
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # A lost connection is already being reported by whoever noticed it; do not mask that.
        with contextlib.suppress(aiomqtt.MqttError):
            await self._client.__aexit__(exc_type, exc, tb)

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish and, at QoS 1, wait for the broker's acknowledgement."""
        with map_transport_errors(self.url):
            await self._client.publish(topic, payload, qos=qos, retain=retain)

    async def subscribe(self, *filters: str, qos: int = 1) -> None:
        """Subscribe to topic filters (one round trip)."""
        with map_transport_errors(self.url):
            await self._client.subscribe([(f, qos) for f in filters])

    async def messages(self) -> AsyncIterator[Received]:
        """Every message received, in order, until the connection ends."""
        with map_transport_errors(self.url):
            async for message in self._client.messages:
                payload = message.payload
                data = payload if isinstance(payload, bytes) else str(payload).encode()
                yield Received(message.topic.value, data, bool(message.retain))
