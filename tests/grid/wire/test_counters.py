"""Counter names are written and read only through :mod:`grid.wire.counters`: no string can be misspelt."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import grid
from grid.wire.counters import CounterName, errors_counter, rejected_counter

PACKAGE = Path(grid.__file__).parent
# The modules that write counters (participants) or read them back (results).
MODULES = sorted([*PACKAGE.glob("participants/*.py"), *PACKAGE.glob("results/*.py")])


def _counter_keys(tree: ast.AST) -> list[tuple[int, ast.expr]]:
    """(line, key) of every ``<x>.counters[key]`` and ``<x>.counters.get(key, ...)`` in ``tree``."""

    def is_counters(node: ast.expr) -> bool:
        name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
        return name == "counters"

    keys = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and is_counters(node.value):
            keys.append((node.lineno, node.slice))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and is_counters(node.func.value)
            and node.args
        ):
            keys.append((node.lineno, node.args[0]))
    return keys


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_counter_is_named_by_a_string(path: Path) -> None:
    """No participant or results module indexes its counters with a string literal or an f-string."""
    literal = [
        f"{path.name}:{line}: {ast.unparse(key)}"
        for line, key in _counter_keys(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(key, ast.JoinedStr) or (isinstance(key, ast.Constant) and isinstance(key.value, str))
    ]
    assert literal == []


def test_the_scan_finds_counter_uses() -> None:
    """The scan above sees the counters node.py writes (it would pass vacuously otherwise)."""
    node = PACKAGE / "participants" / "node.py"
    keys = [ast.unparse(k) for _, k in _counter_keys(ast.parse(node.read_text(encoding="utf-8")))]
    assert "CounterName.REPORTS_LOST_LINK" in keys
    assert len(keys) >= 12


def test_names_are_their_wire_strings() -> None:
    """Members compare and hash as the strings a status message carries, and are distinct."""
    assert CounterName("reports_lost_link") is CounterName.REPORTS_LOST_LINK
    assert "reports_lost_link" in {CounterName.REPORTS_LOST_LINK}
    assert {"published": 1}.get(CounterName.PUBLISHED) == 1
    assert len({str(n) for n in CounterName}) == len(CounterName)


def test_prefixed_families() -> None:
    """Rejections and faults are counted per reason and per exception type under their prefixes."""
    assert rejected_counter("bad_value") == "rejected.bad_value"
    assert errors_counter(KeyError("x")) == "errors.KeyError"
