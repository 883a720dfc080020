"""Secure federations on real Mosquittos: every broker with mutual TLS and its own ACL, every bridge
over TLS with a certificate of its own.

- ``gridsim run --federated --secure`` fuses as the plain federated run does, signed reports
  verified after crossing the bridges;
- no broker of the federation lets a client in without a certificate (or in plain MQTT);
- a node's certificate is worth nothing on another grid's broker;
- a bridge's certificate reads only the topics its bridge forwards, and publishes nowhere;
- a bridge presenting a foreign CA's certificate is refused by its source, and a bridge whose
  source's certificate does not name the address's host refuses the source.

A refused publish is proved as in ``test_attacks``: a watcher allowed to read everything must not
receive it before a marker published afterwards. Mosquitto queues an accepted QoS 1 message to its
subscribers before it acknowledges it, so a forbidden message acknowledged before the marker was sent
would arrive before it. A refused bridge is proved by the line its broker logs (Mosquitto retries a
bridge every 1-5 s and logs each failure), next to a bridge of the same broker that comes up. No
verdict waits out a quiet period.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from grid.app.cli import main
from grid.errors import BrokerUnavailable, ConfigError
from grid.mqtt.bridged import Federation, start_federation, wait_bridges
from grid.mqtt.broker import BrokerInfo, start_broker
from grid.mqtt.federation import CORE, Bridge, BridgeTls, FederationPlan, bridge_section, plan_federation
from grid.mqtt.process import mosquitto_path
from grid.mqtt.secure_federation import PROBES, SecureFederation, render_broker_acl
from grid.mqtt.transport import Transport
from grid.security.acl import render_grants
from grid.security.broker_tls import SecureSetup
from grid.security.certs import CertsLayout, issue_broker, load_authority, write_certs, write_pair
from grid.security.tls import Credentials, client_context, use_credentials
from grid.wire import topics
from grid.wire.counters import REJECTED_PREFIX
from grid.world.roster import Roster
from tests.grid.app.test_federated_run import play_federated
from tests.grid.security.markers import until_marker

if TYPE_CHECKING:
    from tests.conftest import GridsimProcesses

pytestmark = [
    pytest.mark.broker,
    pytest.mark.timeout(180),
    pytest.mark.skipif(mosquitto_path() is None, reason="secure mode needs Mosquitto"),
]

_WAIT_S = 60.0  # a generous bound on an arrival or a log line on a loaded machine; never a verdict
_RUN_BOUND_S = 400  # the default scenario at 20x, as the plain federated run's test


def _small_roster(roster: Roster) -> Roster:
    """Four members over two overlapping grids: A north; B north and south; C, D south."""
    ids = sorted(roster)[:4]
    grids = [["north"], ["north", "south"], ["south"], ["south"]]
    return Roster([roster.member(i).model_copy(update={"grids": g}) for i, g in zip(ids, grids, strict=True)])


@pytest.fixture(scope="module")
def small(roster: Roster) -> Roster:
    """The four-member roster: homes north A B, south C D (assign_homes)."""
    return _small_roster(roster)


@pytest.fixture(scope="module")
def plan(small: Roster) -> FederationPlan:
    """The small roster's federation: a core, north and south."""
    return plan_federation(small)


@pytest.fixture(scope="module")
def fed_pki(tmp_path_factory: pytest.TempPathFactory, small: Roster, plan: FederationPlan) -> CertsLayout:
    """The small roster's test PKI, with a certificate per bridge."""
    folder = tmp_path_factory.mktemp("fed-pki") / "certs"
    return write_certs(folder, small, bridges=[b.identity for b in plan.bridges])


@pytest.fixture
async def federation(fed_pki: CertsLayout, small: Roster, plan: FederationPlan) -> AsyncIterator[Federation]:
    """The secure federation, every bridge proven up."""
    async with start_federation(plan, secure=SecureFederation(fed_pki.root, small)) as federation:
        yield federation


def _tls(layout: CertsLayout, name: str) -> ssl.SSLContext:
    return client_context(layout.ca_cert, layout.client_cert(name), layout.client_key(name))


def _bridge_tls(layout: CertsLayout, identity: str) -> ssl.SSLContext:
    return client_context(layout.ca_cert, layout.bridge_cert(identity), layout.bridge_key(identity))


def _client(broker: BrokerInfo, tls: ssl.SSLContext | None, client_id: str) -> Transport:
    return Transport(host=broker.host, port=broker.port, client_id=client_id, tls=tls, connect_timeout_s=10.0)


async def _refused(client: Transport) -> None:
    with pytest.raises(BrokerUnavailable):
        async with client:
            pass


