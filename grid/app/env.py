"""Defaults the command line takes from the environment, for containers: ``GRID_BROKER_URL`` for
every ``--broker``, ``GRID_NODE_ID`` for ``node --id`` and ``health --node``, ``GRID_SPEED`` for
``--speed``, ``GRID_CERTS`` for every ``--certs`` (secure mode). A flag beats its variable; an empty
variable counts as unset.

Standard library only: the parser builds ``--help``'s epilog from :data:`ENV_VARS`.
"""

from __future__ import annotations

import os

from grid.errors import ConfigError

__all__ = ["BROKER_URL", "CERTS", "ENV_VARS", "NODE_ID", "SPEED", "env_epilog", "from_env", "speed_from_env"]

BROKER_URL = "GRID_BROKER_URL"
NODE_ID = "GRID_NODE_ID"
SPEED = "GRID_SPEED"
CERTS = "GRID_CERTS"

# Every variable gridsim reads, with what it sets: the epilog of ``gridsim --help``.
ENV_VARS = {
    BROKER_URL: "default of every --broker (run: only with --external), e.g. mqtt://broker:1883",
    NODE_ID: "default of node --id and health --node, e.g. RO",
    SPEED: "default of run and inject --speed (simulation seconds per wall second)",
    CERTS: "default of every --certs: a gridsim certs folder (secure mode: mutual TLS)",
    "GRIDSIM_TAXII_USER": "user for --taxii when the URL carries none",
    "GRIDSIM_TAXII_PASSWORD": "password for --taxii when the URL carries none",
}


def env_epilog() -> str:
    """The environment variables, one a line, for an argparse epilog (RawDescriptionHelpFormatter)."""
    width = max(map(len, ENV_VARS))
    lines = [f"  {name:<{width}}  {meaning}" for name, meaning in ENV_VARS.items()]
    return "environment variables (a flag beats its variable):\n" + "\n".join(lines)


def from_env(value: str | None, *, flag: str, var: str, required: bool = True) -> str | None:
    """``value`` (the flag's) if given, else the variable ``var``'s.

    Raises:
        ConfigError: neither is given and ``required``; the message names both.
    """
    if value is not None:
        return value
    if found := os.environ.get(var, "").strip():
        return found
    if required:
        raise ConfigError(f"{flag} is required: give {flag} or set {var}")
    return None


def speed_from_env(value: float | None, *, default: float = 1.0) -> float:
    """``--speed`` if given, else ``GRID_SPEED``, else ``default``.

    Raises:
        ConfigError: ``GRID_SPEED`` is not a number.
    """
    if value is not None:
        return value
    text = os.environ.get(SPEED, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ConfigError(
            f"{SPEED} must be a number (simulation seconds per wall second), got {text!r}"
        ) from None
