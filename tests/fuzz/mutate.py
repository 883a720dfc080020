"""Mutations of real inputs: byte-level (flips, truncation, splicing) and structure-aware.

Structure-aware mutations decode a seed (msgpack or YAML), change one value of its tree (a wrong
type, an extra or missing field, a huge int, NaN or infinity, a long string, deep nesting), and
encode it again, so most inputs get past the parser to the checks behind it. Every mutation
draws from the ``random.Random`` it is given: a seed reproduces a run input for input.
"""

from __future__ import annotations

import copy
import math
import random
import re
from collections.abc import Callable, Sequence
from typing import Any

import msgpack
import yaml

__all__ = ["deep", "mutate_bytes", "mutate_msgpack", "mutate_text", "mutate_tree", "mutate_yaml"]

# Values that break a field's type or limits, whatever the field.
_ODD: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    2**63 - 1,
    2**64 - 1,
    -(2**63),
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    -0.0,
    "",
    "x" * 65,
    "\x00",
    "\udcff",
    "é" * 40,
    b"\xff\x00",
    [],
    {},
    [1, 2, 3],
    {"a": 1},
    {1: 2},
)
_YAML_TOKENS = (
    "-1",
    "0",
    ".nan",
    ".inf",
    "-.inf",
    "null",
    "~",
    "[",
    "]",
    "{",
    "}",
    ":",
    "- ",
    "&a",
    "*a",
    "!!binary AAAA",
    "!!python/object:os.system",
    "'",
    '"',
    "\t",
    "1e400",
    "99999999999999999999999",
    "yes",
    "2026-13-45",
    "?",
    "#",
    "%YAML 9.9",
)


_DEEP = "@@deep@@"
_MAX_GROWN = 20_000  # items or characters a value may be grown to: inputs stay small and fast
_DEEP_AT = re.compile(r"@@deep@@(\d+)")


def deep(depth: int, leaf: Any = 1) -> Any:
    """Lists nested ``depth`` deep (built iteratively)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def _odd(rng: random.Random) -> Any:
    """One of the odd values, a fresh copy: a later mutation may change it in place."""
    return copy.deepcopy(rng.choice(_ODD))


def _paths(tree: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in ``tree``, iteratively."""
    out: list[tuple[Any, Any]] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        items: Sequence[Any] = list(node) if isinstance(node, dict) else range(len(node))
        for key in items:
            out.append((node, key))
            child = node[key]
            if isinstance(child, dict | list):
                stack.append(child)
    return out


def _thaw(value: Any) -> Any:
    """``value`` with tuples as lists (msgpack decodes arrays as lists; YAML too)."""
    if isinstance(value, dict):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value


def mutate_tree(rng: random.Random, tree: Any) -> Any:  # noqa: PLR0912 - one branch per mutation
    """A copy of ``tree`` with one to three of its values, keys or containers changed."""
    tree = _thaw(tree)
    if not isinstance(tree, dict | list) or not tree:
        return _odd(rng)
    for _ in range(rng.randint(1, 3)):
        paths = _paths(tree)
        if not paths:
            break
        node, key = rng.choice(paths)
        op = rng.randrange(9)
        if op == 0:
            node[key] = _odd(rng)
        elif op == 1:  # drop a field or an item
            del node[key]
        elif op == 2 and isinstance(node, dict):  # an extra field
            node[rng.choice(["extra", "v", "id", "body", "type", "x" * 70, 7])] = _odd(rng)
        elif op == 3:  # a marker that the encoder replaces with that many levels of nesting
            node[key] = f"{_DEEP}{rng.choice([2, 33, 200, 600, 1100, 5000, 100_000])}"
        elif op == 4 and isinstance(node[key], int | float) and not isinstance(node[key], bool):
            node[key] = rng.choice([node[key] * 1e9, -node[key], node[key] + 1, 2**64 - 1, -(2**63)])
        elif op == 5 and isinstance(node[key], str) and len(node[key]) < _MAX_GROWN:
            node[key] = rng.choice([node[key] * rng.randint(2, 100), node[key][::-1], node[key].upper()])
        elif op == 6 and isinstance(node[key], list) and (len(node[key]) + len(paths)) * 300 < _MAX_GROWN:
            # The copies share their items: a second growth inside would multiply, so the whole
            # tree (its paths, shared ones counted each time) bounds it.
            node[key] = node[key] * rng.choice([2, 10, 300])
        elif op == 7:  # another field's value here (a leaf: a container could be an ancestor, a cycle)
            other, other_key = rng.choice(paths)
            if not isinstance(other[other_key], dict | list):
                node[key] = other[other_key]
        else:
            node[key] = [node[key]] if rng.random() < 0.5 else {"k": node[key]}
    return tree


