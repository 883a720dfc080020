"""``gridsim run --federated`` and ``gridsim federation configs``: a run's brokers when each grid
has its own Mosquitto, and the same layout written out for docker compose.

A federated run starts the core and one Mosquitto per grid on loopback, bridged as
:mod:`grid.mqtt.federation` plans (temporary folders, all stopped and removed on exit); the
controller, the fusion centre, the hub and the JCC use the core, each node its home grid's
broker. The summary gains a ``federation`` block (:func:`grid.results.summary.federation_section`).

For compose, :func:`write_compose_configs` writes ``mosquitto.conf`` (the core, service
``mosquitto``), ``broker-<grid>.conf`` per grid (service ``broker-<grid>``), all on port 1883 of
the compose network with ``broker/mosquitto-compose.conf``'s settings, and each node's broker in
``homes.json`` and ``compose.env``. With ``--secure`` every broker listens on 8883 with mutual TLS
(``broker/mosquitto-mtls.conf``'s settings, the certificates of ``gridsim certs`` at
``/mosquitto/certs``) and its own ACL (``mosquitto.acl``, ``broker-<grid>.acl``: each mounted at
``/mosquitto/config/acl``), and its bridges connect over TLS with their own certificates.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grid.bundled import bundled_dir
from grid.errors import ConfigError
from grid.mqtt.address import parse_broker_url
from grid.mqtt.bridged import Federation, start_federation
from grid.mqtt.broker import BrokerInfo, open_broker
from grid.mqtt.federation import CORE, BridgeTls, FederationPlan, broker_config, plan_federation
from grid.mqtt.secure_federation import SecureFederation, render_broker_acl
from grid.security.broker_tls import SecureBroker, SecureSetup, secure_config
from grid.security.certs import CertsLayout
from grid.security.examples import COMPOSE_ACL, COMPOSE_CERTS
from grid.world.roster import Roster

__all__ = [
    "DEFAULT_CORE",
    "DEFAULT_GRID_ADDRESS",
    "RunBrokers",
    "federation_identities",
    "open_run_brokers",
    "write_compose_configs",
]

DEFAULT_CORE = "mosquitto:1883"
DEFAULT_GRID_ADDRESS = "broker-{grid}:1883"
_SECURE_PORT = 8883  # the compose brokers' TLS listener (as broker/mosquitto-mtls.conf's)
_COMPOSE_BASE = "mosquitto-compose.conf"


@dataclass(frozen=True, kw_only=True)
class RunBrokers:
    """A run's brokers: the one every participant uses, or a federation's core and homes."""

    core: BrokerInfo
    federation: Federation | None = None

    def home(self, node_id: str) -> tuple[str, int]:
        """Where ``node_id`` connects: its home grid's broker, or the one broker."""
        info = self.core if self.federation is None else self.federation.home(node_id)
        return info.host, info.port

    def homes(self, roster: Roster) -> dict[str, tuple[str, int]] | None:
        """Every node's broker when federated; None with one broker."""
        return None if self.federation is None else {n: self.home(n) for n in roster}


@contextlib.asynccontextmanager
async def open_run_brokers(
    *,
    roster: Roster,
    federated: bool,
    url: str | None,
    kind: Literal["auto", "mosquitto", "amqtt"],
    port: int | None,
    log_dir: Path | None,
    secure: SecureSetup | None = None,
) -> AsyncIterator[RunBrokers]:
    """One broker (:func:`~grid.mqtt.broker.open_broker`), or a federation of Mosquittos on loopback.

    Raises:
        ConfigError: federated with an external broker or amqtt.
        BrokerStartError: a broker or bridge did not come up.
    """
    if not federated:
        log_path = None if log_dir is None else log_dir / "broker.log"
        async with open_broker(url, kind=kind, port=port, log_path=log_path, secure=secure) as info:
            yield RunBrokers(core=info)
        return
    if url is not None or kind == "amqtt":
        raise ConfigError("--federated starts its own Mosquittos: it cannot use --broker or amqtt")
    # Secure: each broker its own ACL (not ``secure.acl``, one broker's), the bridges over TLS.
    secured = None if secure is None else SecureFederation(secure.certs, roster)
    async with start_federation(
        plan_federation(roster), core_port=port, log_dir=log_dir, secure=secured
    ) as federation:
        yield RunBrokers(core=federation.core, federation=federation)


