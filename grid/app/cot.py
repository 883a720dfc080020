"""``gridsim cot``: fused tracks from the broker to a TAK endpoint as Cursor-on-Target events.

Subscribes to ``grid/v1/tracks`` and sends one CoT event per track update (a drop event when a
track is deleted) through pytak's TCP or UDP client (``udp://239.2.3.1:6969`` is ATAK's mesh
multicast default). A message that is not a readable track is counted under its reason and skipped.

A TAK endpoint that is down is retried, like pytak's own ``supervise_with_reconnect`` does (it
retries refused, reset and unreachable connections with a doubling back-off), but with shorter
waits, since a simulated run lasts minutes; each failure is one warning line naming the endpoint,
and is counted. Meanwhile updates wait in an :class:`~grid.cot.outbox.Outbox`, one per track.
``retry=False`` (``--no-retry``) makes the first failure a :class:`TakUnavailable` error instead.
A TCP session also reads what the server sends (and discards it), so a server that closes the
connection is noticed at once rather than at the next write; an event is counted as sent once the
kernel took it (TCP cannot say whether the server read what was in flight when it went away).
"""

from __future__ import annotations

import asyncio
import configparser
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from grid.cot.events import DROPPED, event_uid, to_cot
from grid.cot.outbox import Outbox
from grid.cot.stale import StaleTimes
from grid.errors import ConfigError, MessageRejected, TakUnavailable
from grid.mqtt.address import parse_broker_url
from grid.mqtt.transport import Transport
from grid.wire import topics
from grid.wire.messages import Body, Envelope, FusedTrack, RunControl

if TYPE_CHECKING:
    from grid.cot.classify import TruthClassifier

__all__ = ["RETRY_INITIAL_S", "RETRY_MAX_S", "CotStats", "check_tak_url", "run_cot"]

log = logging.getLogger(__name__)
RETRY_INITIAL_S = 1.0  # pytak: 5 s, doubling to 120 s
RETRY_MAX_S = 30.0
_RETRY_RESET_S = 60.0  # a session that lasted this long starts the back-off afresh
_READ_CHUNK = 65536
_Events = Outbox[tuple[bytes, bool]]  # per track: the event, and whether it is a drop


@dataclass(slots=True)
class CotStats:
    """What a run of the bridge did; ``line()`` and ``as_dict()`` are the command's final report."""

    tracks: int = 0  # track messages read
    events: int = 0  # events sent to the TAK endpoint (drops included)
    drops: int = 0  # drop events sent
    superseded: int = 0  # updates replaced by a newer one of their track before they could be sent
    tak_failures: int = 0  # connections refused or lost
    rejected: Counter[str] = field(default_factory=Counter)  # bad track messages, by reason
    first_sent: float | None = None  # monotonic times of the first and last event sent
    last_sent: float | None = None

    def rate(self) -> float | None:
        """Events per second between the first and the last sent (None before two)."""
        if self.first_sent is None or self.last_sent is None or self.last_sent <= self.first_sent:
            return None
        return (self.events - 1) / (self.last_sent - self.first_sent)

    def line(self) -> str:
        """One line: ``cot: 120 events (3 drops) from 120 tracks, 12.0 events/s, ...``."""
        rejected = ", ".join(f"{k} {v}" for k, v in sorted(self.rejected.items())) or "none"
        rate = self.rate()
        return (
            f"cot: {self.events} events ({self.drops} drops) from {self.tracks} tracks"
            f"{'' if rate is None else f', {rate:.1f} events/s'}, {self.superseded} superseded, "
            f"{self.tak_failures} TAK failures, rejected: {rejected}"
        )

    def as_dict(self) -> dict[str, Any]:
        """The counts as JSON-ready values."""
        rate = self.rate()
        return {
            "tracks": self.tracks,
            "events": self.events,
            "drops": self.drops,
            "superseded": self.superseded,
            "tak_failures": self.tak_failures,
            "rejected": dict(sorted(self.rejected.items())),
            "events_per_s": None if rate is None else round(rate, 3),
        }


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


async def _open(url: str) -> tuple[Any, Any]:
    import pytak  # here: it loads its TLS helpers; the other commands start without it

    # udp+wo: send only. Plain udp:// would also bind a reader to host:port, which on a unicast
    # address is the listener's own port (EADDRINUSE).
    scheme, rest = url.split("://", 1)
    config = configparser.ConfigParser()
    config["gridsim"] = {"COT_URL": f"udp+wo://{rest}" if scheme == "udp" else url}
    reader, writer = await pytak.protocol_factory(config["gridsim"])
    return reader, writer


async def _send(writer: Any, data: bytes) -> None:
    if hasattr(writer, "drain"):  # TCP: an asyncio StreamWriter
        writer.write(data)
        await writer.drain()
    else:  # UDP: pytak's datagram client
        await writer.send(data)


async def _until_closed(reader: asyncio.StreamReader) -> None:
    while await reader.read(_READ_CHUNK):
        pass  # a TAK server's pings and other clients' events: not for us
    raise ConnectionResetError("connection closed by the TAK server")


async def _send_all(
    writer: Any, outbox: _Events, stats: CotStats, on_event: Callable[[bytes], None] | None
) -> None:
    while True:
        uid, (data, drop) = await outbox.get()
        try:
            await _send(writer, data)
        except BaseException:  # failed, or cancelled mid-send when the reader saw the server go
            outbox.put_back(uid, (data, drop))
            raise
        now = time.monotonic()
        stats.events += 1
        stats.drops += drop
        stats.first_sent = now if stats.first_sent is None else stats.first_sent
        stats.last_sent = now
        if on_event is not None:
            on_event(data)


