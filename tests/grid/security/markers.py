"""Reading a subscription up to a marker message: how the attack tests know a refused publish is
not merely late (the marker, sent after it by an allowed client, arrived first)."""

from __future__ import annotations

import asyncio
import contextlib
import typing
from collections.abc import AsyncGenerator

from grid.mqtt.transport import Received, Transport

__all__ = ["until_marker"]


async def until_marker(subscriber: Transport, marker: bytes, *, timeout_s: float) -> list[Received]:
    """Every message ``subscriber`` receives up to and including the one carrying ``marker``
    (``timeout_s``: a generous bound on its arrival, never a verdict)."""
    got: list[Received] = []
    # Transport.messages is an async generator: closed here, not whenever it is collected.
    stream = typing.cast(AsyncGenerator[Received, None], subscriber.messages())
    async with asyncio.timeout(timeout_s), contextlib.aclosing(stream) as messages:
        async for message in messages:
            got.append(message)
            if message.payload == marker:
                return got
    raise AssertionError("the connection ended before the marker arrived")
