"""The amqtt broker gridsim runs: the amqtt 0.12 faults a reconnecting grid met, fixed.

Each broker test is a minimal reproduction: on amqtt's own broker script (``python -m
amqtt.scripts.broker_script``) it fails, on :mod:`grid.mqtt.amqtt_broker` it passes.
"""

from __future__ import annotations

import asyncio

import pytest

from grid.errors import BrokerStartError
from grid.mqtt import amqtt_broker
from grid.mqtt.amqtt_broker import SnapshotDict
from grid.mqtt.broker import BrokerInfo
from grid.mqtt.transport import Received, Transport

# Generous bounds for a loaded machine: each fault makes the awaited message never come at all.
_WAIT_S = 20.0


def test_snapshot_dict_may_change_while_iterated() -> None:
    """Adding keys while walking keys, values or items neither raises nor changes the walk."""
    table: SnapshotDict[str, int] = SnapshotDict({"a": 1})
    walked = []
    for key in table:
        table["b"] = 2
        walked.append(key)
    for key, value in table.items():
        table[key + "x"] = value
    for _ in table.keys():  # noqa: SIM118 - keys() is one of the patched walks
        table["c"] = 3
    for _ in table.values():
        table.pop("c", None)
    assert walked == ["a"]
    assert table == {"a": 1, "b": 2, "ax": 1, "bx": 2}


def test_install_refuses_an_amqtt_it_was_not_written_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another amqtt release is a clear BrokerStartError, not a half-patched broker."""
    monkeypatch.setattr("importlib.metadata.version", lambda _: "0.13.0")
    with pytest.raises(BrokerStartError, match=r"amqtt 0\.12, not 0\.13\.0"):
        amqtt_broker.install()


def _connect(broker: BrokerInfo, client_id: str, *, clean: bool = True) -> Transport:
    return Transport(host=broker.host, port=broker.port, client_id=client_id, clean_session=clean)


async def _first(transport: Transport) -> Received:
    async with asyncio.timeout(_WAIT_S):
        async for received in transport.messages():
            return received
    raise AssertionError("the connection ended")


@pytest.mark.broker
async def test_a_taken_over_session_still_receives(amqtt_broker: BrokerInfo) -> None:
    """A client back while its old connection is still open gets what is published to it."""
    async with _connect(amqtt_broker, "t-same", clean=False) as old:
        await old.subscribe("t/x")
        # The same client id again: amqtt takes the session over from the old connection.
        async with _connect(amqtt_broker, "t-same", clean=False) as new:
            await new.subscribe("t/x")
            async with _connect(amqtt_broker, "t-pub") as pub:
                await pub.publish("t/x", b"after the take-over")
            received = await _first(new)
    assert received.payload == b"after the take-over"


async def _subscribes(broker: BrokerInfo, index: int) -> None:
    await asyncio.sleep(0.01 * index)  # staggered: some subscribe while others are connecting
    async with _connect(broker, f"t-storm-{index}", clean=False) as client, asyncio.timeout(_WAIT_S):
        await client.subscribe(f"t/own/{index}/#")


@pytest.mark.broker
async def test_clients_connecting_while_others_subscribe_are_served(amqtt_broker: BrokerInfo) -> None:
    """30 clients reconnecting at once, with 50 retained filters: every SUBSCRIBE is acknowledged."""
    async with _connect(amqtt_broker, "t-setup") as setup:
        for topic in range(50):
            await setup.subscribe(f"t/base/{topic}/#")
            await setup.publish(f"t/base/{topic}/x", b"retained", retain=True)
        async with asyncio.TaskGroup() as clients:
            for index in range(30):
                clients.create_task(_subscribes(amqtt_broker, index))


@pytest.mark.broker
async def test_a_connecting_client_gets_only_its_own_retained_messages(amqtt_broker: BrokerInfo) -> None:
    """Another client's filter matching a retained message does not send it to a newcomer."""
    async with _connect(amqtt_broker, "t-other") as other:
        await other.subscribe("t/theirs/#")
        await other.publish("t/theirs/status", b"not for the newcomer", retain=True)
        async with _connect(amqtt_broker, "t-newcomer") as newcomer:
            await newcomer.subscribe("t/mine/#")
            await other.publish("t/mine/x", b"for the newcomer")
            received = await _first(newcomer)
    assert (received.topic, received.payload) == ("t/mine/x", b"for the newcomer")