async def _logged(log: Path, text: str) -> None:
    """Until ``log`` has a line containing ``text`` (bounded by _WAIT_S)."""
    async with asyncio.timeout(_WAIT_S):
        # A broker's log file, written by another process: polled (small, read in a thread).
        while text not in await asyncio.to_thread(log.read_text, errors="replace"):  # noqa: ASYNC110
            await asyncio.sleep(0.1)


# ------------------------------------------------------------------------------------ the whole grid


@pytest.mark.timeout(_RUN_BOUND_S)
def test_run_federated_secure_fuses_as_the_plain_run(
    gridsim: GridsimProcesses, roster: Roster, tmp_path: Path
) -> None:
    """`run --federated --secure` at 20x: located, every signed report fused, none rejected, TMPDIR empty."""
    summary, _, tmp = play_federated(gridsim, tmp_path, "--secure")
    assert [n for n, c in summary["per_node"].items() if any(k.startswith(REJECTED_PREFIX) for k in c)] == []
    assert summary["signing"]["signed"] is True
    assert "bridges" in summary["security"]
    assert len(summary["federation"]["bridges"]) == len(plan_federation(roster).bridges)
    assert list(tmp.iterdir()) == [], "the brokers' folders and the temporary PKI were removed"


# ------------------------------------------------------------------------------------ connecting


async def test_every_broker_refuses_a_client_without_a_certificate(
    federation: Federation, fed_pki: CertsLayout
) -> None:
    """Core and grid brokers alike: TLS without a client certificate, and plain MQTT, are refused;
    the operator's certificate is accepted (the control case)."""
    for name, broker in federation.brokers.items():
        await _refused(_client(broker, client_context(fed_pki.ca_cert), f"outsider-{name}"))
        await _refused(_client(broker, None, f"plain-{name}"))
        async with _client(broker, _tls(fed_pki, "operator"), f"operator-{name}") as operator:
            assert operator.url.startswith("mqtts://")


async def test_a_node_certificate_publishes_on_its_home_broker_only(
    federation: Federation, fed_pki: CertsLayout, plan: FederationPlan
) -> None:
    """A north node's report is taken by north, dropped by the core and south (its name is in no ACL)."""
    node = plan.home_nodes("north")[0]
    for name, broker in federation.brokers.items():
        async with (
            _client(broker, _tls(fed_pki, "operator"), f"watcher-{name}") as watcher,
            _client(broker, _tls(fed_pki, node), f"test-{node}-{name}") as member,
        ):
            await watcher.subscribe(f"{topics.ROOT}/#")
            await member.publish(topics.report_topic(node), b"report")
            marker = f"marker-{name}".encode()
            await watcher.publish(topics.health_probe_topic(f"test-{name}"), marker)
            got = [m.payload for m in await until_marker(watcher, marker, timeout_s=_WAIT_S)]
        assert got == ([b"report", marker] if name == "north" else [marker]), name


async def test_a_bridge_certificate_reads_only_what_its_bridge_forwards(
    federation: Federation, fed_pki: CertsLayout, plan: FederationPlan
) -> None:
    """south-from-north's certificate, subscribed to everything on north, gets B's report (which its
    bridge forwards) and none of B's other topics, published before it."""
    (bridge,) = (b for b in plan.bridges if b.name == "south-from-north")
    (forwarded,) = bridge.topics
    node = forwarded.rsplit("/", 1)[1]
    others = [
        topics.status_topic(node),
        topics.awareness_topic(node),
        topics.picture_topic(node),
        topics.cyber_report_topic(node),
        topics.cyber_ack_topic(node),
    ]
    north = federation.brokers["north"]
    async with (
        _client(north, _bridge_tls(fed_pki, bridge.identity), "test-bridge-reader") as reader,
        _client(north, _tls(fed_pki, node), f"test-{node}") as member,
    ):
        await reader.subscribe(f"{topics.ROOT}/#", PROBES)
        for topic in others:
            await member.publish(topic, b"not forwarded")
        await member.publish(forwarded, b"marker")
        got = await until_marker(reader, b"marker", timeout_s=_WAIT_S)
    assert [m.topic for m in got] == [forwarded], f"{len(others)} topics not forwarded"


async def test_a_bridge_certificate_publishes_nowhere(
    federation: Federation, fed_pki: CertsLayout, plan: FederationPlan
) -> None:
    """core-from-north's certificate: on its source (read only), the core and south (no entry), its own
    topics, the run control, the tracks and its probe are all dropped."""
    (bridge,) = (b for b in plan.bridges if b.name == "core-from-north")
    attempts = [*bridge.topics, bridge.probe_topic, topics.CONTROL, topics.TRACKS]
    for name, broker in federation.brokers.items():
        async with (
            _client(broker, _tls(fed_pki, "operator"), f"watcher-{name}") as watcher,
            _client(broker, _bridge_tls(fed_pki, bridge.identity), f"test-bridge-{name}") as forger,
        ):
            await watcher.subscribe(f"{topics.ROOT}/#", PROBES)
            for topic in attempts:
                await forger.publish(topic, b"forged")  # acknowledged, and dropped
            marker = f"marker-{name}".encode()
            await watcher.publish(topics.health_probe_topic(f"test-{name}"), marker)
            got = await until_marker(watcher, marker, timeout_s=_WAIT_S)
        assert [m.payload for m in got] == [marker], f"{name}: {len(attempts)} forgeries tried"


