"""The events waiting for the TAK endpoint: at most one per track, the newest.

While the endpoint is down (or slow) a track's newer update replaces its waiting one, since a
TAK map shows where a track is, not where it was: the backlog is bounded by the number of tracks,
and nothing is lost but superseded positions, which are counted. A drop event replaces a waiting
update too, so a deleted track is never left on the map. Events go out in the order their tracks
first queued.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

__all__ = ["Outbox"]

_T = TypeVar("_T")


class Outbox(Generic[_T]):
    """Per-track latest events (any value type), taken out in arrival order; one consumer."""

    def __init__(self) -> None:
        self._pending: dict[str, _T] = {}
        self._ready = asyncio.Event()
        self.superseded = 0  # waiting events replaced by a newer one of the same track

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, uid: str, event: _T) -> None:
        """Queue ``event`` for track ``uid``, replacing the one still waiting, if any."""
        if uid in self._pending:
            self.superseded += 1
        self._pending[uid] = event
        self._ready.set()

    def put_back(self, uid: str, event: _T) -> None:
        """A taken event whose sending failed: queued again unless a newer one is already waiting."""
        if uid in self._pending:
            self.superseded += 1
            return
        self._pending[uid] = event
        self._ready.set()

    async def get(self) -> tuple[str, _T]:
        """The oldest waiting track's event, once there is one."""
        while not self._pending:
            self._ready.clear()
            await self._ready.wait()
        uid = next(iter(self._pending))
        return uid, self._pending.pop(uid)
