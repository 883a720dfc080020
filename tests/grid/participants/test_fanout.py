"""One publish per report, fanned out by the broker: each node receives exactly its peers' reports.

Every session subscribes as its participant does (:class:`~grid.participants.service.GridService`
adds the control topic to each participant's own list), every node publishes one report on its
topic, and then a marker goes out on the control topic. A broker delivers to each subscriber in
the order it accepted the messages, and every report was acknowledged before the marker was
sent: so what a session holds when the marker arrives is everything it will ever get of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import pytest

from grid.mqtt.broker import BrokerInfo
from grid.mqtt.memory import MemoryBroker
from grid.mqtt.session import BrokerSession, SessionFactory, broker_sessions
from grid.participants.node import node_subscriptions
from grid.participants.service import FUSION_ID
from grid.wire import topics
from grid.wire.messages import Envelope
from grid.world.roster import Roster
from tests.grid.participants.memory_grid import report

MARKER = b"end of the reports"


def _centre_subscriptions() -> list[str]:
    """The fusion centre's subscriptions (FusionCentre's list, plus the control topic)."""
    return [topics.CONTROL, topics.ALL_REPORTS, topics.ALL_STATUS]


async def _until_marker(session: BrokerSession) -> Counter[tuple[str, str]]:
    """(topic, origin) of every report the session receives before the marker, with multiplicity."""
    got: Counter[tuple[str, str]] = Counter()
    async for received in session.messages():
        if received.topic == topics.CONTROL and received.payload == MARKER:
            return got
        env = Envelope.from_bytes(received.payload)
        got[(received.topic, env.origin)] += 1
    raise AssertionError(f"{session} closed before the marker")


async def _exchange(factory: SessionFactory, roster: Roster) -> dict[str, Counter[tuple[str, str]]]:
    """Every node publishes one report; what each node and the fusion centre received of them."""
    subscriptions = {n: [topics.CONTROL, *node_subscriptions(n, roster)] for n in roster}
    subscriptions[FUSION_ID] = _centre_subscriptions()
    async with contextlib.AsyncExitStack() as stack:
        sessions = {
            who: await stack.enter_async_context(factory(client_id=f"test-fanout-{who}", subscriptions=subs))
            for who, subs in subscriptions.items()
        }
        controller = await stack.enter_async_context(factory(client_id="test-fanout-controller"))
        async with asyncio.timeout(30), asyncio.TaskGroup() as group:
            receiving = {
                who: group.create_task(_until_marker(s), name=f"test.fanout[{who}]")
                for who, s in sessions.items()
            }
            for node_id in roster:
                sensor = roster.member(node_id).sensors[0].id
                payload = Envelope(body=report("run-1", sensor), origin=node_id).to_bytes()
                await sessions[node_id].publish(topics.report_topic(node_id), payload)
            await controller.publish(topics.CONTROL, MARKER)
        return {who: task.result() for who, task in receiving.items()}


def _check(received: dict[str, Counter[tuple[str, str]]], roster: Roster) -> None:
    for node_id in roster:
        expected = Counter({(topics.report_topic(p), p): 1 for p in roster.peers(node_id)})
        assert received[node_id] == expected, node_id
    assert received[FUSION_ID] == Counter({(topics.report_topic(n), n): 1 for n in roster})
    assert len(received[FUSION_ID]) == 15


@pytest.mark.timeout(90)
async def test_each_node_receives_exactly_its_grids_reports_on_mosquitto(
    mosquitto: BrokerInfo, roster: Roster
) -> None:
    """On Mosquitto, each of the 15 nodes gets each peer's report once and nothing else; fusion all 15."""
    received = await _exchange(broker_sessions(mosquitto.host, mosquitto.port), roster)
    _check(received, roster)
    assert sum(received["RO"].values()) == 14, "RO shares a grid with every other member"
    assert sum(received["CZ"].values()) == 8, "CZ is in eastern-flank only"


async def test_each_node_receives_exactly_its_grids_reports_in_memory(roster: Roster) -> None:
    """The in-memory broker fans out the same way: the unit tests see the production topology."""
    _check(await _exchange(MemoryBroker().session, roster), roster)
