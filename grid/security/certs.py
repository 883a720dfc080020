"""``gridsim certs DIR``: a test PKI for a secure grid, made with ``cryptography``.

The layout (private keys 0600)::

    DIR/ca.crt, ca.key                 the grid's test certificate authority
    DIR/broker.crt, broker.key         the broker (SANs 127.0.0.1, localhost, broker, mosquitto)
    DIR/clients/<name>.crt, .key       one per member state (CN = node id), fusion, hub, jcc,
                                       dashboard and operator (results, inject, health, the controller)
    DIR/signing/<node>.key, .pub       one Ed25519 pair per member state (PKCS8 / SubjectPublicKeyInfo PEM)
    DIR/bridges/<identity>.crt, .key   one per bridge of the roster's federation (CN = its identity,
                                       ``bridge-<receiver>-from-<source>``), when asked for

Mosquitto, with ``use_identity_as_username true``, takes a client's CN as its user name, and the
ACL (:mod:`grid.security.acl`) grants each name its topics. Certificates are for a simulator on
loopback: RSA would do as well, but ECDSA P-256 keeps generation fast.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from grid.errors import ConfigError

__all__ = [
    "BROKER_HOSTS",
    "SERVICE_NAMES",
    "Authority",
    "CertsLayout",
    "expired",
    "is_complete",
    "issue_broker",
    "issue_client",
    "load_authority",
    "new_authority",
    "write_certs",
    "write_pair",
]

# Not member states: who else holds a client certificate (the operator: controller and tools).
SERVICE_NAMES = ("fusion", "hub", "jcc", "dashboard", "operator")
# The broker's names: loopback, and the compose service names (the demo's broker is `mosquitto`).
BROKER_HOSTS = ("127.0.0.1", "localhost", "broker", "mosquitto")
DEFAULT_DAYS = 30


@dataclass(frozen=True, slots=True)
class CertsLayout:
    """Where each file of a certificates folder is."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def broker_cert(self) -> Path:
        return self.root / "broker.crt"

    @property
    def broker_key(self) -> Path:
        return self.root / "broker.key"

    def client_cert(self, name: str) -> Path:
        return self.root / "clients" / f"{name}.crt"

    def client_key(self, name: str) -> Path:
        return self.root / "clients" / f"{name}.key"

    def signing_key(self, node: str) -> Path:
        return self.root / "signing" / f"{node}.key"

    def signing_pub(self, node: str) -> Path:
        return self.root / "signing" / f"{node}.pub"

    def bridge_cert(self, identity: str) -> Path:
        return self.root / "bridges" / f"{identity}.crt"

    def bridge_key(self, identity: str) -> Path:
        return self.root / "bridges" / f"{identity}.key"

    def check_bridges(self, *identities: str) -> None:
        """Raise :class:`ConfigError` naming the first bridge certificate or key that is missing."""
        for path in (p for i in identities for p in (self.bridge_cert(i), self.bridge_key(i))):
            if not path.is_file():
                raise ConfigError(
                    f"certificates folder {self.root}: missing {path}, a federation bridge's; "
                    "make the folder again with gridsim certs"
                )

    def check(self, *names: str) -> None:
        """Raise :class:`ConfigError` naming the first file of the CA or of ``names`` that is missing."""
        files = [self.ca_cert, *(p for n in names for p in (self.client_cert(n), self.client_key(n)))]
        for path in files:
            if not path.is_file():
                raise ConfigError(
                    f"certificates folder {self.root}: missing {path}; make it with gridsim certs"
                )


@dataclass(frozen=True, slots=True)
class Authority:
    """A certificate authority: its key and self-signed certificate."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def load_authority(layout: CertsLayout) -> Authority:
    """The CA of a certificates folder (to issue one more client certificate, e.g. an expired one)."""
    key = serialization.load_pem_private_key(layout.ca_key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{layout.ca_key}: not the EC key gridsim certs writes")
    return Authority(key, x509.load_pem_x509_certificate(layout.ca_cert.read_bytes()))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gridsim test grid"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def new_authority(common_name: str = "gridsim test CA", *, days: int = DEFAULT_DAYS) -> Authority:
    """A new self-signed CA valid from now (less a minute of clock skew) for ``days``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(key, cert)