def mutate_bytes(rng: random.Random, data: bytes, others: Sequence[bytes] = ()) -> bytes:
    """``data`` with one to four byte-level changes: flips, overwrites, truncation, insertion, splicing."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        n = len(buf)
        if op == 0 and n:
            i = rng.randrange(n)
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            buf[rng.randrange(n)] = rng.choice([0x00, 0xFF, 0x7F, 0x80, 0xC0, 0xC1, 0xDC, 0xDE, 0xCF, 0xD3])
        elif op == 2:
            del buf[rng.randrange(n + 1) :]
        elif op == 3:
            i = rng.randrange(n + 1)
            buf[i:i] = rng.randbytes(rng.randint(1, 16))
        elif op == 4 and others:
            other = rng.choice(others)
            i, j = rng.randrange(n + 1), rng.randrange(len(other) + 1)
            buf[i:] = other[j:]
        elif op == 5 and n:
            i = rng.randrange(n)
            buf[i:i] = buf[i : i + rng.randint(1, 64)] * rng.randint(1, 8)
        elif n:
            i = rng.randrange(n)
            del buf[i : i + rng.randint(1, 16)]
    return bytes(buf)


def _deep_msgpack(match: re.Match[bytes]) -> bytes:
    return b"\x91" * int(match.group(1)) + b"\x01"  # [[[...[1]...]]]


def _pack(value: Any) -> bytes:
    try:
        data = msgpack.packb(value, use_bin_type=True)
    except (ValueError, TypeError, OverflowError):  # an int beyond 64 bits: a msgpack uint 64 instead
        data = b"\xcf" + b"\xff" * 8
    # The marker is a short string: one header byte (fixstr) before it, replaced with it.
    return re.sub(rb"[\xa0-\xbf]@@deep@@(\d+)", _deep_msgpack, data)


def mutate_msgpack(rng: random.Random, data: bytes, others: Sequence[bytes] = ()) -> bytes:
    """A mutation of a msgpack payload: mostly structure-aware, else byte-level."""
    if rng.random() < 0.6:
        try:
            tree = msgpack.unpackb(data, raw=False, strict_map_key=False)
        except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            return mutate_bytes(rng, data, others)
        return _pack(mutate_tree(rng, tree))
    return mutate_bytes(rng, data, others)


def mutate_text(rng: random.Random, text: str) -> str:
    """``text`` with lines dropped, repeated or swapped, or YAML's special tokens put in."""
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        if not lines:
            return rng.choice(_YAML_TOKENS)
        i = rng.randrange(len(lines))
        op = rng.randrange(5)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2:  # a value replaced
            head, sep, _ = lines[i].partition(": ")
            lines[i] = f"{head}{sep or ': '}{rng.choice(_YAML_TOKENS)}"
        elif op == 3:
            lines[i] = " " * rng.randint(0, 6) + lines[i].lstrip()
        else:
            j = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:j] + rng.choice(_YAML_TOKENS) + lines[i][j:]
    return "\n".join(lines) + "\n"


def mutate_yaml(rng: random.Random, data: bytes, others: Sequence[bytes] = ()) -> bytes:
    """A mutation of a YAML file: its tree, its lines, or its bytes."""
    op = rng.random()
    if op < 0.4:
        try:
            tree = yaml.safe_load(data)
            text = yaml.safe_dump(mutate_tree(rng, tree), allow_unicode=True)
            return _DEEP_AT.sub(lambda m: "[" * int(m.group(1)) + "1" + "]" * int(m.group(1)), text).encode()
        except (yaml.YAMLError, RecursionError, UnicodeDecodeError, ValueError):
            return mutate_bytes(rng, data, others)
    if op < 0.85:
        return mutate_text(rng, data.decode("utf-8", "replace")).encode()
    return mutate_bytes(rng, data, others)


Mutator = Callable[[random.Random, bytes, Sequence[bytes]], bytes]
