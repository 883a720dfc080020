"""Federated grids: one Mosquitto per grid plus a core, joined by one-way pulling bridges.

Each node connects to its *home* grid's broker; the fusion centre, the hub, the Joint Cyber
Centre and the run controller connect to the core. Every bridge is configured on the broker that
*receives* (``topic T in 1 "" ""``, pulling from the remote), and every topic is pulled from the
one broker where it originates, never both ways:

- the core pulls each node's own topics (reports, status, awareness, picture, cyber reports and
  acks) from the node's home broker;
- each grid broker pulls the run control, the fused tracks and its home nodes' mitigations from
  the core;
- each grid broker pulls ``grid/v1/reports/<m>`` from the home of every peer ``m`` of one of its
  home nodes (:meth:`~grid.world.roster.Roster.peers`), so a report crosses to exactly the
  brokers whose nodes share a grid with its origin.

No topic is bridged both ways, so nothing loops (bidirectional bridges loop and duplicate:
mosquitto #204, #1467, #3011); a QoS 1 redelivery after a bridge reconnects can still duplicate,
and the receivers drop it by message id (:class:`~grid.participants.seen.SeenReports`).

Why pulling: Mosquitto 2.0.11's bridge sockets lack TCP_NODELAY, so a *push* bridge's small
reports can wait on Nagle's algorithm, while a pull bridge's traffic leaves the remote broker's
listener socket, which has it set (an earlier attempt measured p50 20-25 ms pushed, 2.8 ms
pulled; on a machine at load 27-41 both measured alike, p50 4.3 ms pushed, 3.9-5.1 pulled).
Pulling also lets each broker's configuration name everything it receives. Bridges are
persistent (``cleansession false``): the remote queues for a receiver that is down, and
delivers on return.

Secure federations (:mod:`grid.mqtt.secure_federation`): every broker listens with mutual TLS and
an ACL of its own clients, and each bridge connects to its source over TLS (:class:`BridgeTls`)
with a client certificate of its own, CN :attr:`Bridge.identity`, which the source's ACL lets
read the bridge's topics and nothing else.

Homes are derived from the roster, deterministically: the most constrained nodes (fewest grids)
first, each into the grid among its own with the fewest homes so far (ties: grid name), which
leaves no grid broker empty when the roster allows it. For the default roster that gives
air-policing DE FR IT NL RO; black-sea BG GR TR US; eastern-flank CZ HU PL SK; southern ES GB.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grid.errors import ConfigError
from grid.security.certs import CertsLayout
from grid.wire import topics
from grid.world.roster import Roster

__all__ = [
    "CORE",
    "PROBE_ROOT",
    "Bridge",
    "BridgeTls",
    "FederationPlan",
    "assign_homes",
    "bridge_section",
    "broker_config",
    "plan_federation",
]

CORE = "core"
"""The broker of the grid's services (fusion centre, hub, JCC) and of the run controller."""

PROBE_ROOT = "gridsim/federation/probe"
"""Outside the ``grid/v1`` tree: each bridge also pulls ``PROBE_ROOT/<bridge>``, to prove it is up."""

_RESTART_S = "1 5"  # a bridge retries after 1 s, backing off to 5 s


@dataclass(frozen=True, slots=True, kw_only=True)
class Bridge:
    """A one-way bridge: ``receiver`` connects to ``source`` and pulls ``topics`` (exact names)."""

    receiver: str
    source: str
    topics: tuple[str, ...]

    @property
    def name(self) -> str:
        """The connection's name, also its client id on the source (``<receiver>-from-<source>``)."""
        return f"{self.receiver}-from-{self.source}"

    @property
    def identity(self) -> str:
        """The CN of the bridge's client certificate: its user name on the source (secure mode)."""
        return f"bridge-{self.name}"

    @property
    def probe_topic(self) -> str:
        """A topic only this bridge carries, used to check that it is up."""
        return f"{PROBE_ROOT}/{self.name}"

    def to_dict(self) -> dict[str, object]:
        """The bridge as recorded in a run's summary."""
        return {"receiver": self.receiver, "source": self.source, "topics": len(self.topics)}


@dataclass(frozen=True, slots=True, kw_only=True)
class FederationPlan:
    """Which broker each node connects to, and which bridges join the brokers."""

    homes: dict[str, str]  # node id -> the grid whose broker it connects to
    bridges: tuple[Bridge, ...]

    @property
    def grids(self) -> tuple[str, ...]:
        """The grids that have a broker (each has at least one home node), sorted."""
        return tuple(sorted(set(self.homes.values())))

    @property
    def brokers(self) -> tuple[str, ...]:
        """Every broker: the core, then the grids'."""
        return (CORE, *self.grids)

    def home_nodes(self, grid: str) -> tuple[str, ...]:
        """The nodes connecting to ``grid``'s broker, sorted."""
        return tuple(sorted(n for n, g in self.homes.items() if g == grid))

    def bridges_into(self, broker: str) -> tuple[Bridge, ...]:
        """The bridges ``broker`` holds (the ones it pulls through)."""
        return tuple(b for b in self.bridges if b.receiver == broker)


def assign_homes(roster: Roster) -> dict[str, str]:
    """Each node's home grid: fewest grids first, then into its least-homed grid (ties: name)."""
    count: dict[str, int] = dict.fromkeys(roster.grids, 0)
    homes: dict[str, str] = {}
    for node_id in sorted(roster, key=lambda n: (len(set(roster.member(n).grids)), n)):
        home = min(sorted(set(roster.member(node_id).grids)), key=lambda g: count[g])
        count[home] += 1
        homes[node_id] = home
    return dict(sorted(homes.items()))


