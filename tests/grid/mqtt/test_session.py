"""Sessions against real brokers: reconnects across a broker restart, no loss, the last will on hold."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from grid.errors import BrokerUnavailable
from grid.mqtt.broker import BrokerInfo, start_broker
from grid.mqtt.session import Session
from grid.mqtt.transport import Received, Transport, Will

KINDS = ["mosquitto", "amqtt"]


@pytest.fixture(params=KINDS)
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[BrokerInfo]:
    """A broker gridsim started (so it can be restarted), of each kind."""
    async with start_broker(request.param) as info:
        yield info


async def _collect(session: Session, into: list[Received], until: int) -> None:
    async for received in session.messages():
        into.append(received)
        if len(into) >= until:
            return


async def test_publishes_across_a_broker_restart(broker: BrokerInfo) -> None:
    """Messages before and after a restart arrive; with Mosquitto, those published while down too."""
    assert broker.process is not None
    received: list[Received] = []
    total = 60
    async with (
        Session(host=broker.host, port=broker.port, client_id="t-sub", subscriptions=["t/#"]) as sub,
        Session(host=broker.host, port=broker.port, client_id="t-pub") as pub,
    ):
        first_twenty = asyncio.Event()

        async def collect() -> None:
            async for r in sub.messages():
                received.append(r)
                # QoS 1 may deliver one twice (acknowledged as the broker stopped): count distinct ones.
                distinct = len({m.payload for m in received})
                if distinct >= 20:
                    first_twenty.set()
                if distinct >= total:
                    return

        collector = asyncio.create_task(collect())
        for k in range(20):
            await pub.publish("t/x", str(k).encode())
        # An acknowledged publish may not be delivered yet: amqtt would drop it with the process.
        await asyncio.wait_for(first_twenty.wait(), 10)
        await broker.process.stop()
        # Published while the broker is down: these wait for the new connection.
        during = [asyncio.create_task(pub.publish("t/x", str(k).encode())) for k in range(20, 40)]
        await asyncio.sleep(0.3)
        await broker.process.restart()
        await asyncio.gather(*during)
        await sub.subscribe("t/#")  # returns once the subscriber is back and subscribed
        for k in range(40, total):
            await pub.publish("t/x", str(k).encode())
        if broker.kind == "mosquitto":
            async with asyncio.timeout(20):
                await collector
        else:
            await asyncio.sleep(1.0)
            collector.cancel()
    got = {int(r.payload) for r in received}
    if broker.kind == "mosquitto":
        assert got == set(range(total))
    else:
        # amqtt keeps no session across a restart: what was sent before the subscriber was back
        # may be gone, but everything before the stop and after the re-subscription arrives.
        assert set(range(20)) | set(range(40, total)) <= got
    assert pub.reconnects >= 1
    assert sub.reconnects >= 1
    assert broker.process.restarts == 1


async def test_mosquitto_keeps_queued_messages_across_a_restart() -> None:
    """With Mosquitto, messages queued for a disconnected persistent session survive the restart."""
    async with start_broker("mosquitto") as broker:
        assert broker.process is not None
        received: list[Received] = []
        async with Session(
            host=broker.host, port=broker.port, client_id="t-held", subscriptions=["q/#"]
        ) as sub:
            sub.hold()  # away while the messages are published, queued by the broker for us
            async with Transport(host=broker.host, port=broker.port, client_id="t-pub") as pub:
                for k in range(10):
                    await pub.publish("q/x", str(k).encode())
            await broker.process.stop()
            await broker.process.restart()
            sub.release()
            async with asyncio.timeout(20):
                await _collect(sub, received, 10)
        assert sorted(int(r.payload) for r in received) == list(range(10))


async def test_hold_drops_the_connection_so_the_broker_sends_the_will(broker: BrokerInfo) -> None:
    """hold() looks like a network failure to the broker: the will is published; release() reconnects."""
    seen: list[bytes] = []
    changed = asyncio.Event()

    async def until_last_is(payload: bytes) -> None:
        async with asyncio.timeout(10):
            while seen[-1:] != [payload]:
                changed.clear()
                await changed.wait()

    async with Transport(host=broker.host, port=broker.port, client_id="t-watch") as watcher:
        await watcher.subscribe("status/n1")

        async def watch() -> None:
            async for received in watcher.messages():
                seen.append(received.payload)
                changed.set()

        watching = asyncio.create_task(watch())
        hello = [("status/n1", b"online", True)]
        async with Session(
            host=broker.host,
            port=broker.port,
            client_id="t-n1",
            will=Will("status/n1", b"offline"),
            on_connect=lambda: hello,
        ) as node:
            await until_last_is(b"online")
            node.hold()
            await until_last_is(b"offline")
            assert not node.connected
            node.release()
            await node.publish("status/n1", b"back", retain=True)
            await until_last_is(b"back")
            assert node.reconnects == 1
        watching.cancel()
    assert seen.count(b"offline") == 1
    assert seen.index(b"offline") < seen.index(b"back")


async def test_gives_up_with_a_clear_error_when_the_broker_stays_down(broker: BrokerInfo) -> None:
    """A broker that does not come back ends the session with BrokerUnavailable, not a hang."""
    assert broker.process is not None
    async with Session(host=broker.host, port=broker.port, client_id="t-lone", give_up_after_s=0.5) as s:
        await broker.process.stop()
        with pytest.raises(BrokerUnavailable, match=r"not back within 0\.5 s"):
            async with asyncio.timeout(10):
                await s.publish("t/x", b"1")
        await broker.process.restart()  # let the fixture stop a live broker, as usual


async def test_first_connection_to_a_dead_broker_fails_fast() -> None:
    """No broker at all: entering the session raises BrokerUnavailable at once."""
    from grid.mqtt.address import free_port

    with pytest.raises(BrokerUnavailable):
        async with asyncio.timeout(10), Session(host="127.0.0.1", port=free_port(), client_id="t-none"):
            pass
