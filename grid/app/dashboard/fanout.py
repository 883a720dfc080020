"""One bounded queue per browser: the MQTT side never waits for a page.

A page that reads slowly (a busy tab, a slow link) or not at all fills its queue; then the oldest
events are dropped and counted, so the MQTT receive loop only ever appends.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Any

__all__ = ["CLIENT_QUEUE_MAX", "ClientQueue", "Fanout"]

Event = dict[str, Any]

# About 10 s of the swarm at 10x (a few hundred events a second); a page further behind than that
# is better served by the latest picture than by the whole backlog.
CLIENT_QUEUE_MAX = 4000


class ClientQueue:
    """A browser's pending events: append never blocks; full drops the oldest (counted)."""

    def __init__(self, maxlen: int = CLIENT_QUEUE_MAX) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be at least 1, got {maxlen}")
        self._events: deque[Event] = deque(maxlen=maxlen)
        self._ready = asyncio.Event()
        self.dropped = 0
        self.closed = False

    def put(self, events: Iterable[Event]) -> None:
        """Queue ``events``; the oldest go when the queue is full."""
        for event in events:
            if len(self._events) == self._events.maxlen:
                self.dropped += 1
            self._events.append(event)
        if self._events:
            self._ready.set()

    def close(self) -> None:
        """The server is stopping: :meth:`next_batch` returns what is left, then nothing."""
        self.closed = True
        self._ready.set()

    async def next_batch(self) -> list[Event]:
        """Every queued event, waiting for one; empty once closed and drained."""
        while not self._events and not self.closed:
            self._ready.clear()
            await self._ready.wait()
        batch = list(self._events)
        self._events.clear()
        return batch


class Fanout:
    """The set of connected browsers' queues."""

    def __init__(self) -> None:
        self._clients: set[ClientQueue] = set()
        self.dropped_by_gone = 0  # events dropped by pages that have since gone

    def __len__(self) -> int:
        return len(self._clients)

    def add(self, maxlen: int = CLIENT_QUEUE_MAX) -> ClientQueue:
        """A new browser's queue."""
        client = ClientQueue(maxlen)
        self._clients.add(client)
        return client

    def remove(self, client: ClientQueue) -> None:
        """A browser went away."""
        if client in self._clients:
            self._clients.discard(client)
            self.dropped_by_gone += client.dropped

    def publish(self, events: list[Event]) -> None:
        """Hand ``events`` to every browser (never waits)."""
        if events:
            for client in self._clients:
                client.put(events)

    @property
    def dropped(self) -> int:
        """Events dropped so far, over every page, gone or connected."""
        return self.dropped_by_gone + sum(c.dropped for c in self._clients)

    def close(self) -> None:
        """Close every queue: their streams end."""
        for client in self._clients:
            client.close()
