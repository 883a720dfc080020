"""A slow consumer cannot stall the publishers: with a subscriber that stopped reading, on gridsim's
own broker configuration, every publish is acknowledged (each within the transport's 30 s) and a
healthy subscriber gets every message. Mosquitto holds the stalled one's backlog for it (up to
``max_queued_messages``, 100,000). Verdicts are counts; the publishers' acknowledgement latencies
with and without the stalled subscriber are printed (``-s``), not asserted.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from grid.mqtt.broker import BrokerInfo, start_broker
from grid.mqtt.process import mosquitto_path
from grid.mqtt.transport import Transport

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]

TOPIC = "grid/v1/reports/RO"
MESSAGES = 3000
PAYLOAD = 4000  # bytes: 12 MB a phase, far past what the loopback socket buffers hold
WINDOW = 50  # publishes in flight, as a node's outbox has them


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _packet(kind: int, body: bytes) -> bytes:
    assert len(body) < 128  # one-byte remaining length is enough here
    return bytes([kind, len(body)]) + body


def stalled_subscriber(broker: BrokerInfo, client_id: str) -> socket.socket:
    """A raw MQTT 3.1.1 client: persistent session, subscribed at QoS 1, and it never reads again."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: it fills at once
    sock.connect((broker.host, broker.port))
    # CONNECT: protocol MQTT level 4, clean session off, no keep-alive (the broker never times it out).
    sock.sendall(
        _packet(0x10, _string("MQTT") + bytes([4, 0x00]) + struct.pack("!H", 0) + _string(client_id))
    )
    sock.sendall(_packet(0x82, struct.pack("!H", 1) + _string(TOPIC) + bytes([1])))
    return sock


async def _phase(broker: BrokerInfo, tag: str) -> tuple[list[float], int]:
    """Publish MESSAGES at QoS 1 (WINDOW in flight); returns ack latencies (ms) and distinct messages
    a healthy subscriber received."""
    got: set[bytes] = set()
    done = asyncio.Event()
    async with (
        Transport(host=broker.host, port=broker.port, client_id=f"healthy-{tag}") as healthy,
        Transport(host=broker.host, port=broker.port, client_id=f"publisher-{tag}") as publisher,
    ):
        await healthy.subscribe(TOPIC)

        async def collect() -> None:
            async for received in healthy.messages():
                got.add(received.payload.rstrip(b"."))
                if len(got) >= MESSAGES:
                    done.set()
                    return

        collector = asyncio.create_task(collect())
        window = asyncio.Semaphore(WINDOW)
        acks: list[float] = []

        async def publish(k: int) -> None:
            async with window:
                began = time.perf_counter()
                await publisher.publish(TOPIC, f"{tag}-{k:010d}".encode().ljust(PAYLOAD, b"."))
                acks.append((time.perf_counter() - began) * 1000)

        await asyncio.gather(*(publish(k) for k in range(MESSAGES)))
        try:
            async with asyncio.timeout(60):
                await done.wait()
        except TimeoutError:
            print(f"phase {tag}: acks {len(acks)}, healthy got {len(got)}")
            raise
        await collector
    return acks, len(got)


def _summary(acks: list[float]) -> str:
    p50, p99 = np.percentile(acks, [50, 99])
    return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"


async def test_stalled_subscriber_is_dropped_alone(tmp_path: Path) -> None:
    """With a subscriber that never reads, every publish is acked and the healthy subscriber gets all."""
    assert mosquitto_path() is not None
    log = tmp_path / "broker.log"
    async with start_broker("mosquitto", log_path=log) as broker:
        quiet_acks, quiet_got = await _phase(broker, "quiet")
        stalled = stalled_subscriber(broker, "stalled")
        try:
            loaded_acks, loaded_got = await _phase(broker, "stalled")
            # The stalled client, reading at last on a new connection, gets only what was kept for it.
            kept: set[bytes] = set()
            stalled.close()
            async with Transport(
                host=broker.host, port=broker.port, client_id="stalled", clean_session=False
            ) as late:
                await late.subscribe(TOPIC)
                try:
                    async with asyncio.timeout(5.0):
                        async for received in late.messages():
                            kept.add(received.payload.rstrip(b"."))
                except TimeoutError:
                    pass  # nothing more queued for it
        finally:
            stalled.close()
    print(
        f"\nslow consumer: acks without it {_summary(quiet_acks)}; with it {_summary(loaded_acks)}; "
        f"p50 ratio {np.percentile(loaded_acks, 50) / np.percentile(quiet_acks, 50):.2f}, "
        f"p99 ratio {np.percentile(loaded_acks, 99) / np.percentile(quiet_acks, 99):.2f}; "
        f"the stalled client kept {len(kept)} of {MESSAGES}"
    )
    assert (len(quiet_acks), quiet_got) == (MESSAGES, MESSAGES)
    assert (len(loaded_acks), loaded_got) == (MESSAGES, MESSAGES), (
        "publishers and the healthy subscriber unaffected"
    )
