"""Attacks on a grid in secure mode, against a real Mosquitto (mutual TLS and the roster's ACL).

Each test is one or more attacks, and each attack must be refused:

- connecting: without a certificate, in plain MQTT, with an expired certificate, with a
  certificate of a foreign CA, and (the other way round) to a broker with a foreign CA's certificate;
- publishing as someone else: a node on another node's report, status and cyber topics, on the
  tracks, the run control, the mitigations and the JCC's flags; a certificate of the grid's CA
  whose name is in no ACL entry; a node's own topic carrying another's origin (the broker lets it
  through, the fusion centre's origin check refuses it);
- reading: a node subscribing to a grid it is not in, by name and by wildcard; the stranger reading
  anything.

Mosquitto 2.0 acknowledges an unauthorised QoS 1 publish and drops it, so a refusal is proved by a
subscriber allowed to read everything that never receives it: the attacker then publishes a marker
it may publish, and the forbidden message must not have arrived before the marker (one connection's
messages reach a subscriber in order). No verdict waits out a quiet period.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from grid.errors import BrokerUnavailable
from grid.mqtt.broker import start_broker
from grid.mqtt.transport import Transport
from grid.participants.centre import FusionCentre
from grid.security.acl import render_acl
from grid.security.broker_tls import SecureSetup
from grid.security.certs import CertsLayout, issue_client, load_authority, write_pair
from grid.security.tls import client_context
from grid.wire import topics
from grid.wire.counters import rejected_counter
from grid.wire.messages import Envelope, NodeState, NodeStatus
from grid.world.roster import Roster
from tests.grid.security.conftest import SecureGrid
from tests.grid.security.markers import until_marker

pytestmark = [pytest.mark.broker, pytest.mark.timeout(90)]

_WAIT_S = 30.0  # a generous bound on a marker's arrival on a loaded machine; never a verdict


async def _refused(client: Transport) -> str:
    """Connect ``client``; the broker (or the client's own checks) must refuse. The reason."""
    with pytest.raises(BrokerUnavailable) as refused:
        async with client:
            pass
    return str(refused.value)


def _status(node: str) -> bytes:
    return Envelope(body=NodeStatus(node_id=node, state=NodeState.OFFLINE), origin=node).to_bytes()


# ------------------------------------------------------------------------------------ connecting


async def test_an_outsider_without_a_certificate_is_refused(secure_grid: SecureGrid) -> None:
    """A TLS client that trusts the grid's CA but has no certificate of its own cannot connect."""
    await _refused(secure_grid.client("outsider", tls=secure_grid.anonymous_tls()))


async def test_a_plain_mqtt_connection_is_refused(secure_grid: SecureGrid) -> None:
    """MQTT without TLS on the secure listener is refused."""
    broker = secure_grid.broker
    await _refused(Transport(host=broker.host, port=broker.port, client_id="plain", connect_timeout_s=10.0))


async def test_an_expired_certificate_of_the_grid_ca_is_refused(
    secure_grid: SecureGrid, tmp_path: Path
) -> None:
    """A certificate the grid's own CA issued, for a real member, but expired yesterday."""
    now = datetime.datetime.now(datetime.UTC)
    key, cert = issue_client(
        load_authority(secure_grid.layout),
        "DE",
        not_before=now - datetime.timedelta(days=2),
        not_after=now - datetime.timedelta(days=1),
    )
    write_pair(tmp_path / "DE.crt", tmp_path / "DE.key", key, cert)
    tls = client_context(secure_grid.layout.ca_cert, tmp_path / "DE.crt", tmp_path / "DE.key")
    await _refused(secure_grid.client("DE", tls=tls))


async def test_a_certificate_of_a_foreign_ca_is_refused(
    secure_grid: SecureGrid, foreign_pki: CertsLayout
) -> None:
    """A certificate named like a member (DE) but issued by another CA."""
    tls = client_context(
        secure_grid.layout.ca_cert, foreign_pki.client_cert("DE"), foreign_pki.client_key("DE")
    )
    await _refused(secure_grid.client("DE", tls=tls))


async def test_a_broker_with_a_foreign_certificate_is_refused_by_the_client(
    pki: CertsLayout, foreign_pki: CertsLayout, roster: Roster
) -> None:
    """An impostor broker (its certificate from another CA): the grid's client will not talk to it."""
    async with start_broker(
        "mosquitto", secure=SecureSetup(foreign_pki.root, render_acl(roster))
    ) as impostor:
        tls = client_context(pki.ca_cert, pki.client_cert("DE"), pki.client_key("DE"))
        client = Transport(
            host=impostor.host, port=impostor.port, client_id="DE", tls=tls, connect_timeout_s=10.0
        )
        reason = await _refused(client)
    assert "not trusted" in reason


async def test_a_member_connects_with_its_own_certificate(secure_grid: SecureGrid) -> None:
    """The control case: a member's own certificate is accepted, over mqtts."""
    async with secure_grid.client("DE") as de:
        assert de.url.startswith("mqtts://")
        await de.publish(topics.report_topic("DE"), b"hello")


# ------------------------------------------------------------------------------ publishing as another

# Topics DE may not publish on: another node's, and the services' and operator's.
_NOT_DE = [
    topics.report_topic("FR"),
    topics.status_topic("FR"),
    topics.status_topic("fusion"),
    topics.awareness_topic("FR"),
    topics.cyber_report_topic("FR"),
    topics.cyber_ack_topic("FR"),
    topics.TRACKS,
    topics.CONTROL,
    topics.mitigation_topic("DE"),
    topics.CYBER_FLAGS,
    topics.CYBER_JCC,
    topics.FUSION_STATS,
    topics.results_topic("run-1"),
]


async def test_a_node_cannot_publish_as_another_node_or_a_service(secure_grid: SecureGrid) -> None:
    """DE's publishes on every topic that is not its own are dropped by the broker; its own passes."""
    async with secure_grid.client("dashboard") as watcher, secure_grid.client("DE") as de:
        await watcher.subscribe(f"{topics.ROOT}/#")
        for topic in _NOT_DE:
            await de.publish(topic, b"forged")  # acknowledged, and dropped
        marker = b"marker"
        await de.publish(topics.report_topic("DE"), marker)
        got = await until_marker(watcher, marker, timeout_s=_WAIT_S)
    assert [m.topic for m in got] == [topics.report_topic("DE")], f"{len(_NOT_DE)} forgeries tried"


async def test_a_certificate_outside_the_acl_can_do_nothing(secure_grid: SecureGrid, tmp_path: Path) -> None:
    """A certificate of the grid's CA for a name the roster does not know: it may neither publish nor read."""
    key, cert = issue_client(load_authority(secure_grid.layout), "mallory")
    write_pair(tmp_path / "m.crt", tmp_path / "m.key", key, cert)
    tls = client_context(secure_grid.layout.ca_cert, tmp_path / "m.crt", tmp_path / "m.key")
    async with (
        secure_grid.client("dashboard") as watcher,
        secure_grid.client("mallory", tls=tls) as mallory,
        secure_grid.client("DE") as de,
    ):
        await watcher.subscribe(f"{topics.ROOT}/#")
        await mallory.subscribe(f"{topics.ROOT}/#", topics.report_topic("DE"))
        await mallory.publish(topics.report_topic("DE"), b"forged")
        marker = b"marker"
        await de.publish(topics.report_topic("DE"), marker)
        got = await until_marker(watcher, marker, timeout_s=_WAIT_S)
        # A fence: mallory's acknowledgement comes after anything the broker routed to it before.
        await mallory.publish(topics.report_topic("mallory"), b"fence")
        routed_to_mallory = mallory._client._queue.qsize()
    assert [m.payload for m in got] == [marker]
    assert routed_to_mallory == 0, "the stranger read DE's report"


async def test_the_fusion_centre_refuses_another_origin_on_a_nodes_own_topic(
    secure_grid: SecureGrid, roster: Roster
) -> None:
    """DE may publish on its own topic, but a message claiming FR's origin there is refused by fusion."""
    centre = FusionCentre(roster=roster)
    async with secure_grid.client("fusion") as fusion, secure_grid.client("DE") as de:
        await fusion.subscribe(topics.ALL_REPORTS)
        forged = _status("FR")
        await de.publish(topics.report_topic("DE"), forged)
        got = await until_marker(fusion, forged, timeout_s=_WAIT_S)
    assert centre.decode(got[-1]) is None
    assert centre.counters[rejected_counter("origin_mismatch")] == 1


# ------------------------------------------------------------------------------------- reading


def _outsider_pair(roster: Roster) -> tuple[str, str, str]:
    """A node, a node that shares no grid with it, and one of its peers."""
    for node in sorted(roster):
        peers = roster.peers(node)
        strangers = sorted(set(roster) - set(peers) - {node})
        if strangers and peers:
            return node, strangers[0], peers[0]
    raise AssertionError("every node of the roster shares a grid with every other")


async def test_a_node_cannot_read_a_grid_it_is_not_in(secure_grid: SecureGrid, roster: Roster) -> None:
    """A node subscribed to a non-peer's reports (by name and by wildcard) receives only its peers'."""
    node, stranger, peer = _outsider_pair(roster)
    async with (
        secure_grid.client(node) as spy,
        secure_grid.client(stranger) as other,
        secure_grid.client(peer) as friend,
    ):
        await spy.subscribe(topics.report_topic(stranger), topics.ALL_REPORTS, f"{topics.ROOT}/#")
        await other.publish(topics.report_topic(stranger), b"not for you")  # acknowledged: routed first
        marker = b"marker"
        await friend.publish(topics.report_topic(peer), marker)
        got = await until_marker(spy, marker, timeout_s=_WAIT_S)
    assert [(m.topic, m.payload) for m in got] == [(topics.report_topic(peer), marker)], (
        f"{node} read {stranger}'s report"
    )
