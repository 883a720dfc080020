"""Clients' TLS: an ``ssl.SSLContext`` per participant, from a :mod:`grid.security.certs` folder.

Verification stays on: the broker's certificate must chain to the grid's CA and name the host
connected to (``check_hostname``). Each participant presents its own client certificate, whose CN
the broker takes as its user name.

Which certificate a connection presents follows from its client id (``gridsim-<id>``: a member
node's or a service's own, anything else, the controller and the tools, ``operator``), or from
one fixed name (``--cert-name``). The credentials of a run are set once with
:func:`use_credentials` (a context variable, so every task started inside inherits them and a
test's plain broker next door is not affected); :class:`grid.mqtt.transport.Transport` asks
:func:`active_credentials` when it is not given a context of its own.
"""

from __future__ import annotations

import contextlib
import contextvars
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from grid.errors import ConfigError
from grid.security.certs import CertsLayout

__all__ = [
    "CLIENT_PREFIX",
    "OPERATOR",
    "Credentials",
    "active_credentials",
    "client_context",
    "use_credentials",
]

CLIENT_PREFIX = "gridsim-"
OPERATOR = "operator"


class _ClosingSSLSocket(ssl.SSLSocket):
    """An SSL socket that closes itself when its handshake fails: paho drops it unclosed otherwise."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A TLS 1.2+ client context trusting ``ca`` only, verifying certificate and host name,
    presenting ``cert``/``key`` when given.

    Raises:
        ConfigError: a file is missing or is not a PEM certificate or key.
    """
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
        if cert is not None:
            context.load_cert_chain(str(cert), None if key is None else str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"TLS credentials {cert or ca}: {getattr(exc, 'strerror', None) or exc}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # create_default_context already does both; said again so no later edit turns them off unseen.
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.sslsocket_class = _ClosingSSLSocket
    return context


@dataclass(frozen=True)
class Credentials:
    """A certificates folder and how a client id picks its certificate from it."""

    certs: Path
    name: str | None = None  # every connection presents this certificate (``--cert-name``)
    _contexts: dict[str, ssl.SSLContext] = field(default_factory=dict, compare=False, repr=False)

    @property
    def layout(self) -> CertsLayout:
        """The folder's files."""
        return CertsLayout(self.certs)

    def cert_name(self, client_id: str) -> str:
        """The certificate ``client_id`` presents: its own, else the operator's."""
        if self.name is not None:
            return self.name
        own = client_id.removeprefix(CLIENT_PREFIX)
        if own != client_id and self.layout.client_cert(own).is_file():
            return own
        return OPERATOR

    def context(self, client_id: str) -> ssl.SSLContext:
        """The TLS context for ``client_id`` (one per certificate, made once)."""
        name = self.cert_name(client_id)
        cached = self._contexts.get(name)
        if cached is None:
            self.layout.check(name)
            layout = self.layout
            cached = client_context(layout.ca_cert, layout.client_cert(name), layout.client_key(name))
            self._contexts[name] = cached
        return cached


_ACTIVE: contextvars.ContextVar[Credentials | None] = contextvars.ContextVar(
    "gridsim_credentials", default=None
)


def active_credentials() -> Credentials | None:
    """The credentials set by the innermost :func:`use_credentials`, if any."""
    return _ACTIVE.get()


@contextlib.contextmanager
def use_credentials(credentials: Credentials | None) -> Iterator[None]:
    """Connect over TLS with ``credentials`` inside the block (None: leave things as they are)."""
    if credentials is None:
        yield
        return
    token = _ACTIVE.set(credentials)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
