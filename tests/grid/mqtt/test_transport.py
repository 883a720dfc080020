"""The MQTT edge: lost connections fail fast, and one known aiomqtt race stays quiet."""

from __future__ import annotations

import asyncio
import errno
from typing import Any

import pytest

from grid.errors import BrokerUnavailable
from grid.mqtt.broker import BrokerInfo
from grid.mqtt.transport import Transport, quiet_socket_races


async def test_publish_after_abort_fails_at_once(mosquitto: BrokerInfo) -> None:
    """After abort() a publish raises BrokerUnavailable instead of waiting out its timeout."""
    async with Transport(host=mosquitto.host, port=mosquitto.port, client_id="t-abort") as transport:
        await transport.publish("t/x", b"1")
        transport.abort()
        assert transport.is_lost
        with pytest.raises(BrokerUnavailable, match="connection lost"):
            async with asyncio.timeout(2):
                await transport.publish("t/x", b"2")


async def test_socket_race_is_demoted_and_other_errors_are_not(caplog: pytest.LogCaptureFixture) -> None:
    """EBADF from aiomqtt's add_writer is logged at debug; any other loop error still reaches the default."""
    quiet_socket_races()
    loop = asyncio.get_running_loop()
    handler = loop.get_exception_handler()
    assert handler is not None
    race = {
        "message": "Exception in callback",
        "exception": OSError(errno.EBADF, "Bad file descriptor"),
        "handle": "<Handle BaseSelectorEventLoop.add_writer(11, <function cb>)>",
    }
    with caplog.at_level("DEBUG"):
        handler(loop, race)
    assert any("socket closed before aiomqtt registered it" in r.message for r in caplog.records)
    assert not any(r.levelname == "ERROR" for r in caplog.records)
    caplog.clear()
    other = {"message": "Exception in callback", "exception": RuntimeError("boom"), "handle": "<Handle f()>"}
    with caplog.at_level("DEBUG"):
        handler(loop, other)
    assert any(r.levelname == "ERROR" and "Exception in callback" in r.message for r in caplog.records)


async def test_publish_waiting_for_its_acknowledgement_fails_when_the_connection_is_lost(
    mosquitto: BrokerInfo,
) -> None:
    """A publish still waiting for its PUBACK raises BrokerUnavailable as soon as the loss is noticed."""
    async with Transport(host=mosquitto.host, port=mosquitto.port, client_id="t-pending") as transport:
        pending = asyncio.create_task(transport.publish("t/x", b"1"))
        await asyncio.sleep(0)  # handed to paho, the acknowledgement not yet read
        transport.abort()
        with pytest.raises(BrokerUnavailable, match="connection lost"):
            async with asyncio.timeout(2):
                await pending


async def test_messages_already_queued_arrive_complete_and_in_order(mosquitto: BrokerInfo) -> None:
    """A burst received before the reader asks for it is yielded whole, in publish order."""
    async with Transport(host=mosquitto.host, port=mosquitto.port, client_id="t-burst") as transport:
        await transport.subscribe("t/burst")
        for i in range(50):
            await transport.publish("t/burst", str(i).encode())
        await asyncio.sleep(0.2)  # let the burst pile up in the client's queue
        received: list[bytes] = []
        async with asyncio.timeout(5):
            async for message in transport.messages():
                assert message.topic == "t/burst"
                received.append(message.payload)
                if len(received) == 50:
                    break
        assert received == [str(i).encode() for i in range(50)]


async def test_a_cancellation_landing_with_the_suback_is_not_lost(mosquitto: BrokerInfo) -> None:
    """A task cancelled as its SUBACK is handled stops (Python 3.11's wait_for would return instead).

    The window a stop signal hit in ``gridsim run``: the controller subscribing just as the
    cancellation arrived, which then ran on as if never cancelled.
    """
    async with Transport(host=mosquitto.host, port=mosquitto.port, client_id="t-cancel") as transport:
        task = asyncio.current_task()
        assert task is not None
        paho = transport._client._client
        on_subscribe: Any = paho.on_subscribe

        def cancel_on_suback(*args: Any) -> None:
            on_subscribe(*args)  # the subscription's result is set ...
            task.cancel()  # ... and in the same loop iteration the task is cancelled

        paho.on_subscribe = cancel_on_suback
        with pytest.raises(asyncio.CancelledError):
            await transport.subscribe("t/cancel")
        assert task.uncancel() == 0
