"""gridsim: a simulator of an allied intelligence grid sharing threat reports over MQTT."""

from __future__ import annotations

from importlib import metadata

from grid.errors import (
    BrokerError,
    BrokerStartError,
    BrokerUnavailable,
    ConfigError,
    GridError,
    MessageRejected,
    RosterError,
    RunError,
    ScenarioError,
    UnknownNodeError,
)

__all__ = [
    "BrokerError",
    "BrokerStartError",
    "BrokerUnavailable",
    "ConfigError",
    "GridError",
    "MessageRejected",
    "RosterError",
    "RunError",
    "ScenarioError",
    "UnknownNodeError",
    "__version__",
]

try:
    __version__ = metadata.version("gridsim")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
