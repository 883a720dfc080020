"""Federated grids on three real Mosquitto processes (a core and two grid brokers), bridged by the
configuration generator: every report reaches exactly the nodes of its grids, and a grid
broker's outage (stopped, then restarted) is survived with nothing lost."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from grid.errors import ConfigError
from grid.mqtt.bridged import Federation, start_federation, wait_bridges
from grid.mqtt.federation import CORE, assign_homes, broker_config, plan_federation
from grid.mqtt.process import mosquitto_path
from grid.mqtt.session import Session
from grid.participants.node import node_subscriptions
from grid.wire import topics
from grid.world.roster import Roster

# Mosquitto processes, bridges probed up, a few hundred messages: seconds; the bound is generous.
_BOUND_S = 120


def _small_roster(roster: Roster) -> Roster:
    """Four members over two overlapping grids: A north; B north and south; C, D south."""
    ids = sorted(roster)[:4]
    grids = [["north"], ["north", "south"], ["south"], ["south"]]
    return Roster([roster.member(i).model_copy(update={"grids": g}) for i, g in zip(ids, grids, strict=True)])


@dataclass
class _Client:
    """A node (or the fusion centre) reduced to its subscriptions: it records every payload."""

    name: str
    session: Session
    got: Counter[bytes] = field(default_factory=Counter)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def receive(self) -> None:
        async for message in self.session.messages():
            if message.topic.startswith(f"{topics.ROOT}/"):
                self.got[message.payload] += 1
                self.arrived.set()


@contextlib.asynccontextmanager
async def _clients(federation: Federation, roster: Roster) -> AsyncIterator[dict[str, _Client]]:
    """A persistent session per node on its home broker, and a fusion centre's on the core."""
    clients = {
        node_id: _Client(
            node_id,
            Session(
                host=federation.home(node_id).host,
                port=federation.home(node_id).port,
                client_id=f"test-{node_id}",
                subscriptions=node_subscriptions(node_id, roster),
            ),
        )
        for node_id in roster
    }
    clients["fusion"] = _Client(
        "fusion",
        Session(
            host=federation.core.host,
            port=federation.core.port,
            client_id="test-fusion",
            subscriptions=[topics.ALL_REPORTS],
        ),
    )
    async with contextlib.AsyncExitStack() as stack:
        for client in clients.values():
            await stack.enter_async_context(client.session)
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c.receive(), name=f"test[{c.name}].receive") for c in clients.values()]
            try:
                yield clients
            finally:
                for task in tasks:
                    task.cancel()


async def _publish_round(clients: dict[str, _Client], roster: Roster, tag: str, per_node: int) -> None:
    for node_id in roster:
        for k in range(per_node):
            await clients[node_id].session.publish(
                topics.report_topic(node_id), f"{tag}:{node_id}:{k}".encode()
            )


def _expected(roster: Roster, tags: list[str], per_node: int) -> dict[str, Counter[bytes]]:
    """Each node: one copy of each report of its peers; the fusion centre: one of every report."""

    def reports(origins: list[str]) -> Counter[bytes]:
        return Counter(f"{t}:{o}:{k}".encode() for t in tags for o in origins for k in range(per_node))

    out = {n: reports(list(roster.peers(n))) for n in roster}
    out["fusion"] = reports(list(roster))
    return out


async def _settled(clients: dict[str, _Client], expected: dict[str, Counter[bytes]]) -> None:
    """Until every client has at least what it should (then a little longer, for any extra copy)."""
    while any(not (expected[n] <= c.got) for n, c in clients.items()):
        for c in clients.values():
            c.arrived.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await asyncio.gather(*(c.arrived.wait() for c in clients.values()))
    await asyncio.sleep(0.5)


def test_homes_and_bridges_of_the_default_roster(roster: Roster) -> None:
    """Homes spread every grid; the core pulls each node's topics from its home only; no topic both ways."""
    plan = plan_federation(roster)
    assert {g: plan.home_nodes(g) for g in plan.grids} == {
        "air-policing": ("DE", "FR", "IT", "NL", "RO"),
        "black-sea": ("BG", "GR", "TR", "US"),
        "eastern-flank": ("CZ", "HU", "PL", "SK"),
        "southern": ("ES", "GB"),
    }
    into_core = [t for b in plan.bridges_into(CORE) for t in b.topics]
    assert sorted(into_core) == sorted({*into_core}), "a topic pulled into the core twice"
    for bridge in plan.bridges:
        for topic in bridge.topics:
            # Never pulled the other way: no loop.
            assert not any(topic in b.topics for b in plan.bridges if b.receiver == bridge.source)
    # Every node's peers' reports reach its home broker: from the peer's home, by one bridge.
    for node_id in roster:
        home = plan.homes[node_id]
        for peer in roster.peers(node_id):
            if plan.homes[peer] != home:
                sources = [b.source for b in plan.bridges_into(home) if topics.report_topic(peer) in b.topics]
                assert sources == [plan.homes[peer]]


def test_bad_homes_and_unknown_broker_are_config_errors(roster: Roster) -> None:
    """A home outside the node's grids, or a config for a broker not in the plan, is a ConfigError."""
    homes = assign_homes(roster)
    homes["CZ"] = "southern"
    with pytest.raises(ConfigError, match="CZ"):
        plan_federation(roster, homes)
    with pytest.raises(ConfigError, match="nowhere"):
        broker_config(plan_federation(roster), "nowhere", base="", addresses={})


@pytest.mark.timeout(_BOUND_S)
async def test_reports_reach_exactly_their_grids_and_survive_an_outage(roster: Roster) -> None:
    """Three brokers: each report reaches exactly its grids' nodes, once; an outage loses none."""
    assert mosquitto_path() is not None
    small = _small_roster(roster)
    plan = plan_federation(small)
    assert len(plan.brokers) == 3
    a, b, c, d = sorted(small)
    assert plan.homes == {a: "north", b: "north", c: "south", d: "south"}
    async with start_federation(plan) as federation, _clients(federation, small) as clients:
        await _publish_round(clients, small, "before", per_node=20)
        await _settled(clients, _expected(small, ["before"], 20))
        for name, client in clients.items():
            assert client.got == _expected(small, ["before"], 20)[name], name

        # The south broker goes down; north's nodes go on publishing, then it comes back.
        south = federation.brokers["south"].process
        assert south is not None
        await south.stop()
        for node_id in (a, b):
            for k in range(20):
                await clients[node_id].session.publish(
                    topics.report_topic(node_id), f"during:{node_id}:{k}".encode()
                )
        await south.restart()
        await wait_bridges(federation, plan.bridges)
        await _publish_round(clients, small, "after", per_node=20)
        want = _expected(small, ["before", "after"], 20)
        for n in want:
            origins = (a, b) if n == "fusion" else tuple(o for o in (a, b) if o in small.peers(n))
            want[n] += Counter(f"during:{o}:{k}".encode() for o in origins for k in range(20))
        await _settled(clients, want)
        for name, client in clients.items():
            # Nothing lost, nothing to a node outside the report's grids (a QoS 1 redelivery
            # after the outage would be a duplicate the application drops by message id).
            assert set(client.got) == set(want[name]), name
