"""The batched socket plumbing under the transport: nothing stalls, nothing is reordered or lost."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from grid.mqtt.broker import BrokerInfo
from grid.mqtt.socket_driver import _PACKETS_PER_PASS, _coalesce
from grid.mqtt.transport import Transport

pytestmark = pytest.mark.timeout(120)


async def _receive(transport: Transport, count: int) -> list[bytes]:
    got: list[bytes] = []
    async for message in transport.messages():
        got.append(message.payload)
        if len(got) == count:
            break
    return got


async def test_a_burst_larger_than_one_pass_arrives_whole_and_in_order(mosquitto: BrokerInfo) -> None:
    """More packets than one readable event reads pile up while the loop is busy; all arrive in order.

    A plain paho client in its own thread publishes while this loop is blocked, so the
    subscriber's socket holds the whole burst when the loop comes back.
    """
    count = _PACKETS_PER_PASS * 8
    async with Transport(host=mosquitto.host, port=mosquitto.port, client_id="sd-sub") as sub:
        await sub.subscribe("sd/burst", qos=0)
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sd-pub")
        publisher.connect(mosquitto.host, mosquitto.port)
        publisher.loop_start()
        try:
            infos = [publisher.publish("sd/burst", b"%06d" % i, qos=0) for i in range(count)]
            infos[-1].wait_for_publish(timeout=30)
            time.sleep(0.5)  # noqa: ASYNC251 - blocking on purpose: the broker forwards the burst
            async with asyncio.timeout(60):
                got = await _receive(sub, count)
        finally:
            publisher.disconnect()
            publisher.loop_stop()
    assert got == [b"%06d" % i for i in range(count)]


async def test_many_unacknowledged_publishes_are_all_acknowledged(mosquitto: BrokerInfo) -> None:
    """Publishes and PUBACKs leave in joined writes; every publish still completes."""
    count = 2000
    async with (
        Transport(host=mosquitto.host, port=mosquitto.port, client_id="sd-sub1") as sub,
        Transport(host=mosquitto.host, port=mosquitto.port, client_id="sd-pub1") as pub,
    ):
        await sub.subscribe("sd/acked")
        receiving = asyncio.create_task(_receive(sub, count))
        async with asyncio.timeout(60):
            await asyncio.gather(*(pub.publish("sd/acked", b"%06d" % i) for i in range(count)))
            got = await receiving
    assert sorted(got) == [b"%06d" % i for i in range(count)]


async def test_payloads_larger_than_the_buffers_cross_intact(mosquitto: BrokerInfo) -> None:
    """A payload bigger than the read buffer and the kernel's send buffer takes many reads and writes."""
    big = bytes(range(256)) * (16 * 1024)  # 4 MiB
    async with (
        Transport(host=mosquitto.host, port=mosquitto.port, client_id="sd-big-sub") as sub,
        Transport(host=mosquitto.host, port=mosquitto.port, client_id="sd-big-pub") as pub,
    ):
        await sub.subscribe("sd/big")
        receiving = asyncio.create_task(_receive(sub, 3))
        for marker in (b"a", b"b"):
            await pub.publish("sd/big", marker + big)
        await pub.publish("sd/big", b"end")
        async with asyncio.timeout(60):
            got = await receiving
    assert got == [b"a" + big, b"b" + big, b"end"]


def _packet(command: int, qos: int = 0, pos: int = 0, data: bytes = b"x") -> dict[str, Any]:
    return {
        "command": command,
        "mid": 1,
        "qos": qos,
        "pos": pos,
        "to_process": len(data) - pos,
        "packet": bytearray(data),
        "info": object(),
    }


class _Queue:
    def __init__(self, packets: list[dict[str, Any]]) -> None:
        self._out_packet = deque(packets)


def test_acknowledgements_and_acknowledged_publishes_are_joined() -> None:
    client: Any = _Queue(
        [
            _packet(mqtt.PUBACK, data=b"A1"),
            _packet(mqtt.PUBLISH | 0x02, qos=1, data=b"P1"),
            _packet(mqtt.PUBACK, data=b"A2"),
            _packet(mqtt.PUBLISH, qos=0, data=b"Q0"),  # its write calls on_publish: stays its own
            _packet(mqtt.PUBACK, data=b"A3"),
        ]
    )
    _coalesce(client)
    queue = client._out_packet
    assert [bytes(p["packet"]) for p in queue] == [b"A1P1A2", b"Q0", b"A3"]
    assert queue[0]["command"] == mqtt.PUBACK
    assert queue[0]["to_process"] == 6


def test_a_partly_written_head_and_a_disconnect_are_left_alone() -> None:
    partly = _packet(mqtt.PUBACK, pos=1, data=b"AB")
    client: Any = _Queue([partly, _packet(mqtt.PUBACK, data=b"C")])
    _coalesce(client)
    assert client._out_packet[0] is partly
    disconnect = _packet(mqtt.DISCONNECT, data=b"D")
    client = _Queue([disconnect, _packet(mqtt.PUBACK, data=b"E")])
    _coalesce(client)
    assert client._out_packet[0] is disconnect


async def test_messages_queued_for_a_persistent_session_arrive_on_reconnect(mosquitto: BrokerInfo) -> None:
    """The broker sends a persistent session's queue right behind the CONNACK, in the same read that
    the connection's first packet came in; all of it is delivered with no further traffic."""
    count = 50

    def session() -> Transport:
        return Transport(
            host=mosquitto.host, port=mosquitto.port, client_id="sd-persist", clean_session=False
        )

    async with session() as sub:
        await sub.subscribe("sd/persist")
    async with Transport(host=mosquitto.host, port=mosquitto.port, client_id="sd-persist-pub") as pub:
        for i in range(count):
            await pub.publish("sd/persist", b"%03d" % i)
    async with session() as sub:
        async with asyncio.timeout(30):
            got = await _receive(sub, count)
    assert got == [b"%03d" % i for i in range(count)]
