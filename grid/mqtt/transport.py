"""The MQTT edge: the only module that imports aiomqtt. Its errors become BrokerUnavailable here.

Every connection disables Nagle's algorithm (TCP_NODELAY): without it the first messages of a
connection wait up to ~40 ms and QoS 1 fan-out latency collapses.

A :class:`Transport` is one connection. Once it is lost (noticed by the receive loop, a publish,
or :meth:`Transport.abort`) every pending and later call raises :class:`BrokerUnavailable` at
once instead of waiting out the acknowledgement timeout; :mod:`grid.mqtt.session` reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import socket
import ssl
import typing
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, TypeVar

import aiomqtt
import paho.mqtt.client as mqtt

from grid.errors import BrokerUnavailable
from grid.mqtt.socket_driver import SocketDriver
from grid.security.tls import active_credentials

__all__ = [
    "BareClient",
    "Publisher",
    "Received",
    "Transport",
    "Will",
    "map_transport_errors",
    "topic_matches",
]


@dataclass(frozen=True, slots=True)
class Will:
    """The message the broker publishes for us if we vanish."""

    topic: str
    payload: bytes
    retain: bool = True
    qos: int = 1


class Publisher(Protocol):
    """Anything that publishes: a :class:`Transport`, or a reconnecting session."""

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish and, at QoS 1, wait for the broker's acknowledgement."""


