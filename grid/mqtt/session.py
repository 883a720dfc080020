"""An MQTT session that outlives its connections: reconnects, persistent subscriptions, no loss.

A :class:`Session` is what grid participants hold instead of a bare :class:`Transport`. When the
connection is lost (a broker restart, a dropped link) the first caller to notice reconnects with
backoff; publishes wait for the new connection and are then sent, and the receive iterator goes
on with the new connection. The broker keeps the session (``clean_session=False``), so QoS 1
messages published while we were away are queued for us: with Mosquitto's persistence that holds
across a broker restart too.

The session starts clean (a throw-away clean connection wipes what an earlier process with the
same client id left on the broker) and is wiped again on a clean exit, so a long-lived external
broker does not keep queueing for participants that are gone. With ``resume`` it starts on what
the broker kept instead: a process restarted after a crash (the fusion centre's, killed) gets
what was queued for it meanwhile. With ``manual_ack`` a message is acknowledged only once the
consumer has handled it (:class:`~grid.mqtt.transport.Transport`), so a crash loses none.

:meth:`Session.hold` drops the connection without a DISCONNECT, so the broker publishes the last
will, and keeps it down until :meth:`Session.release`: that is a node outage.

With ``fallbacks`` (other members of a broker cluster) a reconnect that fails moves on to the
next member, round the list; :attr:`Session.failovers` counts the reconnects that landed on
another member than the one lost.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import Protocol, Self

from grid.errors import BrokerUnavailable
from grid.mqtt.transport import Received, Transport, Will

__all__ = ["BrokerSession", "OnConnect", "Session", "SessionFactory", "broker_sessions"]

log = logging.getLogger(__name__)

# Messages to publish first on every new connection (topic, payload, retain): e.g. a status that
# replaces the last will the broker published while we were gone.
OnConnect = Callable[[], Sequence[tuple[str, bytes, bool]]]


class BrokerSession(Protocol):
    """What a grid participant needs of its session: :class:`Session`, or the in-memory one."""

    @property
    def reconnects(self) -> int:
        """How many times the connection came back after it was lost."""
        ...

    @property
    def failovers(self) -> int:
        """How many of those reconnects went to another member of a broker cluster."""
        ...

    @property
    def connected(self) -> bool:
        """Whether a connection is up right now."""
        ...

    async def __aenter__(self) -> Self:
        """Connect, subscribe and send the on-connect messages."""
        ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Disconnect; messages() ends."""
        ...

    def hold(self) -> None:
        """Drop the connection as if the network failed (the broker sends our will); stay down."""
        ...

    def release(self) -> None:
        """Let the session reconnect after :meth:`hold`."""
        ...

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish, waiting through reconnects until the broker has it."""
        ...

    async def subscribe(self, *filters: str, qos: int = 1) -> None:
        """Subscribe now and again on every reconnect."""
        ...

    def messages(self) -> AsyncIterator[Received]:
        """Every message received, across reconnects, until the session closes."""
        ...


class SessionFactory(Protocol):
    """Makes a participant's session: :func:`broker_sessions` for a real broker."""

    def __call__(
        self,
        *,
        client_id: str,
        will: Will | None = None,
        subscriptions: Sequence[str] = (),
        on_connect: OnConnect | None = None,
    ) -> BrokerSession:
        """A session for ``client_id``, not yet entered."""
        ...


_SETUP_TIMEOUT_S = 5.0
_SETUP_ATTEMPTS = 3
_BACKOFF_FIRST_S = 0.05
_BACKOFF_MAX_S = 0.25  # loopback reconnect attempts are cheap; a long wait is lost simulation time


class _SetupTimeout(BrokerUnavailable):
    """The broker accepted the connection but did not acknowledge our subscriptions in time."""