async def _session(
    url: str, outbox: _Events, stats: CotStats, on_event: Callable[[bytes], None] | None
) -> None:
    reader, writer = await _open(url)
    try:
        if isinstance(reader, asyncio.StreamReader):
            async with asyncio.TaskGroup() as tg:
                tg.create_task(_until_closed(reader), name="grid[cot].tak_reader")
                tg.create_task(_send_all(writer, outbox, stats, on_event), name="grid[cot].tak_sender")
        else:
            await _send_all(writer, outbox, stats, on_event)
    except ExceptionGroup as group:  # the TaskGroup's: one socket error, from either task
        lost, rest = group.split(OSError)
        if lost is None or rest is not None:
            raise
        raise lost.exceptions[0] from None
    finally:
        writer.close()


async def _feed_tak(
    url: str, outbox: _Events, stats: CotStats, *, retry: bool, on_event: Callable[[bytes], None] | None
) -> None:
    loop = asyncio.get_running_loop()
    delay = RETRY_INITIAL_S
    while True:
        started = loop.time()
        try:
            await _session(url, outbox, stats, on_event)
        except OSError as exc:
            error = TakUnavailable(url, str(exc) or type(exc).__name__)
            if not retry:
                raise error from exc
            stats.tak_failures += 1
            if loop.time() - started >= _RETRY_RESET_S:
                delay = RETRY_INITIAL_S
            log.warning("%s; retrying in %.0f s (%d events waiting)", error, delay, len(outbox))
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX_S, delay * 2)


def _event(
    body: Body, topic: str, stale: StaleTimes, classifier: TruthClassifier | None
) -> tuple[str, tuple[bytes, bool]]:
    if not isinstance(body, FusedTrack):
        raise MessageRejected("wrong_type", f"{body.TYPE} on {topic}")
    uid = event_uid(body)
    stale_s = stale.after(uid, time.monotonic())
    drop = body.status == DROPPED
    if drop:
        stale.forget(uid)
    classification = None if classifier is None else classifier.classify(body)
    event = to_cot(body, now=datetime.now(UTC), stale_s=stale_s, classification=classification)
    return uid, (event, drop)


async def _read_tracks(
    mqtt: Transport, outbox: _Events, stats: CotStats, stale: StaleTimes, classifier: TruthClassifier | None
) -> None:
    async for received in mqtt.messages():
        if received.topic == topics.CONTROL and not received.payload:
            continue  # the retained run control, cleared when a run ends
        try:
            body = Envelope.from_bytes(received.payload).body
            if classifier is not None and received.topic == topics.CONTROL and isinstance(body, RunControl):
                classifier.learn(body)  # a run's start: its scenario's threats
                continue
            uid, event = _event(body, received.topic, stale, classifier)
        except MessageRejected as exc:
            stats.rejected[exc.reason] += 1
            log.warning("track message rejected: %s", exc)
            continue
        stats.tracks += 1
        outbox.put(uid, event)


async def run_cot(
    broker_url: str,
    tak_url: str,
    *,
    stale_s: float | None = None,
    retry: bool = True,
    classify: bool = False,
    stats: CotStats | None = None,
    on_event: Callable[[bytes], None] | None = None,
) -> CotStats:
    """Bridge tracks to ``tak_url`` until cancelled (SIGTERM / Ctrl-C via ``run_async``).

    Args:
        broker_url: the grid's MQTT broker.
        tak_url: ``tcp://host:port`` or ``udp://host:port``.
        stale_s: a fixed stale period (s); None: a few of each track's update periods
            (:class:`~grid.cot.stale.StaleTimes`).
        retry: retry a TAK endpoint that is down (else the first failure is an error).
        classify: classify confirmed tracks from the run's scenario (:mod:`grid.cot.classify`);
            else every event is unknown air.
        stats: updated in place, so that a caller still has the counts after a cancellation.
        on_event: called with each event once it has been sent.

    Raises:
        ConfigError: a bad broker or TAK URL, or a stale period that is not positive.
        BrokerUnavailable: the broker cannot be reached or the connection is lost.
        TakUnavailable: the TAK endpoint failed and ``retry`` is False.
    """
    stale = StaleTimes(fixed_s=stale_s)
    check_tak_url(tak_url)
    host, port = parse_broker_url(broker_url)
    stats = CotStats() if stats is None else stats
    outbox: _Events = Outbox()
    classifier = None
    if classify:
        from grid.cot.classify import TruthClassifier  # here: it loads the world model (pydantic)

        classifier = TruthClassifier()
    try:
        async with Transport(host=host, port=port, client_id=f"gridsim-cot-{os.urandom(4).hex()}") as mqtt:
            await mqtt.subscribe(topics.TRACKS, *((topics.CONTROL,) if classify else ()))
            async with asyncio.TaskGroup() as tg:
                feed = _feed_tak(tak_url, outbox, stats, retry=retry, on_event=on_event)
                tg.create_task(feed, name="grid[cot].tak")
                reading = _read_tracks(mqtt, outbox, stats, stale, classifier)
                tg.create_task(reading, name="grid[cot].tracks")
    finally:  # also when cancelled by a stop signal: the caller reports the counts
        stats.superseded = outbox.superseded
    return stats