def federation_identities(roster: Roster) -> tuple[list[str], list[str]]:
    """What ``gridsim certs`` adds for a federation of ``roster``: its bridges' identities (a client
    certificate each) and its brokers' default compose host names (on the broker's certificate)."""
    plan = plan_federation(roster)
    hosts = [parse_broker_url(DEFAULT_CORE)[0]]
    hosts += [parse_broker_url(DEFAULT_GRID_ADDRESS.format(grid=g))[0] for g in plan.grids]
    return [b.identity for b in plan.bridges], hosts


def _address(value: str) -> str:
    """``host:port`` as Mosquitto's ``address`` wants it; raises ConfigError when malformed."""
    host, port = parse_broker_url(value)
    return f"{host}:{port}"


def _stem(broker: str) -> str:
    """The name of ``broker``'s files: ``mosquitto`` for the core (compose's default service)."""
    return "mosquitto" if broker == CORE else f"broker-{broker}"


def _secured_base(base: str, certs: str) -> str:
    """The compose base with its listener on 8883, mutual TLS and the ACL at ``/mosquitto/config/acl``."""
    layout = CertsLayout(Path(certs))
    broker = SecureBroker(
        ca_file=str(layout.ca_cert),
        cert_file=str(layout.broker_cert),
        key_file=str(layout.broker_key),
        acl_file=COMPOSE_ACL,
        listener=f"listener {_SECURE_PORT}",
    )
    return secure_config(base, broker)


def write_compose_configs(
    roster: Roster,
    out_dir: Path,
    *,
    core: str | None = None,
    grid_address: str | None = None,
    secure: bool = False,
    certs: str = COMPOSE_CERTS,
) -> FederationPlan:
    """Write the federation's Mosquitto configurations and each node's broker into ``out_dir``.

    Args:
        roster: the member states (their grids decide the brokers and bridges).
        out_dir: created if missing; existing files of the same names are replaced.
        core: ``host:port`` of the core broker as the grid brokers reach it (default
            :data:`DEFAULT_CORE`, port 8883 when ``secure``).
        grid_address: ``host:port`` of a grid's broker, ``{grid}`` standing for its name (default
            :data:`DEFAULT_GRID_ADDRESS`, port 8883 when ``secure``).
        secure: mutual TLS, an ACL per broker (``<name>.acl``) and TLS bridges.
        certs: where the brokers find the ``gridsim certs`` folder (secure only).

    Raises:
        ConfigError: an address is malformed, or ``grid_address`` has no ``{grid}``.
    """
    port = f":{_SECURE_PORT}" if secure else ":1883"
    core = core if core is not None else DEFAULT_CORE.replace(":1883", port)
    grid_address = grid_address if grid_address is not None else DEFAULT_GRID_ADDRESS.replace(":1883", port)
    if "{grid}" not in grid_address:
        raise ConfigError(f"--grid-address {grid_address!r} needs a {{grid}} placeholder")
    plan = plan_federation(roster)
    addresses = {CORE: _address(core)}
    addresses |= {g: _address(grid_address.format(grid=g)) for g in plan.grids}
    base_path = bundled_dir("broker") / _COMPOSE_BASE
    try:
        base = base_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {base_path}: {exc.strerror or exc}") from exc
    tls = BridgeTls(certs) if secure else None
    base = _secured_base(base, certs) if secure else base
    out_dir.mkdir(parents=True, exist_ok=True)
    for broker in plan.brokers:
        text = broker_config(plan, broker, base=base, addresses=addresses, tls=tls)
        (out_dir / f"{_stem(broker)}.conf").write_text(text, encoding="utf-8")
        if secure:
            acl = render_broker_acl(plan, broker, roster)
            (out_dir / f"{_stem(broker)}.acl").write_text(acl, encoding="utf-8")
    scheme = "mqtts" if secure else "mqtt"
    homes = {n: {"grid": g, "broker": f"{scheme}://{addresses[g]}"} for n, g in plan.homes.items()}
    document = {"core": f"{scheme}://{addresses[CORE]}", "nodes": homes}
    (out_dir / "homes.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    # For `docker compose --env-file DIR/compose.env up`: the profile, the core's configuration
    # (a path under broker/, as docker-compose.yml mounts it) and each service's broker.
    env = [
        f"# docker compose --env-file broker/{out_dir.name}/compose.env up "
        "(written by gridsim federation configs)",
        "COMPOSE_PROFILES=federated",
        f"GRID_MOSQUITTO_CONF={out_dir.name}/mosquitto.conf",
        f"GRID_BROKER_CORE={scheme}://{addresses[CORE]}",
    ]
    env += [f"GRID_BROKER_{n}={h['broker']}" for n, h in homes.items()]
    (out_dir / "compose.env").write_text("\n".join(env) + "\n", encoding="utf-8")
    return plan