# ------------------------------------------------------------------------------------ bridges refused


def _two_bridges() -> tuple[Bridge, Bridge]:
    topic = topics.report_topic("DE")
    return Bridge(receiver="good", source="src", topics=(topic,)), Bridge(
        receiver="bad", source="src", topics=(topic,)
    )


def _source_acl(*bridges: Bridge) -> str:
    granted = {b.identity: [("read", t) for t in (b.probe_topic, *b.topics)] for b in bridges}
    return render_grants({**granted, "operator": [("read", PROBES), ("write", PROBES)]})


async def _prove_up(
    bridge: Bridge, source: BrokerInfo, receiver: BrokerInfo, plan: FederationPlan, pki: CertsLayout
) -> None:
    """Until ``bridge`` carries a probe (published and read as the operator)."""
    federation = Federation(plan=plan, brokers={bridge.source: source, bridge.receiver: receiver})
    with use_credentials(Credentials(pki.root)):
        await wait_bridges(federation, [bridge], timeout_s=_WAIT_S)


async def test_a_bridge_with_a_foreign_ca_certificate_is_refused_by_its_source(
    tmp_path: Path, small: Roster
) -> None:
    """Two bridges into one broker from one secure source: the one presenting its own certificate
    comes up; the one presenting a foreign CA's (same CN) fails the handshake at the source."""
    good, bad = _two_bridges()
    real = write_certs(tmp_path / "real", small, bridges=[good.identity, bad.identity])
    foreign = write_certs(tmp_path / "foreign", small, bridges=[bad.identity])
    mixed = CertsLayout(tmp_path / "mixed")  # the grid's CA, and the bad bridge's foreign certificate
    (mixed.root / "bridges").mkdir(parents=True)
    shutil.copy(real.ca_cert, mixed.ca_cert)
    shutil.copy(foreign.bridge_cert(bad.identity), mixed.bridge_cert(bad.identity))
    shutil.copy(foreign.bridge_key(bad.identity), mixed.bridge_key(bad.identity))
    source_log = tmp_path / "source.log"
    async with start_broker(
        "mosquitto", secure=SecureSetup(real.root, _source_acl(good, bad)), log_path=source_log
    ) as source:
        address = f"{source.host}:{source.port}"
        config = bridge_section(good, address, BridgeTls(str(real.root.resolve())))
        config += bridge_section(bad, address, BridgeTls(str(mixed.root.resolve())))
        async with start_broker(
            "mosquitto", extra_config=config, secure=SecureSetup(real.root, _source_acl())
        ) as receiver:
            plan = FederationPlan(homes={}, bridges=(good, bad))
            await _prove_up(good, source, receiver, plan, real)
            await _logged(source_log, "certificate verify failed")
    assert f"u'{good.identity}'" in source_log.read_text()
    assert f"u'{bad.identity}'" not in source_log.read_text(), "the foreign certificate never connected"


async def test_a_bridge_refuses_a_source_whose_certificate_does_not_name_its_host(
    tmp_path: Path, small: Roster
) -> None:
    """The source's certificate names 127.0.0.1 only: the bridge to 127.0.0.1 comes up, the one to
    localhost (the same listener) fails its host name check."""
    if {a[4][0] for a in socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)} != {"127.0.0.1"}:
        pytest.skip("localhost is not 127.0.0.1 alone here")
    good, bad = _two_bridges()
    real = write_certs(tmp_path / "real", small, bridges=[good.identity, bad.identity])
    misnamed = CertsLayout(tmp_path / "misnamed")
    shutil.copytree(real.root, misnamed.root)
    key, cert = issue_broker(load_authority(real), hosts=["127.0.0.1"])
    write_pair(misnamed.broker_cert, misnamed.broker_key, key, cert)
    receiver_log = tmp_path / "receiver.log"
    async with start_broker("mosquitto", secure=SecureSetup(misnamed.root, _source_acl(good, bad))) as source:
        tls = BridgeTls(str(real.root.resolve()))
        config = bridge_section(good, f"127.0.0.1:{source.port}", tls)
        config += bridge_section(bad, f"localhost:{source.port}", tls)
        async with start_broker(
            "mosquitto",
            extra_config=config,
            log_path=receiver_log,
            secure=SecureSetup(real.root, _source_acl()),
        ) as receiver:
            plan = FederationPlan(homes={}, bridges=(good, bad))
            await _prove_up(good, source, receiver, plan, real)
            await _logged(receiver_log, "host name verification failed")


