"""The in-memory broker: MQTT filter matching, retained messages, the last will, persistent queues."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from grid.errors import BrokerUnavailable
from grid.mqtt.memory import MemoryBroker, MemorySession, check_filter, topic_matches
from grid.mqtt.transport import Received, Will


async def _steps(n: int = 10) -> None:
    """Let every ready task run (no wall-clock time involved)."""
    for _ in range(n):
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def _inbox(session: MemorySession) -> AsyncIterator[list[Received]]:
    """Everything ``session`` receives, collected by a task while the block runs."""
    got: list[Received] = []

    async def collect() -> None:
        async for received in session.messages():
            got.append(received)

    task = asyncio.create_task(collect())
    try:
        yield got
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("a/b", "a/b", True),
        ("a/b", "a/c", False),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/+/c", "a/b/c", True),
        ("+/+", "a/b", True),
        ("+", "a/b", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("a/#", "b/a", False),
        ("#", "a/b", True),
        ("#", "$SYS/x", False),
        ("+/x", "$SYS/x", False),
        ("$SYS/#", "$SYS/x", True),
        ("a/b", "a/b/c", False),
    ],
)
def test_topic_matches(topic_filter: str, topic: str, *, matches: bool) -> None:
    """``+`` is one level, ``#`` the rest (and its parent), and wildcards never start matching ``$``."""
    assert topic_matches(topic_filter, topic) is matches


@pytest.mark.parametrize("bad", ["a/#/b", "a#", "a/b+", "", "+a"])
def test_invalid_filters_are_refused(bad: str) -> None:
    """A wildcard that is not a whole level (or ``#`` not last) is a ValueError."""
    with pytest.raises(ValueError, match=r"level|empty"):
        check_filter(bad)


async def test_delivers_once_to_each_matching_session_in_order() -> None:
    """Overlapping filters deliver once; the publisher gets its own message; others filter theirs."""
    broker = MemoryBroker()
    async with (
        broker.session(client_id="a", subscriptions=["t/#", "t/+"]) as a,
        broker.session(client_id="b", subscriptions=["u/+"]) as b,
        _inbox(a) as got_a,
        _inbox(b) as got_b,
    ):
        for k in range(3):
            await a.publish("t/x", str(k).encode())
        await b.publish("u/y", b"u")
        await _steps()
    assert [r.payload for r in got_a] == [b"0", b"1", b"2"]
    assert [(r.topic, r.payload, r.retain) for r in got_b] == [("u/y", b"u", False)]
    assert [r.topic for r in broker.history] == ["t/x", "t/x", "t/x", "u/y"]


async def test_retained_message_is_sent_on_subscribe_and_cleared_by_empty_payload() -> None:
    """A late subscriber gets the retained message flagged retain; an empty retained payload clears it."""
    broker = MemoryBroker()
    async with broker.session(client_id="pub") as pub:
        await pub.publish("s/n", b"up", retain=True)
        async with broker.session(client_id="late", subscriptions=["s/+"]) as late, _inbox(late) as got:
            await _steps()
            assert got == [Received("s/n", b"up", True)]
        await pub.publish("s/n", b"", retain=True)
    assert broker.retained("s/n") is None
    async with broker.session(client_id="later") as later, _inbox(later) as got:
        await later.subscribe("s/+")
        await _steps()
        assert got == []


async def test_hold_publishes_the_will_and_release_catches_up() -> None:
    """hold() sends the will; what arrives meanwhile is queued; release() greets again and delivers it."""
    broker = MemoryBroker()
    hello = 0

    def on_connect() -> list[tuple[str, bytes, bool]]:
        nonlocal hello
        hello += 1
        return [("s/n", b"online", True)]

    will = Will("s/n", b"offline")
    async with (
        broker.session(client_id="n", will=will, subscriptions=["r/#"], on_connect=on_connect) as node,
        broker.session(client_id="other") as other,
        _inbox(node) as got,
    ):
        assert broker.retained("s/n") == b"online"
        node.hold()
        assert not node.connected
        assert broker.retained("s/n") == b"offline"
        await other.publish("r/1", b"while away")
        await _steps()
        assert got == []
        node.release()
        await _steps()
        assert node.connected
        assert node.reconnects == 1
        assert hello == 2
        assert broker.retained("s/n") == b"online"
        assert [r.payload for r in got] == [b"while away"]


async def test_publish_during_hold_waits_for_release() -> None:
    """A publish made while held is sent on release, as a real session sends it after reconnecting."""
    broker = MemoryBroker()
    async with broker.session(client_id="n") as node:
        node.hold()
        sending = asyncio.create_task(node.publish("r/1", b"x"))
        await _steps()
        assert broker.history == []
        node.release()
        await sending
    assert broker.published("r/#") == [Received("r/1", b"x", False)]


async def test_exit_with_an_error_publishes_the_will_and_a_clean_exit_does_not() -> None:
    """A crash leaves the will behind; a clean exit ends messages() and leaves none."""
    broker = MemoryBroker()
    will = Will("s/n", b"offline")
    with pytest.raises(RuntimeError):
        async with broker.session(client_id="crash", will=will):
            raise RuntimeError("boom")
    assert broker.retained("s/n") == b"offline"
    broker = MemoryBroker()
    session = broker.session(client_id="clean", will=will, subscriptions=["x"])
    async with session:
        pass
    assert broker.retained("s/n") is None
    assert [r async for r in session.messages()] == []
    assert [r async for r in session.messages()] == [], "a closed session's messages() ends every time"
    with pytest.raises(BrokerUnavailable):
        await session.publish("x", b"after")


async def test_a_client_id_connects_once() -> None:
    """Two sessions with one client id at once is a mistake the broker refuses."""
    broker = MemoryBroker()
    async with broker.session(client_id="n"):
        with pytest.raises(ValueError, match="already connected"):
            await broker.session(client_id="n").__aenter__()
