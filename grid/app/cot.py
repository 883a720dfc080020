"""``gridsim cot``: fused tracks from the broker to a TAK endpoint as Cursor-on-Target events.

Subscribes to ``grid/v1/tracks`` and sends one CoT event per track update (a drop event when a
track is deleted) over pytak's TCP or UDP (multicast ``udp://239.2.3.1:6969``, ATAK's mesh default)
client. A message that is not a readable track is counted under its reason and skipped.
"""

from __future__ import annotations

import configparser
import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from grid.cot.events import to_cot
from grid.errors import ConfigError, MessageRejected
from grid.mqtt.address import parse_broker_url
from grid.mqtt.transport import Transport
from grid.wire import topics
from grid.wire.messages import Envelope, FusedTrack

__all__ = ["DEFAULT_STALE_S", "CotStats", "check_tak_url", "run_cot"]

log = logging.getLogger(__name__)
DEFAULT_STALE_S = 30.0  # a few of the air picture's update periods (grid.participants.air_picture)


@dataclass(slots=True)
class CotStats:
    """What a run of the bridge did."""

    tracks: int = 0
    events: int = 0
    drops: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


def check_tak_url(url: str) -> str:
    """``url`` if it is ``tcp://host:port`` or ``udp://host:port``, else :class:`ConfigError`."""
    parsed = urlparse(url)
    if parsed.scheme not in ("tcp", "udp") or not parsed.hostname:
        raise ConfigError(f"--tak must be tcp://host:port or udp://host:port, got {url!r}")
    try:
        port = parsed.port
    except ValueError:
        port = None
    if port is None:
        raise ConfigError(f"--tak needs a port, got {url!r}")
    return url


async def _tak_writer(url: str) -> Any:
    import pytak  # here: it loads its TLS helpers; the other commands start without it

    config = configparser.ConfigParser()
    config["gridsim"] = {"COT_URL": url}
    try:
        _, writer = await pytak.protocol_factory(config["gridsim"])
    except OSError as exc:
        raise ConfigError(f"TAK endpoint {url} unreachable: {exc}") from None
    return writer


async def _send(writer: Any, data: bytes) -> None:
    if hasattr(writer, "drain"):  # TCP: an asyncio StreamWriter
        writer.write(data)
        await writer.drain()
    else:  # UDP: pytak's datagram client
        await writer.send(data)


def _close(writer: Any) -> None:
    close = getattr(writer, "close", None)
    if close is not None:
        close()


async def run_cot(
    broker_url: str,
    tak_url: str,
    *,
    stale_s: float = DEFAULT_STALE_S,
    stats: CotStats | None = None,
    on_event: Callable[[bytes], None] | None = None,
) -> CotStats:
    """Bridge tracks to ``tak_url`` until cancelled (SIGTERM / Ctrl-C via ``run_async``).

    Raises:
        ConfigError: a bad broker or TAK URL, or a TAK endpoint that refuses the connection.
        BrokerUnavailable: the broker cannot be reached or the connection is lost.
    """
    if not stale_s > 0:
        raise ConfigError(f"--stale must be > 0 s, got {stale_s:g}")
    check_tak_url(tak_url)
    host, port = parse_broker_url(broker_url)
    stats = CotStats() if stats is None else stats
    writer = await _tak_writer(tak_url)
    try:
        async with Transport(host=host, port=port, client_id=f"gridsim-cot-{os.urandom(4).hex()}") as mqtt:
            await mqtt.subscribe(topics.TRACKS)
            async for received in mqtt.messages():
                try:
                    body = Envelope.from_bytes(received.payload).body
                    if not isinstance(body, FusedTrack):
                        raise MessageRejected("wrong_type", f"{body.TYPE} on {received.topic}")
                    data = to_cot(body, now=datetime.now(UTC), stale_s=stale_s)
                except MessageRejected as exc:
                    stats.rejected[exc.reason] += 1
                    log.warning("track message rejected: %s", exc)
                    continue
                stats.tracks += 1
                await _send(writer, data)
                stats.events += 1
                stats.drops += body.status == "deleted"
                if on_event is not None:
                    on_event(data)
    finally:
        _close(writer)
    return stats