async def test_missing_bridge_certificates_are_refused_before_any_broker_starts(
    tmp_path: Path, small: Roster, plan: FederationPlan
) -> None:
    """A certificates folder made without the bridges (an older gridsim certs): a ConfigError naming one."""
    layout = write_certs(tmp_path / "certs", small)
    with pytest.raises(ConfigError, match="bridge"):
        async with start_federation(plan, secure=SecureFederation(layout.root, small)):
            pass


# ------------------------------------------------------------------------------------ files


def test_each_brokers_acl_names_only_its_own_clients(small: Roster, plan: FederationPlan) -> None:
    """Core: the services, operator and the bridges pulling from it; a grid: its home nodes, operator
    and its bridges; a bridge reads its topics and probe, writes nothing."""
    for broker in plan.brokers:
        text = render_broker_acl(plan, broker, small)
        users = [line.split()[1] for line in text.splitlines() if line.startswith("user ")]
        own = ["fusion", "hub", "jcc", "dashboard"] if broker == CORE else list(plan.home_nodes(broker))
        bridges = [b.identity for b in plan.bridges if b.source == broker]
        assert users == [*own, "operator", *bridges], broker
        for bridge in (b for b in plan.bridges if b.source == broker):
            block = text.split(f"user {bridge.identity}\n")[1].split("\n\n")[0].splitlines()
            assert block == [f"topic read {t}" for t in (bridge.probe_topic, *bridge.topics)]


def test_gridsim_certs_issues_every_bridge_a_certificate(tmp_path: Path, roster: Roster) -> None:
    """`gridsim certs` writes bridges/<identity>.crt for each bridge of the roster's federation, and the
    broker's certificate names the compose brokers too."""
    from cryptography import x509

    assert main(["certs", str(tmp_path / "certs"), "--quiet"]) == 0
    layout = CertsLayout(tmp_path / "certs")
    plan = plan_federation(roster)
    assert sorted(p.stem for p in (layout.root / "bridges").glob("*.crt")) == sorted(
        b.identity for b in plan.bridges
    )
    for bridge in plan.bridges:
        cert = x509.load_pem_x509_certificate(layout.bridge_cert(bridge.identity).read_bytes())
        assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == bridge.identity
        assert (layout.bridge_key(bridge.identity).stat().st_mode & 0o777) == 0o600
    broker = x509.load_pem_x509_certificate(layout.broker_cert.read_bytes())
    names = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = names.get_values_for_type(x509.DNSName)
    assert {"localhost", "broker", "mosquitto", *(f"broker-{g}" for g in plan.grids)} <= set(dns)


def test_federation_configs_secure(tmp_path: Path, roster: Roster) -> None:
    """`federation configs --secure`: mTLS listeners on 8883, an ACL per broker, TLS bridges, mqtts homes."""
    assert main(["federation", "configs", str(tmp_path), "--secure", "--quiet"]) == 0
    plan = plan_federation(roster)
    stems = ["mosquitto", *(f"broker-{g}" for g in plan.grids)]
    names = {"homes.json", "compose.env", *(f"{s}.conf" for s in stems), *(f"{s}.acl" for s in stems)}
    assert {p.name for p in tmp_path.iterdir()} == names
    for stem, broker in zip(stems, plan.brokers, strict=True):
        lines = (tmp_path / f"{stem}.conf").read_text().splitlines()
        for setting in (
            "listener 8883",
            "require_certificate true",
            "allow_anonymous false",
            "acl_file /mosquitto/config/acl",
        ):
            assert setting in lines, (stem, setting)
        bridges = plan.bridges_into(broker)
        assert lines.count("bridge_insecure false") == len(bridges)
        for bridge in bridges:
            assert f"bridge_certfile /mosquitto/certs/bridges/{bridge.identity}.crt" in lines
        assert (tmp_path / f"{stem}.acl").read_text() == render_broker_acl(plan, broker, roster)
    assert "address broker-southern:8883" in (tmp_path / "mosquitto.conf").read_text()
    homes = json.loads((tmp_path / "homes.json").read_text())
    assert homes["core"] == "mqtts://mosquitto:8883"
    assert homes["nodes"]["ES"]["broker"] == "mqtts://broker-southern:8883"


def test_federation_configs_certs_needs_secure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--certs without --secure is a one-line ConfigError (exit 2); with it, the bridges use that path."""
    assert main(["federation", "configs", str(tmp_path), "--certs", "/etc/grid"]) == 2
    assert "--secure" in capsys.readouterr().err
    assert main(["federation", "configs", str(tmp_path), "--secure", "--certs", "/etc/grid", "--quiet"]) == 0
    assert "bridge_cafile /etc/grid/ca.crt" in (tmp_path / "mosquitto.conf").read_text().splitlines()