def _own_topics(node_id: str) -> tuple[str, ...]:
    """Everything a node publishes: pulled by the core from the node's home."""
    return (
        topics.report_topic(node_id),
        topics.status_topic(node_id),
        topics.awareness_topic(node_id),
        topics.picture_topic(node_id),
        topics.cyber_report_topic(node_id),
        topics.cyber_ack_topic(node_id),
    )


def plan_federation(roster: Roster, homes: Mapping[str, str] | None = None) -> FederationPlan:
    """The brokers and bridges of ``roster``'s grids (homes: :func:`assign_homes` unless given).

    Raises:
        ConfigError: ``homes`` misses a node, or homes one in a grid it does not belong to.
    """
    chosen = dict(homes) if homes is not None else assign_homes(roster)
    for node_id in roster:
        if chosen.get(node_id) not in roster.member(node_id).grids:
            raise ConfigError(
                f"federation: node {node_id} needs a home among its grids {roster.member(node_id).grids}, "
                f"got {chosen.get(node_id)!r}"
            )
    plan = FederationPlan(homes={n: chosen[n] for n in sorted(roster)}, bridges=())
    bridges: list[Bridge] = []
    for grid in plan.grids:
        home = plan.home_nodes(grid)
        bridges.append(
            Bridge(receiver=CORE, source=grid, topics=tuple(t for n in home for t in _own_topics(n)))
        )
    for grid in plan.grids:
        home = plan.home_nodes(grid)
        from_core = (topics.CONTROL, topics.TRACKS, *(topics.mitigation_topic(n) for n in home))
        bridges.append(Bridge(receiver=grid, source=CORE, topics=from_core))
        wanted = sorted({p for n in home for p in roster.peers(n)} - set(home))
        for source in plan.grids:
            pulled = tuple(topics.report_topic(p) for p in wanted if plan.homes[p] == source)
            if pulled:
                bridges.append(Bridge(receiver=grid, source=source, topics=pulled))
    return FederationPlan(homes=plan.homes, bridges=tuple(bridges))


@dataclass(frozen=True, slots=True)
class BridgeTls:
    """A secure federation's bridges connect over TLS with their own certificates from ``certs``
    (a ``gridsim certs`` folder, as the brokers see it: an absolute path)."""

    certs: str

    def lines(self, bridge: Bridge) -> list[str]:
        """The bridge's TLS settings: the grid's CA, its own certificate, the source's name checked."""
        layout = CertsLayout(Path(self.certs))
        return [
            "# Mutual TLS to the source: its certificate must chain to the grid's CA and name the",
            "# address's host; this bridge presents its own certificate (its CN, the source's ACL user).",
            f"bridge_cafile {layout.ca_cert}",
            f"bridge_certfile {layout.bridge_cert(bridge.identity)}",
            f"bridge_keyfile {layout.bridge_key(bridge.identity)}",
            "bridge_insecure false",
            "bridge_tls_version tlsv1.2",
        ]


def bridge_section(bridge: Bridge, address: str, tls: BridgeTls | None = None) -> str:
    """The Mosquitto ``connection`` block of ``bridge``, its source at ``address`` (``host:port``),
    over TLS when ``tls`` is given."""
    lines = [
        f"# {bridge.receiver} pulls {len(bridge.topics)} topics from {bridge.source} (one way: in).",
        f"connection {bridge.name}",
        f"address {address}",
        f"remote_clientid gridsim-bridge-{bridge.name}",
        f"local_clientid gridsim-bridge-local-{bridge.name}",
        "bridge_protocol_version mqttv311",
        # The source knows this is a bridge: it keeps the retain flag of what it forwards.
        "try_private true",
        # Persistent: the source queues QoS 1 messages while this broker is down, and delivers on return.
        "cleansession false",
        "start_type automatic",
        f"restart_timeout {_RESTART_S}",
        "keepalive_interval 10",
        "notifications false",
        *(tls.lines(bridge) if tls is not None else []),
        f'topic {bridge.probe_topic} in 1 "" ""',
        *(f'topic {t} in 1 "" ""' for t in bridge.topics),
    ]
    return "\n".join(lines) + "\n"


def broker_config(
    plan: FederationPlan,
    broker: str,
    *,
    base: str,
    addresses: Mapping[str, str],
    tls: BridgeTls | None = None,
) -> str:
    """``broker``'s whole configuration: ``base`` (listener, persistence...) and its bridges.

    Args:
        plan: the federation.
        broker: :data:`CORE` or a grid's name.
        base: the configuration every broker shares (e.g. ``broker/mosquitto-compose.conf``).
        addresses: ``host:port`` of every broker, as the others reach it.
        tls: the bridges' TLS (a secure federation; ``base`` then has the TLS listener).

    Raises:
        ConfigError: ``broker`` is not in the plan, or a source has no address.
    """
    if broker not in plan.brokers:
        raise ConfigError(f"federation: no broker {broker!r}; brokers are {', '.join(plan.brokers)}")
    header = f"\n# ---- federation: broker {broker!r}"
    if broker != CORE:
        header += f", home of {' '.join(plan.home_nodes(broker))}"
    sections = [header + "\n"]
    for bridge in plan.bridges_into(broker):
        if bridge.source not in addresses:
            raise ConfigError(f"federation: no address for broker {bridge.source!r}")
        sections.append(bridge_section(bridge, addresses[bridge.source], tls))
    return base.rstrip("\n") + "\n" + "\n".join(sections)
