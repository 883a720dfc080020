"""The outsider of a forgery event, against a real Mosquitto: what it publishes in each form."""

from __future__ import annotations

import asyncio
import contextlib
import typing
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest

from grid.app.run import new_start
from grid.errors import MessageRejected
from grid.mqtt.address import free_port
from grid.mqtt.broker import BrokerInfo
from grid.mqtt.transport import Received, Transport
from grid.participants.outsider import Outsider
from grid.security.signing import SigningKeys, write_signing_keys
from grid.wire import topics
from grid.wire.messages import Envelope, SensorScan
from grid.world.events import Forgery
from grid.world.roster import Roster
from grid.world.scenario import Scenario, scenario_from_dict

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

# 10 simulated s at 10x: a second of wall time; 20 messages round the five forms.
SPEED = 10.0


def _scenario() -> Scenario:
    return scenario_from_dict(
        {
            "name": "outsider",
            "duration_s": 10,
            "threats": [
                {"id": "uav", "speed_mps": 50, "altitude_m": 300, "path": [[44.0, 29.0], [44.1, 28.9]]}
            ],
            "events": [
                {
                    "kind": "forgery",
                    "at_s": 0,
                    "as_node": "FR",
                    "rate_hz": 2,
                    "phantom": {
                        "id": "g",
                        "speed_mps": 60,
                        "altitude_m": 400,
                        "path": [[43.6, 29.2], [43.75, 28.95]],
                    },
                }
            ],
        }
    )


def _outsider(scenario: Scenario, roster: Roster, port: int, keys: SigningKeys) -> Outsider:
    (event,) = scenario.events
    assert isinstance(event, Forgery)
    return Outsider(
        event, scenario=scenario, roster=roster, host="127.0.0.1", port=port, recorder=keys.signer("FR")
    )


MARKER = b"marker"


async def _until_marker(watcher: Transport) -> list[Received]:
    """Every message before the marker."""
    got: list[Received] = []
    stream = typing.cast(AsyncGenerator[Received, None], watcher.messages())
    async with asyncio.timeout(30), contextlib.aclosing(stream) as messages:  # a bound, never a verdict
        async for received in messages:
            if received.payload == MARKER:
                return got
            got.append(received)
    raise AssertionError("the connection ended before the marker arrived")


async def test_each_form_as_forged_and_what_it_cannot_make(
    mosquitto: BrokerInfo, roster: Roster, tmp_path: Path
) -> None:
    """With no genuine report to capture, replayed and wrong_signer are not sent (and counted so);
    the rest carry FR's origin and the phantom, and none verifies as a fresh report of FR's."""
    write_signing_keys(tmp_path, roster)
    keys = SigningKeys.load(tmp_path, roster)
    scenario = _scenario()
    outsider = _outsider(scenario, roster, mosquitto.port, keys)
    watcher = Transport(host=mosquitto.host, port=mosquitto.port, client_id="watcher")
    async with watcher:
        await watcher.subscribe(topics.report_topic("FR"))
        await outsider.play(new_start(scenario, speed=SPEED))
        # Published after the outsider's last message was acknowledged: it arrives after them all.
        await watcher.publish(topics.report_topic("FR"), MARKER)
        got = await _until_marker(watcher)
    account = outsider.account
    assert account.connected
    assert account.published == {"unsigned": 4, "foreign_key": 4, "stale": 4}
    assert account.not_sent == {"wrong_signer": 4, "replayed": 4}
    assert account.sensor == "FR-RAD-DET-TUZLA"
    verifier = keys.verifier()
    reasons = []
    for received in got:
        try:
            signed, signer = verifier.open(received.payload, "FR")
            verifier.accept(Envelope.from_bytes(signed), signer)
        except MessageRejected as exc:
            reasons.append(exc.reason)
    assert sorted(reasons) == sorted(["unsigned"] * 4 + ["bad_signature"] * 4 + ["stale"] * 4)
    unsigned = [Envelope.from_bytes(r.payload) for r in got[::3]]
    assert all(e.origin == "FR" and isinstance(e.body, SensorScan) for e in unsigned)


async def test_no_broker_is_a_refusal(roster: Roster, tmp_path: Path) -> None:
    """Nothing listening: the outsider records the refusal and publishes nothing."""
    write_signing_keys(tmp_path, ["FR"])
    scenario = _scenario()
    outsider = _outsider(scenario, roster, free_port(), SigningKeys.load(tmp_path, ["FR"]))
    await outsider.play(new_start(scenario, speed=SPEED))
    assert outsider.account.connected is False
    assert outsider.account.refused_by_broker
    assert outsider.account.published == {}