@dataclass(frozen=True, slots=True)
class Received:
    """One message as it came off the broker."""

    topic: str
    payload: bytes
    retain: bool


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` matches ``topic_filter`` (MQTT 3.1.1, section 4.7), as paho decides it."""
    return bool(mqtt.topic_matches_sub(topic_filter, topic))


@contextlib.contextmanager
def map_transport_errors(url: str) -> Iterator[None]:
    """Turn aiomqtt's errors into :class:`BrokerUnavailable` naming the broker."""
    try:
        yield
    except aiomqtt.MqttError as exc:
        raise BrokerUnavailable(url, str(exc) or type(exc).__name__) from exc


class _Ack:
    """A pending QoS 1 publish: resolved True by the broker's PUBACK, False by a lost connection."""

    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[bool]) -> None:
        self.future = future

    def set(self) -> None:
        """Called by aiomqtt's on_publish in place of ``asyncio.Event.set``."""
        if not self.future.done():
            self.future.set_result(True)

    def fail(self) -> None:
        """The connection is gone: the acknowledgement will never come."""
        if not self.future.done():
            self.future.set_result(False)


log = logging.getLogger(__name__)

# paho logs each socket error it then reports to us as a lost connection; we log that once.
_paho_log = logging.getLogger("grid.mqtt.transport.paho")
_paho_log.setLevel(logging.CRITICAL)


def _quiet_socket_races(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    """Loop exception handler that demotes one known aiomqtt race to a debug line.

    aiomqtt registers a socket for writing through ``call_soon_threadsafe``; when the broker drops
    the connection first, the registration meets a closed descriptor (EBADF). The lost connection
    itself is reported by the receive loop, so the traceback says nothing new.
    """
    exc = context.get("exception")
    handle = repr(context.get("handle", ""))
    if (
        isinstance(exc, OSError)
        and exc.errno == errno.EBADF
        and ("add_writer" in handle or "add_reader" in handle)
    ):
        log.debug("socket closed before aiomqtt registered it: %s", exc)
        return
    loop.default_exception_handler(context)


def quiet_socket_races() -> None:
    """Install :func:`_quiet_socket_races` on the running loop (once; keeps any other handler)."""
    loop = asyncio.get_running_loop()
    if loop.get_exception_handler() is None:
        loop.set_exception_handler(_quiet_socket_races)


_T = TypeVar("_T")


class _Client(aiomqtt.Client):
    """aiomqtt's client, waiting with ``asyncio.timeout`` instead of ``asyncio.wait_for``.

    On Python 3.11 ``wait_for`` returns the result when what it awaits completes in the same
    loop iteration as a cancellation of the caller, and the cancellation is lost (gh-86296, fixed
    in 3.12). A stop signal landing just as a SUBACK or CONNACK arrived then left ``gridsim run``
    running on after "stopping". ``asyncio.timeout`` always delivers the cancellation.
    """

    # aiomqtt passes timeout= by keyword: its signature, kept.
    async def _wait_for(self, fut: typing.Awaitable[_T], timeout: float | None) -> _T:  # noqa: ASYNC109
        if timeout is None:
            timeout = self.timeout
        try:
            async with asyncio.timeout(None if timeout == math.inf else timeout):
                return await fut
        except TimeoutError:
            raise aiomqtt.MqttError("Operation timed out") from None

    def _on_disconnect(self, client: mqtt.Client, userdata: typing.Any, *args: typing.Any) -> None:
        # Dropped before the CONNACK (a broker refusing our TLS client certificate after a TLS 1.3
        # handshake, or one speaking no MQTT): fail the connect now instead of at its timeout.
        if not self._connected.done():
            over_tls = getattr(client, "_ssl_context", None) is not None
            hint = " (over TLS: was our client certificate refused?)" if over_tls else ""
            self._connected.set_exception(
                aiomqtt.MqttError(f"the broker closed the connection before accepting it{hint}")
            )
        super()._on_disconnect(client, userdata, *args)

    def _client_connect(self) -> None:
        # aiomqtt keeps only str() of a failed connect's OSError: say in words what TLS refused.
        try:
            super()._client_connect()
        except ssl.SSLError as exc:
            raise OSError(_tls_reason(exc)) from exc


def _tls_reason(exc: ssl.SSLError) -> str:
    """Why a TLS handshake failed, in words: the broker's certificate, or the broker refusing ours."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: the broker's certificate is not trusted ({exc.verify_message})"
    return f"TLS handshake failed ({exc.reason or exc})"


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
        clean_session: bool = True,
        connect_timeout_s: float | None = None,
        tls: ssl.SSLContext | None = None,
        manual_ack: bool = False,
    ) -> None:
        """One connection; with ``manual_ack`` a received QoS 1 message is acknowledged only when the
        consumer asks :meth:`messages` for the next one (it has handled this one), not on arrival."""
        # Secure mode: our own context, else the run's credentials (grid.security.tls), else plain TCP.
        credentials = active_credentials() if tls is None else None
        if credentials is not None:
            tls = credentials.context(client_id)
        self.url = f"{'mqtt' if tls is None else 'mqtts'}://{host}:{port}"
        self._manual_ack = manual_ack
        self.client_id = client_id
        self._lost: asyncio.Future[None] | None = None
        self._timeout_s = timeout_s
        self._client = _Client(
            host,
            port,
            identifier=client_id,
            will=None if will is None else aiomqtt.Will(will.topic, will.payload, will.qos, will.retain),
            keepalive=keepalive_s,
            logger=_paho_log,
            # Connecting (and subscribing); each QoS 1 acknowledgement waits timeout_s (publish).
            timeout=timeout_s if connect_timeout_s is None else connect_timeout_s,
            clean_session=clean_session,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            tls_context=tls,
        )
        if manual_ack:
            # paho acknowledges before the message is even queued for us: a consumer killed with
            # messages queued would lose them, acknowledged. aiomqtt does not pass the option on.
            self._client._client.manual_ack_set(True)
        SocketDriver(self._client._client, self._driver_failed).install()

    def _driver_failed(self, exc: BaseException) -> None:
        # What aiomqtt's own socket callbacks do with a broken pipe: end the connection with it.
        disconnected = self._client._disconnected
        if not disconnected.done():
            disconnected.set_exception(exc)

    async def __aenter__(self) -> Self:
        quiet_socket_races()
        with map_transport_errors(self.url):
            try:
                await self._client.__aenter__()
            except OSError as exc:  # refused before MQTT even starts
                raise BrokerUnavailable(self.url, exc.strerror or str(exc)) from exc
        self._lost = asyncio.get_running_loop().create_future()
        return self

    @property
    def is_lost(self) -> bool:
        """Whether this connection is known to be gone."""
        return self._lost is not None and self._lost.done()

    def _mark_lost(self) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
            for ack in list(self._client._pending_publishes.values()):
                if isinstance(ack, _Ack):
                    ack.fail()

    def abort(self) -> None:
        """Drop the connection without an MQTT DISCONNECT, so the broker publishes our last will."""
        self._mark_lost()
        # aiomqtt has no public abort; its paho client's socket is the connection itself.
        sock = self._client._client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # A lost connection is already being reported by whoever noticed it; do not mask that.
        with contextlib.suppress(aiomqtt.MqttError):
            await self._client.__aexit__(exc_type, exc, tb)

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish and, at QoS 1, wait for the broker's acknowledgement."""
        lost = self._lost
        if lost is None or lost.done():
            raise BrokerUnavailable(self.url, "connection lost")
        # aiomqtt's own publish costs two tasks per call (ours to race it against the lost
        # connection, and its wait_for); we hand paho the message and wait on one future instead,
        # which aiomqtt's acknowledgement callback and _mark_lost both resolve.
        info = self._client._client.publish(topic, payload, qos, retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self._mark_lost()
            raise BrokerUnavailable(self.url, f"could not publish: {mqtt.error_string(info.rc)}")
        if info.is_published():
            return
        ack = _Ack(asyncio.get_running_loop().create_future())
        pending = typing.cast(dict[int, _Ack], self._client._pending_publishes)
        pending[info.mid] = ack
        try:
            async with asyncio.timeout(self._timeout_s):
                acked = await ack.future
        except TimeoutError:
            self._mark_lost()
            raise BrokerUnavailable(self.url, "no acknowledgement: operation timed out") from None
        finally:
            if pending.get(info.mid) is ack:
                del pending[info.mid]
        if not acked:
            raise BrokerUnavailable(self.url, "connection lost before the broker acknowledged")

    async def subscribe(self, *filters: str, qos: int = 1) -> None:
        """Subscribe to topic filters (one round trip)."""
        with map_transport_errors(self.url):
            await self._client.subscribe([(f, qos) for f in filters])

    async def messages(self) -> AsyncIterator[Received]:
        """Every message received, in order, until the connection ends."""
        try:
            queue = self._client._queue
            with map_transport_errors(self.url):
                async for first in self._client.messages:
                    message = first
                    while True:
                        payload = message.payload
                        data = payload if isinstance(payload, bytes) else str(payload).encode()
                        yield Received(message.topic.value, data, bool(message.retain))
                        if self._manual_ack and message.qos > 0:
                            # Handled (the consumer is back for more): now the broker may forget it.
                            self._client._client.ack(message.mid, message.qos)
                        # aiomqtt's iterator costs a task and an asyncio.wait per message; what
                        # is already queued is taken directly.
                        try:
                            message = queue.get_nowait()
                        except asyncio.QueueEmpty:
                            break
        except BrokerUnavailable:
            self._mark_lost()
            raise


class BareClient:
    """aiomqtt as it comes, for the benches' raw-MQTT baseline.

    Its own publish, messages iterator and socket callbacks, with TCP_NODELAY as every gridsim
    connection has; none of :class:`Transport`'s plumbing (the batched :class:`SocketDriver`,
    the one-future publish), so the baseline is what a bare aiomqtt client achieves.
    """

    def __init__(self, *, host: str, port: int, client_id: str, timeout_s: float = 30.0) -> None:
        self.url = f"mqtt://{host}:{port}"
        self._client = aiomqtt.Client(
            host,
            port,
            identifier=client_id,
            logger=_paho_log,
            timeout=timeout_s,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )

    async def __aenter__(self) -> Self:
        quiet_socket_races()
        with map_transport_errors(self.url):
            await self._client.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            await self._client.__aexit__(exc_type, exc, tb)

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """aiomqtt's publish: at QoS 1 it waits for the broker's acknowledgement."""
        with map_transport_errors(self.url):
            await self._client.publish(topic, payload, qos=qos, retain=retain)

    async def subscribe(self, *filters: str, qos: int = 1) -> None:
        """Subscribe to topic filters (one round trip)."""
        with map_transport_errors(self.url):
            await self._client.subscribe([(f, qos) for f in filters])

    async def messages(self) -> AsyncIterator[Received]:
        """Every message received, through aiomqtt's own iterator."""
        with map_transport_errors(self.url):
            async for message in self._client.messages:
                payload = message.payload
                data = payload if isinstance(payload, bytes) else str(payload).encode()
                yield Received(message.topic.value, data, bool(message.retain))
