"""An in-process broker and its sessions, for unit tests of grid participants without a broker.

:class:`MemorySession` has the interface of :class:`grid.mqtt.session.Session`
(:class:`~grid.mqtt.session.BrokerSession`); :meth:`MemoryBroker.session` is a
:class:`~grid.mqtt.session.SessionFactory`. What it models, and nothing more:

- topic filters with ``+`` and ``#`` (a wildcard never matches a topic starting with ``$``);
- retained messages, sent on subscribing and cleared by an empty retained payload;
- per-session queues, each message delivered once to each session it matches, in publish order
  (the publisher too, if subscribed, as in MQTT 3.1.1);
- a persistent session: :meth:`MemorySession.hold` publishes the last will and queues what
  arrives meanwhile; :meth:`MemorySession.release` reconnects (the queue, the retained messages
  its re-subscription brings, then its on-connect messages);
- the last will on an exit with an error, as after a crash.

Delivery is synchronous and lossless (QoS is accepted and ignored), so tests are deterministic.
It is never used for end-to-end tests: those run on real brokers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self

from grid.errors import BrokerUnavailable
from grid.mqtt.session import OnConnect, SessionFactory
from grid.mqtt.transport import Received, Will, topic_matches

__all__ = ["MEMORY_URL", "MemoryBroker", "MemorySession", "check_filter", "topic_matches"]

MEMORY_URL = "memory://"


def check_filter(topic_filter: str) -> str:
    """``topic_filter`` if it is a valid MQTT filter, else ValueError saying why."""
    if not topic_filter:
        raise ValueError("empty topic filter")
    levels = topic_filter.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise ValueError(f"'#' must be a whole last level: {topic_filter!r}")
        if "+" in level and level != "+":
            raise ValueError(f"'+' must be a whole level: {topic_filter!r}")
    return topic_filter


class MemoryBroker:
    """Routes messages between :class:`MemorySession` s in this process."""

    def __init__(self) -> None:
        self.history: list[Received] = []  # every publish, in order, as published
        self._retained: dict[str, bytes] = {}
        self._sessions: dict[str, MemorySession] = {}

    def session(
        self,
        *,
        client_id: str,
        will: Will | None = None,
        subscriptions: Sequence[str] = (),
        on_connect: OnConnect | None = None,
    ) -> MemorySession:
        """A session on this broker, not yet entered (a :class:`~grid.mqtt.session.SessionFactory`)."""
        return MemorySession(
            self, client_id=client_id, will=will, subscriptions=subscriptions, on_connect=on_connect
        )

    def retained(self, topic: str) -> bytes | None:
        """The message retained on ``topic``, if any."""
        return self._retained.get(topic)

    def published(self, topic_filter: str) -> list[Received]:
        """Every message published so far on a topic matching ``topic_filter``."""
        return [r for r in self.history if topic_matches(topic_filter, r.topic)]

    def route(self, topic: str, payload: bytes, *, retain: bool) -> None:
        """Deliver one publish to every session subscribed to it."""
        if "+" in topic or "#" in topic or not topic:
            raise ValueError(f"cannot publish to {topic!r}")
        self.history.append(Received(topic, payload, retain))
        if retain:
            if payload:
                self._retained[topic] = payload
            else:
                self._retained.pop(topic, None)
        for session in self._sessions.values():
            session.offer(Received(topic, payload, False))

    def retained_for(self, filters: Sequence[str]) -> list[Received]:
        """The retained messages a subscription to ``filters`` sends, each once."""
        return [
            Received(topic, payload, True)
            for topic, payload in self._retained.items()
            if any(topic_matches(f, topic) for f in filters)
        ]

    def attach(self, session: MemorySession) -> None:
        """Register a session that connects; a client id may be connected only once."""
        if session.client_id in self._sessions:
            raise ValueError(f"client id {session.client_id!r} is already connected")
        self._sessions[session.client_id] = session

    def detach(self, session: MemorySession) -> None:
        """Forget a session that left."""
        if self._sessions.get(session.client_id) is session:
            del self._sessions[session.client_id]


class MemorySession:
    """One client's session on a :class:`MemoryBroker`, owned by an ``async with`` block."""

    def __init__(
        self,
        broker: MemoryBroker,
        *,
        client_id: str,
        will: Will | None = None,
        subscriptions: Sequence[str] = (),
        on_connect: OnConnect | None = None,
    ) -> None:
        self.broker = broker
        self.client_id = client_id
        self.reconnects = 0
        self.failovers = 0  # one broker: never
        self._will = will
        self._subscriptions = [check_filter(f) for f in subscriptions]
        self._on_connect = on_connect
        self._inbox: asyncio.Queue[Received | None] = asyncio.Queue()  # None: the session closed
        self._held: list[Received] | None = None  # while held: what the broker queued for us
        self._released = asyncio.Event()
        self._released.set()
        self._open = False

    @property
    def connected(self) -> bool:
        """Whether the session is entered and not held."""
        return self._open and self._held is None

    async def __aenter__(self) -> Self:
        self.broker.attach(self)
        self._open = True
        self._greet([])
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        crashed = exc_type is not None and not issubclass(
            exc_type, asyncio.CancelledError | KeyboardInterrupt
        )
        if crashed and self.connected:
            self._publish_will()
        self._open = False
        self.broker.detach(self)
        self._released.set()  # publishers waiting on a hold give up
        self._inbox.put_nowait(None)

    def _greet(self, queued: list[Received]) -> None:
        """What a (re)connection does, in a real session's order: subscribe, then say hello."""
        for received in [*queued, *self.broker.retained_for(self._subscriptions)]:
            self._inbox.put_nowait(received)
        for topic, payload, retain in self._on_connect() if self._on_connect is not None else ():
            self.broker.route(topic, payload, retain=retain)

    def _publish_will(self) -> None:
        if self._will is not None:
            self.broker.route(self._will.topic, self._will.payload, retain=self._will.retain)

    def offer(self, received: Received) -> None:
        """Called by the broker: take ``received`` if a subscription matches it."""
        if not self._open or not any(topic_matches(f, received.topic) for f in self._subscriptions):
            return
        if self._held is not None:
            self._held.append(received)
        else:
            self._inbox.put_nowait(received)

    def hold(self) -> None:
        """Drop the connection as if the network failed: the broker publishes the will."""
        if not self.connected:
            return
        self._held = []
        self._released.clear()
        self._publish_will()

    def release(self) -> None:
        """Reconnect after :meth:`hold`."""
        if self._held is None:
            return
        queued, self._held = self._held, None
        self.reconnects += 1
        self._released.set()
        self._greet(queued)

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish (waiting through a hold, as a real session waits for its reconnection)."""
        del qos  # delivery here is always once and in order
        await self._released.wait()
        if not self._open:
            raise BrokerUnavailable(MEMORY_URL, f"session {self.client_id!r} is not open")
        self.broker.route(topic, payload, retain=retain)
        await asyncio.sleep(0)  # a publish is a suspension point, as on a real broker

    async def subscribe(self, *filters: str, qos: int = 1) -> None:
        """Subscribe; the retained messages of the new filters are delivered at once."""
        del qos
        new = [check_filter(f) for f in filters if f not in self._subscriptions]
        self._subscriptions += new
        if self.connected:
            for received in self.broker.retained_for(new):
                self._inbox.put_nowait(received)
        await asyncio.sleep(0)

    async def messages(self) -> AsyncIterator[Received]:
        """Every message delivered to this session, until it closes."""
        while (received := await self._inbox.get()) is not None:
            yield received
        self._inbox.put_nowait(None)  # so that a later iteration ends at once too


if TYPE_CHECKING:  # mypy checks that this is a session factory and MemorySession a BrokerSession
    _factory: SessionFactory = MemoryBroker().session
