"""Tests of the typed error hierarchy in :mod:`grid.errors` and the package's exports."""

from __future__ import annotations

import pytest

import grid
import grid.errors
from grid.errors import (
    BrokerError,
    BrokerStartError,
    BrokerUnavailable,
    ConfigError,
    CyberExportError,
    CyberRejected,
    FileProblem,
    GridError,
    MessageRejected,
    RosterError,
    RunDataError,
    RunError,
    ScenarioError,
    TakUnavailable,
    TaxiiError,
    UnknownNodeError,
)

SAMPLES: list[tuple[GridError, tuple[type[BaseException], ...]]] = [
    (ConfigError("bad flag"), (ValueError,)),
    (ScenarioError("s.yaml", "threats[0].path", "too short", line=9), (ConfigError, ValueError)),
    (RosterError("nodes/RO.yaml", "duplicate sensor id"), (ConfigError, ValueError)),
    (UnknownNodeError("XX", ["BG", "RO"]), (ConfigError, ValueError)),
    (CyberExportError("runs/x/cyber-objects.json", "not JSON"), (ConfigError, ValueError)),
    (RunDataError("runs/x/tracks.jsonl", "missing"), (ConfigError, ValueError)),
    (MessageRejected("out_of_range", "lat=91"), (ValueError,)),
    (CyberRejected("bad_pattern", "unbalanced ["), (ValueError,)),
    (BrokerError("lost"), (ConnectionError, OSError)),
    (BrokerUnavailable("mqtt://127.0.0.1:1883", "refused"), (BrokerError, ConnectionError)),
    (BrokerStartError("mosquitto", "port in use"), (BrokerError, ConnectionError)),
    (RunError("nodes not online"), (RuntimeError,)),
    (TakUnavailable("tcp://127.0.0.1:8087", "refused"), (ConnectionError, OSError)),
    (TaxiiError("http://127.0.0.1:5000/api1/", "refused (401)", http_status=401), (GridError,)),
]


@pytest.mark.parametrize(("error", "bases"), SAMPLES, ids=[type(e).__name__ for e, _ in SAMPLES])
def test_hierarchy(error: GridError, bases: tuple[type[BaseException], ...]) -> None:
    """Each error is a GridError and every builtin or parent it claims to be."""
    assert isinstance(error, GridError)
    for base in bases:
        assert isinstance(error, base)
    with pytest.raises(bases[0]):
        raise error


def test_every_error_class_is_sampled() -> None:
    """The samples above cover every error class exported by grid.errors."""
    exported = {
        obj
        for obj in (getattr(grid.errors, name) for name in grid.errors.__all__)
        if isinstance(obj, type) and issubclass(obj, BaseException)
    }
    assert {type(e) for e, _ in SAMPLES} | {GridError} == exported


def test_errors_of_several_problems() -> None:
    """ScenarioError and RosterError of several problems list one per line; the first is the context."""
    problems = [FileProblem("threats[0].paths", "unknown key", 7), FileProblem("colour", "unknown key", 8)]
    err = ScenarioError.of("s.yaml", problems)
    assert (err.field, err.problem, err.line) == ("threats[0].paths", "unknown key", 7)
    assert err.problems == tuple(problems)
    assert str(err).splitlines() == [
        "s.yaml:7: threats[0].paths: unknown key",
        "s.yaml:8: colour: unknown key",
    ]
    roster = RosterError.of("RO.yaml", problems)
    assert (roster.problem, roster.line) == ("threats[0].paths: unknown key", 7)
    assert str(roster).splitlines() == str(err).replace("s.yaml", "RO.yaml").splitlines()


def test_scenario_error_context() -> None:
    """ScenarioError keeps file, field, problem and line, and puts them in its message."""
    err = ScenarioError("s.yaml", "threats[0].path", "too short", line=9)
    assert (err.file, err.field, err.problem, err.line) == ("s.yaml", "threats[0].path", "too short", 9)
    assert str(err) == "s.yaml:9: threats[0].path: too short"
    assert str(ScenarioError("s.yaml", "name", "missing")) == "s.yaml: name: missing"
    whole = ScenarioError("s.yaml", "", "no such file")
    assert whole.line is None
    assert str(whole) == "s.yaml: no such file"


def test_roster_error_context() -> None:
    """RosterError names the file and the problem."""
    err = RosterError("nodes/RO.yaml", "duplicate sensor id")
    assert (err.file, err.problem) == ("nodes/RO.yaml", "duplicate sensor id")
    assert str(err) == "nodes/RO.yaml: duplicate sensor id"


def test_unknown_node_error_context() -> None:
    """UnknownNodeError names the bad id and lists the known ones."""
    err = UnknownNodeError("XX", ["BG", "RO"])
    assert (err.node_id, err.known) == ("XX", ["BG", "RO"])
    assert "'XX'" in str(err)
    assert "BG, RO" in str(err)


def test_message_rejected_context() -> None:
    """MessageRejected keeps its reason code and detail."""
    err = MessageRejected("out_of_range", "lat=91")
    assert (err.reason, err.detail) == ("out_of_range", "lat=91")
    assert str(err) == "out_of_range: lat=91"


def test_broker_errors_context() -> None:
    """Broker errors name the broker and the cause."""
    down = BrokerUnavailable("mqtt://127.0.0.1:1883", "refused")
    assert (down.url, down.cause) == ("mqtt://127.0.0.1:1883", "refused")
    assert "mqtt://127.0.0.1:1883" in str(down)
    assert "refused" in str(down)
    start = BrokerStartError("mosquitto", "port in use")
    assert (start.kind, start.cause) == ("mosquitto", "port in use")
    assert "mosquitto" in str(start)
    assert "port in use" in str(start)


@pytest.mark.parametrize("module", [grid, grid.errors], ids=["grid", "grid.errors"])
def test_all_sorted_and_exists(module: object) -> None:
    """__all__ is sorted, has no duplicates, and every name in it exists."""
    names = list(module.__all__)  # type: ignore[attr-defined]
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(module, name), name


def test_version_is_a_string() -> None:
    """grid.__version__ is a version string."""
    assert isinstance(grid.__version__, str)
    assert grid.__version__.count(".") >= 2
