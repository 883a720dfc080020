"""Typed errors of gridsim, all under one root.

The hierarchy::

    GridError
    ├── ConfigError (ValueError)            bad input files or arguments, refused before anything starts
    │   ├── ScenarioError                   a scenario file breaks the schema (file, field path, expected)
    │   ├── RosterError                     a roster file in nodes/ breaks the schema
    │   └── UnknownNodeError                a node id that is not in the roster
    ├── MessageRejected (ValueError)        a wire message failed decoding or validation (reason code)
    ├── BrokerError (ConnectionError)
    │   ├── BrokerUnavailable               cannot connect to, or lost, the MQTT broker
    │   └── BrokerStartError                gridsim could not start its own broker (port in use, no binary)
    └── RunError (RuntimeError)             a run could not proceed (nodes not online in time, ...)

Third-party errors (aiomqtt, msgpack, pydantic, yaml) are mapped to these once, at the edge that
calls the library, with ``raise ... from exc``.
"""

from __future__ import annotations

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
]


class GridError(Exception):
    """Root of every error gridsim raises on purpose."""


class ConfigError(GridError, ValueError):
    """Input files or arguments are invalid; raised before anything starts."""


class ScenarioError(ConfigError):
    """A scenario file is missing, unreadable or breaks the schema.

    Attributes:
        file: the scenario file (or ``<message>`` for one received over MQTT).
        field: dotted field path, e.g. ``threats[0].path``; empty for whole-file problems.
        problem: what was wrong and what was expected.
        line: 1-based line in the file, when known.
    """

    def __init__(self, file: str, field: str, problem: str, *, line: int | None = None) -> None:
        self.file = file
        self.field = field
        self.problem = problem
        self.line = line
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


class RosterError(ConfigError):
    """A member-state file in ``nodes/`` is invalid, or the roster as a whole is inconsistent."""

    def __init__(self, file: str, problem: str) -> None:
        self.file = file
        self.problem = problem
        super().__init__(f"{file}: {problem}")


class UnknownNodeError(ConfigError):
    """A node id that the roster does not know."""

    def __init__(self, node_id: str, known: list[str]) -> None:
        self.node_id = node_id
        self.known = known
        super().__init__(f"unknown node id {node_id!r}; known ids: {', '.join(known)}")


class MessageRejected(GridError, ValueError):
    """A received message was refused.

    Attributes:
        reason: short stable code used for counting, e.g. ``not_msgpack``, ``out_of_range``.
        detail: human-readable explanation.
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class BrokerError(GridError, ConnectionError):
    """Anything wrong with the MQTT broker."""


class BrokerUnavailable(BrokerError):
    """The broker cannot be reached, or the connection to it was lost."""

    def __init__(self, url: str, cause: str) -> None:
        self.url = url
        self.cause = cause
        super().__init__(f"MQTT broker at {url} unavailable: {cause}")


class BrokerStartError(BrokerError):
    """gridsim failed to start its own broker."""

    def __init__(self, kind: str, cause: str) -> None:
        self.kind = kind
        self.cause = cause
        super().__init__(f"could not start the {kind} broker: {cause}")


class RunError(GridError, RuntimeError):
    """A run could not proceed."""
