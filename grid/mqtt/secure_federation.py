"""A secure federation: every broker with mutual TLS and an ACL of the clients that connect to it,
every bridge over TLS with a certificate of its own.

Each broker's ACL (:func:`broker_grants`, made from the roster's grants, :mod:`grid.security.acl`)
names only who connects there:

- the core: the fusion centre, the hub, the Joint Cyber Centre and the dashboard, as on one broker;
- a grid's broker: its home nodes (a node's certificate is worth nothing on another grid's broker);
- every broker: the operator (the run's controller and tools), also allowed the bridges' probes
  (:data:`~grid.mqtt.federation.PROBE_ROOT`, which prove each bridge up before a run starts);
- every broker: each bridge that pulls from it (user :attr:`~grid.mqtt.federation.Bridge.identity`,
  the CN of its certificate from ``gridsim certs``), reading exactly the topics it forwards and its
  probe, and writing nothing. What a bridge publishes on its own broker, the receiver, Mosquitto
  does not check against that broker's ACL: the receiver's configuration names the topics it pulls.

Reports cross the bridges byte for byte, so the signatures of signed reports
(:mod:`grid.security.signing`) are checked by the receivers as on one broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grid.mqtt.federation import CORE, PROBE_ROOT, BridgeTls, FederationPlan
from grid.security.acl import ACL_HEADER, Grant, grants, render_grants
from grid.security.broker_tls import SecureSetup
from grid.security.certs import SERVICE_NAMES, CertsLayout
from grid.security.tls import OPERATOR
from grid.world.roster import Roster

__all__ = ["PROBES", "SecureFederation", "broker_grants", "render_broker_acl"]

PROBES = f"{PROBE_ROOT}/#"


def broker_grants(plan: FederationPlan, broker: str, roster: Roster) -> dict[str, list[Grant]]:
    """Every user name of ``broker``'s ACL and its grants: its participants', the operator's, then
    each bridge's that pulls from it."""
    everyone = grants(roster)
    users = [s for s in SERVICE_NAMES if s != OPERATOR] if broker == CORE else list(plan.home_nodes(broker))
    out = {user: everyone[user] for user in users}
    out[OPERATOR] = [*everyone[OPERATOR], ("read", PROBES), ("write", PROBES)]
    for bridge in plan.bridges:
        if bridge.source == broker:
            out[bridge.identity] = [("read", t) for t in (bridge.probe_topic, *bridge.topics)]
    return out


def render_broker_acl(plan: FederationPlan, broker: str, roster: Roster) -> str:
    """The Mosquitto ``acl_file`` text of a federation's ``broker``."""
    header = ACL_HEADER + f"# Federated broker {broker!r} (grid/mqtt/secure_federation.py).\n"
    return render_grants(broker_grants(plan, broker, roster), header)


@dataclass(frozen=True, slots=True)
class SecureFederation:
    """What a secure federation's brokers need: the certificates folder (with the bridges'
    certificates) and the roster their ACLs are made from."""

    certs: Path
    roster: Roster

    def check(self, plan: FederationPlan) -> None:
        """Raise :class:`~grid.errors.ConfigError` when a bridge's certificate or key is missing."""
        CertsLayout(self.certs).check_bridges(*(b.identity for b in plan.bridges))

    def setup(self, plan: FederationPlan, broker: str) -> SecureSetup:
        """``broker``'s listener: mutual TLS with the grid's broker certificate, and its own ACL."""
        return SecureSetup(self.certs, render_broker_acl(plan, broker, self.roster))

    @property
    def bridge_tls(self) -> BridgeTls:
        """The bridges' TLS settings, with the folder's absolute path (Mosquitto runs elsewhere)."""
        return BridgeTls(str(self.certs.resolve()))