class Session:
    """A persistent MQTT session over successive connections, owned by an ``async with`` block."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        will: Will | None = None,
        subscriptions: Sequence[str] = (),
        on_connect: OnConnect | None = None,
        give_up_after_s: float = 120.0,
        fallbacks: Sequence[tuple[str, int]] = (),
        connect_timeout_s: float | None = None,
        resume: bool = False,
        manual_ack: bool = False,
    ) -> None:
        self._resume = resume
        self._manual_ack = manual_ack
        self.host = host
        self.port = port
        self.url = f"mqtt://{host}:{port}"
        self.client_id = client_id
        self.reconnects = 0
        self.failovers = 0
        self._members = [(host, port), *(m for m in fallbacks if m != (host, port))]
        self._connect_timeout_s = connect_timeout_s
        self._member = 0
        self._will = will
        self._subscriptions: list[str] = list(subscriptions)
        self._on_connect = on_connect
        self._give_up_after_s = give_up_after_s
        self._transport: Transport | None = None
        self._lock = asyncio.Lock()
        self._released = asyncio.Event()
        self._released.set()
        self._closing = False
        self._failure: BrokerUnavailable | None = None
        self._jitter = random.Random(client_id)

    # ------------------------------------------------------------------------------ lifetime

    async def __aenter__(self) -> Self:
        # A cluster member that is down at start is skipped: the first one that answers serves.
        for member in range(len(self._members)):
            try:
                await self._open()
                return self
            except BrokerUnavailable:
                if member == len(self._members) - 1:
                    raise
                log.info("%s: %s unavailable, trying the next member", self.client_id, self.url)
                self._next_member()
        return self

    async def _open(self) -> None:
        # Wipe whatever an earlier process left under this client id, then start a persistent one.
        if not self._resume:
            async with self._new_transport(clean=True, will=None):
                pass
        for attempt in range(_SETUP_ATTEMPTS):
            try:
                self._transport = await self._connect()
                break
            except _SetupTimeout as exc:
                if attempt == _SETUP_ATTEMPTS - 1:
                    raise
                log.warning("%s: %s; reconnecting", self.client_id, exc)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing = True
        self._released.set()
        transport, self._transport = self._transport, None
        if transport is None:
            return
        await transport.__aexit__(exc_type, exc, tb)
        if exc_type is None or issubclass(exc_type, asyncio.CancelledError | KeyboardInterrupt):
            # A clean goodbye: do not leave a persistent session queueing for nobody.
            try:
                async with asyncio.timeout(2.0), self._new_transport(clean=True, will=None):
                    pass
            except (BrokerUnavailable, TimeoutError):
                log.debug("%s: could not wipe the session on exit", self.client_id)

    def _new_transport(self, *, clean: bool, will: Will | None) -> Transport:
        return Transport(
            host=self.host,
            port=self.port,
            client_id=self.client_id,
            will=will,
            clean_session=clean,
            connect_timeout_s=self._connect_timeout_s,
            manual_ack=self._manual_ack and not clean,
        )

    async def _connect(self) -> Transport:
        """One persistent connection with every subscription and the on-connect messages sent."""
        transport = self._new_transport(clean=False, will=self._will)
        await transport.__aenter__()
        try:
            # A broker can accept a connection and then never serve it (amqtt 0.12's own script
            # does when many clients reconnect at once, see grid.mqtt.amqtt_broker): give up on
            # this one and try again rather than wait.
            async with asyncio.timeout(_SETUP_TIMEOUT_S):
                if self._subscriptions:
                    await transport.subscribe(*self._subscriptions)
                for topic, payload, retain in self._on_connect() if self._on_connect is not None else ():
                    await transport.publish(topic, payload, retain=retain)
        except TimeoutError:
            transport.abort()
            await transport.__aexit__(None, None, None)
            raise _SetupTimeout(
                self.url, f"connected, but not served within {_SETUP_TIMEOUT_S:g} s"
            ) from None
        except BaseException:
            await transport.__aexit__(None, None, None)
            raise
        return transport

    # ---------------------------------------------------------------------------- connection

    @property
    def connected(self) -> bool:
        """Whether a connection is up right now."""
        return self._transport is not None and not self._transport.is_lost

    def hold(self) -> None:
        """Drop the connection as if the network failed (the broker sends our will); stay down."""
        self._released.clear()
        if self._transport is not None:
            self._transport.abort()

    def release(self) -> None:
        """Let the session reconnect after :meth:`hold`."""
        self._released.set()

    async def _recover(self, failed: Transport) -> Transport:
        """The connection that replaces ``failed`` (made here unless another caller already did)."""
        async with self._lock:
            if self._failure is not None:
                raise self._failure
            current = self._transport
            if current is not None and current is not failed and not current.is_lost:
                return current
            if self._closing:
                raise BrokerUnavailable(self.url, "session closed")
            if current is not None:
                # Callers meanwhile still see the lost transport, fail on it and queue up here.
                await current.__aexit__(None, None, None)
            lost_member = self._member
            try:
                self._transport = await self._reconnect()
            except BrokerUnavailable as exc:
                self._failure = exc
                raise
            self.reconnects += 1
            if self._member != lost_member:
                self.failovers += 1
            return self._transport

    async def _reconnect(self) -> Transport:
        await self._released.wait()
        deadline = time.monotonic() + self._give_up_after_s
        delay = _BACKOFF_FIRST_S
        while True:
            if self._closing:
                raise BrokerUnavailable(self.url, "session closed")
            try:
                transport = await self._connect()
            except BrokerUnavailable as exc:
                if isinstance(exc, _SetupTimeout):
                    # A broker fault, not an outage: say so, it costs the node those seconds.
                    log.warning("%s: %s; reconnecting", self.client_id, exc)
                if time.monotonic() >= deadline:
                    raise BrokerUnavailable(
                        self.url, f"connection lost and not back within {self._give_up_after_s:g} s ({exc})"
                    ) from exc
                if len(self._members) > 1:
                    self._next_member()
                # Jittered, so a grid that lost its broker does not come back all in one instant.
                await asyncio.sleep(delay * (0.5 + self._jitter.random()))
                delay = min(2 * delay, _BACKOFF_MAX_S)
                await self._released.wait()
                continue
            log.info("%s reconnected to %s", self.client_id, self.url)
            return transport

    def _next_member(self) -> None:
        """Point the next connection at the next member of the cluster."""
        self._member = (self._member + 1) % len(self._members)
        self.host, self.port = self._members[self._member]
        self.url = f"mqtt://{self.host}:{self.port}"

    def _current(self) -> Transport:
        if self._transport is None:
            raise BrokerUnavailable(self.url, "not connected")
        return self._transport

    # ------------------------------------------------------------------------------- traffic

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish, waiting through reconnects until the broker has it (QoS 1)."""
        transport = self._current()
        while True:
            try:
                await transport.publish(topic, payload, qos=qos, retain=retain)
                return
            except BrokerUnavailable:
                transport = await self._recover(transport)

    async def subscribe(self, *filters: str, qos: int = 1) -> None:
        """Subscribe now and again on every reconnect."""
        self._subscriptions += [f for f in filters if f not in self._subscriptions]
        transport = self._current()
        while True:
            try:
                await transport.subscribe(*filters, qos=qos)
                return
            except BrokerUnavailable:
                transport = await self._recover(transport)

    async def messages(self) -> AsyncIterator[Received]:
        """Every message received, across reconnects, until the session closes or gives up."""
        transport = self._current()
        while True:
            try:
                async for received in transport.messages():
                    yield received
                return
            except BrokerUnavailable:
                if self._closing:
                    return
            try:
                transport = await self._recover(transport)
            except BrokerUnavailable:
                if self._closing:
                    return
                raise


def broker_sessions(
    host: str, port: int, *, resume: bool = False, manual_ack: bool = False
) -> SessionFactory:
    """A factory of :class:`Session` s on the broker at ``host:port`` (``resume``, ``manual_ack``: see
    :class:`Session`)."""

    def make(
        *,
        client_id: str,
        will: Will | None = None,
        subscriptions: Sequence[str] = (),
        on_connect: OnConnect | None = None,
    ) -> Session:
        return Session(
            host=host,
            port=port,
            client_id=client_id,
            will=will,
            subscriptions=subscriptions,
            on_connect=on_connect,
            resume=resume,
            manual_ack=manual_ack,
        )

    return make
