"""Reading an input file's YAML within bounds, with what is wrong with it on one line.

PyYAML's pure-Python reader is slow on deep flow nesting (``[[[[...``: 2,000 levels take
longer than 20 s) and recurses once per level, so nesting is bounded before it reads a byte; a
file is bounded in size too (the largest bundled scenario is under 4 KB). Its errors span
several lines, a date it cannot construct (``2026-13-45``) is a ValueError, and a key written
twice keeps the last value without a word: each becomes one :class:`~grid.errors.FileProblem`
with the line where it is known.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from grid.errors import FileProblem

__all__ = ["MAX_YAML_BYTES", "MAX_YAML_DEPTH", "read_yaml"]

MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_DEPTH = 32  # nested flow collections, and block levels (a scenario's deepest is 6)
_OPENERS = re.compile(r"[\[{]")
_BLOCK_LEVEL = re.compile(r"(?:- +)+")


def _too_deep(text: str) -> int | None:
    """The line where flow or block nesting first passes ``MAX_YAML_DEPTH``, or None.

    A conservative scan (quotes and comments taken into account, nothing else): it may count a
    bracket inside a multi-line scalar, which no gridsim file has.
    """
    if len(_OPENERS.findall(text)) > MAX_YAML_DEPTH:
        depth, quote, line = 0, "", 1
        for i, ch in enumerate(text):
            if ch == "\n":
                line += 1
                if quote == "#":
                    quote = ""
            elif quote:
                if ch == quote and quote != "#":
                    quote = ""
            elif ch in "'\"" or (ch == "#" and (i == 0 or text[i - 1] in " \t\n")):
                quote = ch
            elif ch in "[{":
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    return line
            elif ch in "]}":
                depth = max(0, depth - 1)
    for n, row in enumerate(text.splitlines(), start=1):
        indent = len(row) - len(row.lstrip(" "))
        dashes = _BLOCK_LEVEL.match(row, indent)
        if indent > 2 * MAX_YAML_DEPTH or (dashes is not None and dashes.group().count("-") > MAX_YAML_DEPTH):
            return n
    return None


def _duplicate_key(root: yaml.Node | None) -> FileProblem | None:
    """The first key written twice in one mapping (PyYAML would keep the last, silently), or an
    alias: a node reached twice would let a few lines expand exponentially (or loop) when checked."""
    stack = [root] if root is not None else []
    visited: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in visited:
            return FileProblem(
                "", "anchors and aliases (&name, *name) are not allowed", node.start_mark.line + 1
            )
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    line = key.start_mark.line + 1
                    if key.value in seen:
                        return FileProblem(
                            "", f"duplicate key {key.value!r} (first on line {seen[key.value]})", line
                        )
                    seen[key.value] = line
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return None


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _bounded_text(data: bytes | str) -> str | FileProblem:
    """``data`` as text, or why it is not read at all: too large, not UTF-8, nested too deep."""
    if len(data) > MAX_YAML_BYTES:
        return FileProblem("", f"{len(data)} bytes; at most {MAX_YAML_BYTES}")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        return FileProblem("", f"cannot read: not UTF-8 ({exc.reason} at byte {exc.start})")
    deep_at = _too_deep(text)
    if deep_at is not None:
        return FileProblem("", f"not valid YAML: nested more than {MAX_YAML_DEPTH} levels", deep_at)
    return text


def read_yaml(data: bytes | str) -> tuple[yaml.Node | None, Any] | FileProblem:
    """The composed node tree (for lines) and the loaded values of ``data``, or what stops reading it."""
    text = _bounded_text(data)
    if isinstance(text, FileProblem):
        return text
    line: int | None = None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        duplicate = _duplicate_key(root)
        return duplicate if duplicate is not None else (root, yaml.safe_load(text))
    except yaml.MarkedYAMLError as exc:
        line = None if exc.problem_mark is None else exc.problem_mark.line + 1
        problem = _one_line(exc.problem or exc)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        problem = f"{_one_line(exc.reason)} (character {exc.character!r})"
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # a value its constructors refuse: 2026-13-45
        problem = _one_line(exc)
    except RecursionError:  # a backstop: the composer recurses once per level
        problem = f"nested more than {MAX_YAML_DEPTH} levels"
    return FileProblem("", f"not valid YAML: {problem}", line)
