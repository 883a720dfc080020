"""The cyber-exchange hub on a real Mosquitto: malformed reports are refused by reason, it keeps
going, and the valid reports among them all count."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator

import msgpack
import pytest

from grid.cyber.markings import Tlp
from grid.cyber.observables import observable_key
from grid.cyber.stix import indicator, member_identity, sim_time
from grid.mqtt.broker import BrokerInfo
from grid.mqtt.session import Session
from grid.participants.cert import epoch_of
from grid.participants.hub import CyberHub
from grid.participants.service import CONTROLLER_ID
from grid.wire import topics
from grid.wire.messages import CyberObjects, CyberStats, Envelope, RunAction, RunControl
from grid.world.events import ObservableType
from grid.world.roster import Roster
from grid.world.scenario import load_scenario

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]

WAIT_S = 20.0  # bound on each wait; a loaded box takes well under a second


def _indicator(member: str, value: str, epoch_ns: int, **changes: object) -> str:
    obj = json.loads(
        indicator(
            observable_key(ObservableType.URL, value),
            creator=member_identity(member).id,
            tlp=Tlp.AMBER,
            at=sim_time(epoch_of(epoch_ns), 1.0),
        ).serialize()
    )
    return json.dumps([{**obj, **changes}])


@pytest.fixture
async def wire(mosquitto: BrokerInfo) -> AsyncIterator[Session]:
    """A session that plays the members and the controller, subscribed to the hub's output."""
    session = Session(host=mosquitto.host, port=mosquitto.port, client_id=f"test-wire-{os.getpid()}")
    async with session:
        await session.subscribe(topics.CYBER_JCC, topics.CYBER_STATS)
        yield session


async def test_malformed_reports_are_counted_and_nothing_valid_is_lost(
    mosquitto: BrokerInfo, roster: Roster, wire: Session
) -> None:
    """Not msgpack, not JSON, a bad pattern, a marking ref to nowhere, an unknown origin and
    creator, an indicator of another member's, an oversized object and message, and a repeated
    message: each refused with its reason; the two valid reports among them become one indicator
    and one sighting."""
    hub = CyberHub(roster=roster, host=mosquitto.host, port=mosquitto.port, settle_idle_s=0.2)
    epoch_ns = time.time_ns()
    start = RunControl(
        action=RunAction.START,
        run_id="run-bad",
        epoch_ns=epoch_ns,
        speed=1.0,
        scenario=load_scenario("scenarios/cyber-phishing.yaml").to_dict(),
    )
    url = "https://evil.example/login"
    nowhere = "marking-definition--00000000-0000-4000-8000-000000000000"

    async def report(member: str, objects: str) -> Envelope:
        env = Envelope(body=CyberObjects(run_id="run-bad", objects=objects), origin=member)
        await wire.publish(topics.cyber_report_topic(member), env.to_bytes())
        return env

    async with hub, asyncio.TaskGroup() as group:
        serving = group.create_task(hub.serve(), name="test[hub].serve")
        # One session's messages arrive in order: the start first; the hub holds the run's messages
        # until the run has started.
        await wire.publish(topics.CONTROL, Envelope(body=start, origin=CONTROLLER_ID).to_bytes())
        ro = topics.cyber_report_topic("RO")
        await wire.publish(ro, b"\xc1 not msgpack")
        huge = {"run_id": "run-bad", "objects": "[" + " " * 70_000 + "]"}
        raw = {"v": 1, "id": "huge", "origin": "RO", "sent_ns": 0, "type": "cyber_objects", "body": huge}
        await wire.publish(ro, msgpack.packb(raw))
        await report("RO", "not JSON")
        valid = await report("RO", _indicator("RO", url, epoch_ns))
        await report("RO", _indicator("RO", url, epoch_ns, pattern="[url:value = 'x' OR"))
        await report("RO", _indicator("RO", url, epoch_ns, object_marking_refs=[nowhere]))
        await report("XX", _indicator("XX", url, epoch_ns))  # an origin outside the roster
        await report("RO", _indicator("XX", url, epoch_ns))  # a creator outside the roster
        await report("BG", _indicator("PL", url, epoch_ns))  # BG passing an indicator off as PL's
        await report("RO", _indicator("RO", url, epoch_ns, description="x" * 20_000))
        await wire.publish(ro, valid.to_bytes())  # the same message again
        await report("BG", _indicator("BG", "HTTPS://EVIL.EXAMPLE/login/", epoch_ns))
        end = RunControl(action=RunAction.END, run_id="run-bad", epoch_ns=epoch_ns, speed=1.0)
        await wire.publish(topics.CONTROL, Envelope(body=end, origin=CONTROLLER_ID).to_bytes())
        stats = None
        async with asyncio.timeout(WAIT_S):
            async for received in wire.messages():
                body = Envelope.from_bytes(received.payload).body
                if isinstance(body, CyberStats):
                    stats = body
                    break
        serving.cancel()
    assert stats is not None
    assert stats.rejected == {
        "bad_marking": 1,
        "bad_pattern": 1,
        "creator_mismatch": 1,
        "duplicate_message": 1,
        "invalid_stix": 1,
        "not_msgpack": 1,
        "too_large": 2,
        "unknown_creator": 1,
        "unknown_node": 1,
    }
    (shared,) = stats.metrics["indicators"]
    assert shared["observed_by"] == ["RO", "BG"]
    assert shared["sightings"] == 1
