"""Typed errors of gridsim, all under one root.

The hierarchy::

    GridError
    ├── ConfigError (ValueError)            bad input files or arguments, refused before anything starts
    │   ├── ScenarioError                   a scenario file breaks the schema (each problem: line, field)
    │   ├── RosterError                     a roster file in nodes/ breaks the schema (each problem: line)
    │   ├── UnknownNodeError                a node id that is not in the roster
    │   ├── CyberExportError                a run's cyber-objects.json is missing or not STIX 2.1 objects
    │   └── RunDataError                    a run folder lacks a file the run report reads, or it is bad
    ├── MessageRejected (ValueError)        a wire message failed decoding or validation (reason code)
    ├── CyberRejected (ValueError)          a cyber report or request the exchange refused (reason code)
    ├── BrokerError (ConnectionError)
    │   ├── BrokerUnavailable               cannot connect to, or lost, the MQTT broker
    │   └── BrokerStartError                gridsim could not start its own broker (port in use, no binary)
    ├── RunError (RuntimeError)             a run could not proceed (nodes not online in time, ...)
    ├── TakUnavailable (ConnectionError)    ``gridsim cot``: the TAK endpoint refused or lost the connection
    └── TaxiiError                          a TAXII 2.1 server refused or failed a push (unreachable, 401)

Third-party errors (aiomqtt, msgpack, pydantic, yaml, requests, taxii2-client) are mapped to these
once, at the edge that calls the library, with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

__all__ = [
    "BrokerError",
    "BrokerStartError",
    "BrokerUnavailable",
    "ConfigError",
    "CyberExportError",
    "CyberRejected",
    "FileProblem",
    "GridError",
    "MessageRejected",
    "RosterError",
    "RunDataError",
    "RunError",
    "ScenarioError",
    "TakUnavailable",
    "TaxiiError",
    "UnknownNodeError",
]


class GridError(Exception):
    """Root of every error gridsim raises on purpose."""


class ConfigError(GridError, ValueError):
    """Input files or arguments are invalid; raised before anything starts."""


class FileProblem(NamedTuple):
    """One problem of an input file: field path (empty for the whole file), what is wrong, line."""

    field: str
    problem: str
    line: int | None = None

    def located(self, file: str) -> str:
        """``file:line: field: problem`` (without the parts that are not known)."""
        where = file if self.line is None else f"{file}:{self.line}"
        return f"{where}: {self.field}: {self.problem}" if self.field else f"{where}: {self.problem}"


class ScenarioError(ConfigError):
    """A scenario file is missing, unreadable or breaks the schema; the message has one problem a line.

    Attributes:
        file: the scenario file (or ``<message>`` for one received over MQTT).
        field: dotted field path of the first problem, e.g. ``threats[0].path``; empty for the whole file.
        problem: what was wrong and what was expected (the first problem).
        line: 1-based line in the file of the first problem, when known.
        problems: every problem found, the first one included, in file order.
    """

    def __init__(
        self,
        file: str,
        field: str,
        problem: str,
        *,
        line: int | None = None,
        more: Sequence[FileProblem] = (),
    ) -> None:
        self.file = file
        self.field = field
        self.problem = problem
        self.line = line
        self.problems = (FileProblem(field, problem, line), *more)
        super().__init__("\n".join(p.located(file) for p in self.problems))

    @classmethod
    def of(cls, file: str, problems: Sequence[FileProblem]) -> ScenarioError:
        """The error listing ``problems`` (at least one), the first as its field, problem and line."""
        first, *more = problems
        return cls(file, first.field, first.problem, line=first.line, more=more)


class RosterError(ConfigError):
    """A member-state file in ``nodes/`` is invalid, or the roster as a whole is inconsistent.

    Attributes:
        file: the member-state file (or the folder, when it has none).
        problem: the first problem, with its field path, e.g. ``sensors[0].range_m: ...``.
        line: 1-based line of the first problem, when known.
        problems: every problem found in the file, the first one included, in file order.
    """

    def __init__(
        self, file: str, problem: str, *, line: int | None = None, more: Sequence[FileProblem] = ()
    ) -> None:
        self.file = file
        self.problem = problem
        self.line = line
        self.problems = (FileProblem("", problem, line), *more)
        super().__init__("\n".join(p.located(file) for p in self.problems))

    @classmethod
    def of(cls, file: str, problems: Sequence[FileProblem]) -> RosterError:
        """The error listing ``problems`` (at least one); each field path is kept in its problem."""
        merged = [
            FileProblem("", f"{p.field}: {p.problem}" if p.field else p.problem, p.line) for p in problems
        ]
        first, *more = merged
        return cls(file, first.problem, line=first.line, more=more)


class UnknownNodeError(ConfigError):
    """A node id that the roster does not know."""

    def __init__(self, node_id: str, known: list[str]) -> None:
        self.node_id = node_id
        self.known = known
        super().__init__(f"unknown node id {node_id!r}; known ids: {', '.join(known)}")


class CyberExportError(ConfigError):
    """A run's STIX objects file cannot be exported as a bundle.

    Attributes:
        file: the objects file (``RUN_DIR/cyber-objects.json``).
        problem: what is wrong, e.g. ``objects[3] (indicator--...): invalid pattern``.
    """

    def __init__(self, file: str, problem: str) -> None:
        self.file = file
        self.problem = problem
        super().__init__(f"{file}: {problem}")


class RunDataError(ConfigError):
    """A run folder's data file (``truth.jsonl``, ``tracks.jsonl``, ...) is missing, unreadable or of
    an unknown format version.

    Attributes:
        file: the file (``RUN_DIR/tracks.jsonl``).
        problem: what is wrong, e.g. ``missing (a run older than the report writes no tracks)``.
    """

    def __init__(self, file: str, problem: str) -> None:
        self.file = file
        self.problem = problem
        super().__init__(f"{file}: {problem}")


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


class CyberRejected(GridError, ValueError):
    """The cyber exchange refused an observable, a STIX object or a request about an indicator.

    Attributes:
        reason: short stable code used for counting, e.g. ``bad_observable``, ``invalid_stix``,
            ``bad_pattern``, ``bad_marking``, ``unknown_creator``, ``too_large``.
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


class TakUnavailable(GridError, ConnectionError):
    """A TAK endpoint could not be reached, or the connection to it was lost.

    Attributes:
        url: the endpoint, ``tcp://host:port`` or ``udp://host:port``.
        cause: what went wrong, e.g. ``[Errno 111] Connect call failed ('127.0.0.1', 8087)``.
    """

    def __init__(self, url: str, cause: str) -> None:
        self.url = url
        self.cause = cause
        super().__init__(f"TAK endpoint {url} unavailable: {cause}")


class TaxiiError(GridError):
    """A TAXII 2.1 server could not be reached, refused the request, or did not finish a push.

    Attributes:
        url: the server, API root or collection URL, without any password.
        cause: what went wrong, e.g. ``the server refused the credentials of user 'cert' (401)``.
        http_status: the HTTP status of the refusal, or None (unreachable, timeout, bad answer).
    """

    def __init__(self, url: str, cause: str, *, http_status: int | None = None) -> None:
        self.url = url
        self.cause = cause
        self.http_status = http_status
        super().__init__(f"TAXII server at {url}: {cause}")