def _issue(
    ca: Authority,
    common_name: str,
    *,
    server: bool,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    hosts: Iterable[str] = BROKER_HOSTS,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if server:
        sans: list[x509.GeneralName] = []
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, builder.sign(ca.key, hashes.SHA256())


def issue_client(
    ca: Authority,
    name: str,
    *,
    days: int = DEFAULT_DAYS,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A client certificate with CN ``name`` (the broker's user name), signed by ``ca``.

    ``not_before``/``not_after`` override the validity (the attack tests' expired certificate).
    """
    start = not_before if not_before is not None else _now() - datetime.timedelta(minutes=1)
    end = not_after if not_after is not None else _now() + datetime.timedelta(days=days)
    return _issue(ca, name, server=False, not_before=start, not_after=end)


def issue_broker(
    ca: Authority, *, hosts: Iterable[str] = BROKER_HOSTS, days: int = DEFAULT_DAYS
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A broker (server) certificate naming ``hosts`` (its SANs), signed by ``ca``."""
    now = _now()
    return _issue(
        ca,
        "broker",
        server=True,
        not_before=now - datetime.timedelta(minutes=1),
        not_after=now + datetime.timedelta(days=days),
        hosts=dict.fromkeys(hosts),
    )


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` readable by its owner only, from the first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT


def _key_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_pair(
    cert_path: Path, key_path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> None:
    """Write a certificate (0644) and its private key (0600)."""
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(key_path, _key_pem(key))


def is_complete(layout: CertsLayout, nodes: Iterable[str]) -> bool:
    """Whether ``layout`` holds every file :func:`write_certs` writes for ``nodes``."""
    node_ids = list(nodes)
    files = [layout.ca_cert, layout.ca_key, layout.broker_cert, layout.broker_key]
    for name in [*node_ids, *SERVICE_NAMES]:
        files += [layout.client_cert(name), layout.client_key(name)]
    for node in node_ids:
        files += [layout.signing_key(node), layout.signing_pub(node)]
    return all(path.is_file() for path in files)


def expired(layout: CertsLayout, *, at: datetime.datetime | None = None) -> Path | None:
    """The first of the CA's and the broker's certificates no longer valid ``at`` (now), if any."""
    when = at if at is not None else _now()
    for path in (layout.ca_cert, layout.broker_cert):
        if x509.load_pem_x509_certificate(path.read_bytes()).not_valid_after_utc <= when:
            return path
    return None


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def write_certs(
    directory: Path,
    nodes: Iterable[str],
    *,
    days: int = DEFAULT_DAYS,
    force: bool = False,
    bridges: Iterable[str] = (),
    broker_hosts: Iterable[str] = (),
) -> CertsLayout:
    """Make the whole test PKI of a grid of ``nodes`` in ``directory``.

    An existing empty ``directory`` is filled: it holds no keys to lose (a fresh docker volume's
    mount point cannot be removed and made again). ``bridges`` are the identities of a
    federation's bridges (a client certificate each, under ``bridges/``); ``broker_hosts`` are more
    names for the broker's certificate, after :data:`BROKER_HOSTS` (a federation's compose services).

    Raises:
        ConfigError: ``directory`` exists and is not empty (unless ``force``: then it is replaced),
            or ``days`` < 1.
    """
    if days < 1:
        raise ConfigError(f"--days must be 1 or more, got {days}")
    empty = _is_empty_dir(directory)
    if (directory.exists() or directory.is_symlink()) and not empty:
        if not force:
            raise ConfigError(
                f"{directory} exists; refusing to overwrite keys (use --force to replace it, or --keep "
                "to keep a complete one)"
            )
        if directory.is_dir() and not directory.is_symlink():
            shutil.rmtree(directory)
        else:
            directory.unlink()
    layout = CertsLayout(directory)
    directory.mkdir(parents=True, exist_ok=empty)
    ca = new_authority(days=days)
    layout.ca_cert.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    _write_private(layout.ca_key, _key_pem(ca.key))
    key, cert = issue_broker(ca, hosts=[*BROKER_HOSTS, *broker_hosts], days=days)
    write_pair(layout.broker_cert, layout.broker_key, key, cert)
    node_ids = sorted(nodes)
    for name in [*node_ids, *SERVICE_NAMES]:
        key, cert = issue_client(ca, name, days=days)
        write_pair(layout.client_cert(name), layout.client_key(name), key, cert)
    for identity in sorted(set(bridges)):
        key, cert = issue_client(ca, identity, days=days)
        write_pair(layout.bridge_cert(identity), layout.bridge_key(identity), key, cert)
    for node in node_ids:
        signing = ed25519.Ed25519PrivateKey.generate()
        _write_private(layout.signing_key(node), _key_pem(signing))
        layout.signing_pub(node).write_bytes(
            signing.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return layout
