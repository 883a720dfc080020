"""The committed secure-mode examples in ``broker/``, for docker compose: made by code, never by hand.

``broker/mosquitto-tls.conf`` and ``broker/mosquitto-mtls.conf`` are ``broker/mosquitto-compose.conf``
secured by :func:`grid.security.broker_tls.secure_config` (listener 8883, the certificates of
``gridsim certs`` mounted at ``/mosquitto/certs``), and ``broker/acl`` is the bundled roster's ACL
(:func:`grid.security.acl.render_acl`). ``python -m grid.security.examples`` rewrites them; a test
fails when they are not current.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grid.bundled import bundled_dir
from grid.security.acl import render_acl
from grid.security.broker_tls import SecureBroker, TlsMode, secure_config
from grid.world.roster import Roster, load_roster

__all__ = ["COMPOSE_ACL", "COMPOSE_CERTS", "example_files", "main"]

COMPOSE_CERTS = "/mosquitto/certs"  # where compose mounts a gridsim certs folder
COMPOSE_ACL = "/mosquitto/config/acl"
_PLAIN = "mosquitto-compose.conf"
_TLS_LISTENER = "listener 8883"
_REGENERATE = "# Regenerate with: python -m grid.security.examples (a test checks this file is current).\n"


def _secured(plain: str, mode: TlsMode) -> str:
    broker = SecureBroker(
        ca_file=f"{COMPOSE_CERTS}/ca.crt",
        cert_file=f"{COMPOSE_CERTS}/broker.crt",
        key_file=f"{COMPOSE_CERTS}/broker.key",
        acl_file=COMPOSE_ACL,
        mode=mode,
        listener=_TLS_LISTENER,
    )
    return secure_config(plain, broker)


def example_files(roster: Roster, folder: Path | None = None) -> dict[str, str]:
    """File name in ``broker/`` -> the text it must have."""
    plain = ((folder or bundled_dir("broker")) / _PLAIN).read_text(encoding="utf-8")
    files = {
        "mosquitto-tls.conf": _secured(plain, "tls"),
        "mosquitto-mtls.conf": _secured(plain, "mtls"),
        "acl": render_acl(roster),
    }
    return {name: _REGENERATE + text for name, text in files.items()}


def main() -> int:
    """Rewrite the examples in the source tree's ``broker/``."""
    folder = bundled_dir("broker")
    for name, text in example_files(load_roster(), folder).items():
        (folder / name).write_text(text, encoding="utf-8")
        print(f"wrote {folder / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
