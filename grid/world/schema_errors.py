"""From a pydantic validation error to what a person can fix: a field path and a line of the YAML file.

Pydantic locations are tuples like ``("events", 0, "link_impairment", "loss")``; the union tag it
inserts after a list index is dropped, giving the path ``events[0].loss``, and the path is
followed through the composed YAML node tree to the line of the deepest node that exists.
Model checks report their own field by starting their message with a relative path and ``": "``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import yaml

__all__ = ["describe", "field_path", "line_of", "parse_path"]

Loc = tuple[int | str, ...]

_REL_PATH = re.compile(r"^([A-Za-z_]\w*(?:\[\d+\])*(?:\.[A-Za-z_]\w*(?:\[\d+\])*)*): (.+)$", re.DOTALL)


def line_of(root: yaml.Node | None, loc: Loc) -> int | None:
    """1-based line of the YAML node at ``loc`` (the deepest node that exists)."""
    node = root
    line = None if node is None else node.start_mark.line + 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _strip_tags(loc: Iterable[int | str], tags: Collection[str]) -> Loc:
    """The location without the union tags pydantic inserts after a list index."""
    out: list[int | str] = []
    previous: int | str | None = None
    for part in loc:
        if not (isinstance(part, str) and part in tags and isinstance(previous, int)):
            out.append(part)
        previous = part
    return tuple(out)


def field_path(loc: Loc) -> str:
    """``("threats", 0, "path")`` -> ``threats[0].path``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_path(path: str) -> Loc:
    """``threats[0].path`` -> ``("threats", 0, "path")``."""
    out: list[int | str] = []
    for part in path.replace("]", "").replace("[", ".").split("."):
        if part:
            out.append(int(part) if part.isdigit() else part)
    return tuple(out)


def _expected(err: Any) -> str:
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return f"unknown key {err['loc'][-1]!r} (not part of the format)"
    if err["type"] == "missing":
        return "required field is missing"
    got = err.get("input")
    if isinstance(got, dict | list):
        return msg
    return f"{msg} (got {got!r})"


def describe(err: Any, *, tags: Collection[str], kinds: Sequence[str]) -> tuple[Loc, str]:
    """(location, problem) of one pydantic error.

    Args:
        err: one entry of ``ValidationError.errors()``.
        tags: union tags to drop from locations.
        kinds: the ``kind`` values of the discriminated union, named when a kind is bad or missing.
    """
    loc = _strip_tags(err["loc"], tags)
    msg = str(err["msg"])
    if err["type"] == "value_error" and (match := _REL_PATH.match(msg.removeprefix("Value error, "))):
        return loc + parse_path(match.group(1)), match.group(2)  # a check naming its own field
    if err["type"] == "union_tag_invalid":
        tag = err.get("ctx", {}).get("tag", err.get("input"))
        return (*loc, "kind"), f"unknown event kind {tag!r}; expected one of: {', '.join(kinds)}"
    if err["type"] == "union_tag_not_found":
        return (*loc, "kind"), f"required field is missing; expected one of: {', '.join(kinds)}"
    if err["type"] == "path_item":
        return loc, f"{msg} (got {err.get('input')!r})"
    return loc, _expected(err)
