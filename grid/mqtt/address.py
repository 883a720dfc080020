"""Where a broker is: ``mqtt://host:port`` addresses, and loopback ports free to listen on."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from grid.errors import ConfigError

__all__ = ["LOOPBACK", "free_port", "parse_broker_url", "port_in_use"]

LOOPBACK = "127.0.0.1"
_DEFAULT_PORT = 1883
_DEFAULT_TLS_PORT = 8883
_URL_SCHEMES = ("mqtt", "tcp", "mqtts")


def parse_broker_url(url: str) -> tuple[str, int]:
    """Split a broker address into host and port.

    Accepts ``mqtt://host:port``, ``mqtt://host`` (port 1883), ``tcp://...``, ``host:port`` and
    ``mqtts://host[:port]`` (port 8883; TLS itself comes with ``--certs``, :mod:`grid.security.tls`).

    Raises:
        ConfigError: another scheme (TLS and websockets are not supported), a bad or missing
            host or port, credentials or a path.
    """
    text = url.strip()
    has_scheme = "://" in text
    try:
        parts = urlsplit(text if has_scheme else f"mqtt://{text}")
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"broker URL {url!r}: bad host or port ({exc})") from exc
    if parts.scheme.lower() not in _URL_SCHEMES:
        raise ConfigError(
            f"broker URL {url!r}: scheme {parts.scheme!r} is not supported; use mqtt://host:port or mqtts://"
        )
    if not parts.hostname:
        raise ConfigError(f"broker URL {url!r}: no host; expected mqtt://host:port")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"broker URL {url!r}: credentials are not supported; expected mqtt://host:port")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"broker URL {url!r}: unexpected path or query; expected mqtt://host:port")
    if port is None:
        if not has_scheme:
            raise ConfigError(f"broker address {url!r}: no port; expected host:port or mqtt://host")
        port = _DEFAULT_TLS_PORT if parts.scheme.lower() == "mqtts" else _DEFAULT_PORT
    if port == 0:
        raise ConfigError(f"broker URL {url!r}: port must be 1-65535")
    return parts.hostname, port


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(host: str, port: int) -> bool:
    """Whether something holds ``port`` on ``host`` (a port in TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option the brokers set, so a port in TIME_WAIT does not count as in use.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
