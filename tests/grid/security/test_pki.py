"""Tests of grid.security.certs and ``gridsim certs``: the layout, permissions, names and refusals."""

from __future__ import annotations

import datetime
import ipaddress
import stat
from pathlib import Path
from unittest import mock

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from grid.app.cli import main
from grid.errors import ConfigError
from grid.security.certs import SERVICE_NAMES, CertsLayout, expired, is_complete, write_certs
from grid.security.tls import Credentials
from grid.world.roster import Roster


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_certs_makes_every_file_with_private_keys_0600(pki: CertsLayout, roster: Roster) -> None:
    """CA, broker, a client per member and service, a signing pair per member; keys 0600."""
    names = [*roster, *SERVICE_NAMES]
    keys = [
        pki.ca_key,
        pki.broker_key,
        *(pki.client_key(n) for n in names),
        *(pki.signing_key(n) for n in roster),
    ]
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    for name in names:
        assert _cn(_cert(pki.client_cert(name))) == name
    ca = _cert(pki.ca_cert)
    for name in ["broker", *names]:
        cert = _cert(pki.broker_cert if name == "broker" else pki.client_cert(name))
        cert.verify_directly_issued_by(ca)
    assert sorted(p.stem for p in (pki.root / "clients").glob("*.crt")) == sorted(names)


def test_the_broker_certificate_names_loopback_localhost_and_the_compose_services(pki: CertsLayout) -> None:
    """SANs 127.0.0.1, localhost, broker and mosquitto (the compose demo's broker service)."""
    sans = _cert(pki.broker_cert).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost", "broker", "mosquitto"]


def test_signing_keys_are_ed25519_pkcs8_and_spki_pem_pairs(pki: CertsLayout, roster: Roster) -> None:
    """DIR/signing/<node>.key signs what DIR/signing/<node>.pub verifies (the layout h13g reads)."""
    for node in roster:
        private = serialization.load_pem_private_key(pki.signing_key(node).read_bytes(), password=None)
        public = serialization.load_pem_public_key(pki.signing_pub(node).read_bytes())
        assert isinstance(private, ed25519.Ed25519PrivateKey)
        assert isinstance(public, ed25519.Ed25519PublicKey)
        assert pki.signing_key(node).read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
        public.verify(private.sign(b"report"), b"report")


def test_an_existing_folder_is_refused_unless_forced(tmp_path: Path, roster: Roster) -> None:
    """Keys are never overwritten by accident; --force replaces the folder with a new CA."""
    first = write_certs(tmp_path / "c", roster)
    before = first.ca_cert.read_bytes()
    with pytest.raises(ConfigError, match="exists"):
        write_certs(tmp_path / "c", roster)
    assert first.ca_cert.read_bytes() == before
    assert write_certs(tmp_path / "c", roster, force=True).ca_cert.read_bytes() != before


def test_a_client_id_picks_its_own_certificate_else_the_operators(pki: CertsLayout) -> None:
    """gridsim-<id> presents <id>'s certificate; the controller and tools present the operator's."""
    credentials = Credentials(pki.root)
    assert credentials.cert_name("gridsim-DE") == "DE"
    assert credentials.cert_name("gridsim-fusion") == "fusion"
    assert credentials.cert_name("gridsim-controller-123") == "operator"
    assert credentials.cert_name("gridsim-inject-9") == "operator"
    assert Credentials(pki.root, name="dashboard").cert_name("gridsim-DE") == "dashboard"
    with pytest.raises(ConfigError, match="missing"):
        Credentials(pki.root, name="nobody").context("x")


def test_gridsim_certs_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``gridsim certs DIR`` writes the folder; again without --force it fails with a one-line error."""
    assert main(["certs", str(tmp_path / "c"), "--days", "2"]) == 0
    assert CertsLayout(tmp_path / "c").client_cert("RO").is_file()
    assert main(["certs", str(tmp_path / "c")]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["certs", str(tmp_path / "c"), "--force"]) == 0


def test_an_empty_folder_is_filled(tmp_path: Path, roster: Roster) -> None:
    """An existing empty folder (a fresh docker volume's mount point) holds no keys to lose: filled."""
    (tmp_path / "c").mkdir()
    assert is_complete(write_certs(tmp_path / "c", roster), roster)


def test_keep_keeps_a_complete_pki_and_refuses_a_partial_one(
    tmp_path: Path, roster: Roster, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--keep``: a complete folder stays as it is (compose's second up); a partial one is refused."""
    (tmp_path / "c").mkdir()
    assert main(["certs", str(tmp_path / "c"), "--keep"]) == 0
    layout = CertsLayout(tmp_path / "c")
    before = layout.ca_cert.read_bytes()
    assert main(["certs", str(tmp_path / "c"), "--keep"]) == 0
    assert "kept" in capsys.readouterr().out
    assert layout.ca_cert.read_bytes() == before
    layout.signing_key("RO").unlink()
    assert not is_complete(layout, roster)
    assert main(["certs", str(tmp_path / "c"), "--keep"]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["certs", str(tmp_path / "c"), "--keep", "--force"]) == 2


def test_keep_refuses_an_expired_pki(
    tmp_path: Path, roster: Roster, capsys: pytest.CaptureFixture[str]
) -> None:
    """A kept PKI must still be valid: an expired one is named, not kept (the grid could not connect)."""
    layout = write_certs(tmp_path / "c", roster, days=1)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)
    assert expired(layout) is None
    assert expired(layout, at=later) == layout.ca_cert
    with mock.patch("grid.security.certs._now", return_value=later):
        assert main(["certs", str(tmp_path / "c"), "--keep"]) == 2
    assert "has expired" in capsys.readouterr().err
