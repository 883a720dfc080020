"""A grid's test PKI and a Mosquitto in secure mode (mutual TLS, the roster's ACL) on a free loopback port."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from grid.mqtt.broker import BrokerInfo, start_broker
from grid.mqtt.process import mosquitto_path
from grid.mqtt.transport import Transport
from grid.security.acl import render_acl
from grid.security.broker_tls import SecureSetup
from grid.security.certs import CertsLayout, write_certs
from grid.security.tls import Credentials, client_context
from grid.world.roster import Roster


@dataclass(frozen=True)
class SecureGrid:
    """A secure broker and the certificates its grid was issued."""

    broker: BrokerInfo
    layout: CertsLayout
    credentials: Credentials

    def client(
        self, name: str, *, tls: ssl.SSLContext | None = None, client_id: str | None = None
    ) -> Transport:
        """A connection presenting ``name``'s certificate (or ``tls``), not yet entered."""
        context = tls if tls is not None else self.credentials.context(f"gridsim-{name}")
        return Transport(
            host=self.broker.host,
            port=self.broker.port,
            client_id=client_id or f"attack-{name}",
            tls=context,
            connect_timeout_s=10.0,
        )

    def anonymous_tls(self) -> ssl.SSLContext:
        """A context that trusts the grid's CA but presents no certificate."""
        return client_context(self.layout.ca_cert)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory, roster: Roster) -> CertsLayout:
    """One test PKI for the module's tests (``gridsim certs`` output)."""
    return write_certs(tmp_path_factory.mktemp("pki") / "certs", roster)


@pytest.fixture
async def secure_grid(pki: CertsLayout, roster: Roster) -> AsyncIterator[SecureGrid]:
    """Mosquitto with mutual TLS and the roster's ACL, as ``gridsim run --secure`` starts it."""
    if mosquitto_path() is None:
        pytest.skip("Mosquitto is not installed")
    async with start_broker("mosquitto", secure=SecureSetup(pki.root, render_acl(roster))) as broker:
        yield SecureGrid(broker, pki, Credentials(pki.root))


@pytest.fixture
def foreign_pki(tmp_path: Path, roster: Roster) -> CertsLayout:
    """Another grid's PKI: a CA the secure broker does not trust, with certificates of the same names."""
    return write_certs(tmp_path / "foreign", roster)
