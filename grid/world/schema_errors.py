"""From a pydantic validation error to what a person can fix: a field path and a line of the YAML file.

Pydantic locations are tuples like ``("events", 0, "link_impairment", "loss")``; the union tag it
inserts after a list index is dropped, giving the path ``events[0].loss``, and the path is
followed through the composed YAML node tree to the line of the deepest node that exists.
Model checks report their own field by starting their message with a relative path and ``": "``;
a check that finds several problems gives one such line each.

:func:`problems` turns a whole validation error into every problem it holds, in file order. An
unknown key always names what the user wrote and suggests the closest key the format knows at that
place (``difflib``); when the suggested key is a missing required one, the "required field is
missing" it causes is folded into the suggestion rather than reported as a second problem.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Collection, Iterable, Sequence
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Tag, ValidationError

__all__ = ["describe", "field_path", "known_keys", "line_of", "parse_path", "problems"]

Loc = tuple[int | str, ...]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_REL_PATH = re.compile(r"^([A-Za-z_]\w*(?:\[\d+\])*(?:\.[A-Za-z_]\w*(?:\[\d+\])*)*): (.+)$", re.DOTALL)


def _node_at(root: yaml.Node | None, loc: Loc) -> tuple[yaml.Node | None, int | None]:
    """The deepest YAML node on the way to ``loc`` that exists, and whether it is ``loc``'s own (its line)."""
    node = root
    line = None if node is None else node.start_mark.line + 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            found = node.value[key]
        else:
            found = None
        if found is None:
            return None, line
        node = found
        line = node.start_mark.line + 1
    return node, line


def line_of(root: yaml.Node | None, loc: Loc) -> int | None:
    """1-based line of the YAML node at ``loc`` (the deepest node that exists)."""
    return _node_at(root, loc)[1]


def _keys_written(root: yaml.Node | None, loc: Loc) -> set[str]:
    """The keys the file has in the mapping at ``loc`` (none when it is not known)."""
    node, _ = _node_at(root, loc)
    if not isinstance(node, yaml.MappingNode):
        return set()
    return {str(k.value) for k, _ in node.value}


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
    """``("threats", 0, "path")`` -> ``threats[0].path``; a key that is not a plain name is quoted.

    A key is what the file wrote: quoted (``threats[0]['l\\n0']``), one written with a newline
    cannot split a problem over two lines, nor one with a dot or a bracket read as a deeper path.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _NAME.match(part):
            out += f"[{part!r}]"
        else:
            out += f".{part}" if out else part
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


def _members(tp: Any, tag: str | None = None) -> list[tuple[Any, str | None]]:
    """The concrete types behind ``tp`` (Annotated and unions opened), each with its union tag."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        inner, *meta = typing.get_args(tp)
        tags = [m.tag for m in meta if isinstance(m, Tag)]
        return _members(inner, tags[0] if tags else tag)
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(tp) for m in _members(arg, tag)]
    if tag is None and isinstance(tp, type) and issubclass(tp, BaseModel):
        literals = [
            str(value)
            for field in tp.model_fields.values()
            if typing.get_origin(field.annotation) is Literal
            for value in typing.get_args(field.annotation)
        ]
        tag = literals[0] if len(literals) == 1 else None  # a discriminated union's ``kind: Literal[...]``
    return [(tp, tag)]


def _step(current: list[tuple[Any, str | None]], part: int | str) -> list[tuple[Any, str | None]]:
    tagged: list[tuple[Any, str | None]] = [(tp, tag) for tp, tag in current if tag == part]
    if tagged:
        return tagged  # a union tag in the location selects the member, it is not a key
    out: list[tuple[Any, str | None]] = []
    for tp, _ in current:
        if isinstance(part, int) and typing.get_origin(tp) in (list, tuple):
            out += [m for arg in typing.get_args(tp) if arg is not Ellipsis for m in _members(arg)]
        elif isinstance(part, str) and isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(part)
            if field is not None:
                out += _members(field.annotation)
    return out


def known_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys the format allows in the mapping at pydantic location ``loc`` (which may hold union tags)."""
    current = _members(model)
    for part in loc:
        current = _step(current, part)
    keys: dict[str, None] = {}
    for tp, _ in current:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            keys.update(dict.fromkeys(tp.model_fields))
    return list(keys)


def _closest(key: str, known: Sequence[str], missing: Sequence[str], written: Collection[str]) -> str | None:
    """The known key ``key`` most likely stands for: a missing one first, never one already written."""
    close = difflib.get_close_matches(key, missing, n=1) or difflib.get_close_matches(
        key, [k for k in known if k not in written], n=1
    )
    return close[0] if close else None


def _unknown_key(key: str, known: Sequence[str], closest: str | None) -> str:
    if closest is not None:
        return f"unknown key {key!r}; did you mean {closest!r}?"
    if known:
        return f"unknown key {key!r}; expected one of: {', '.join(known)}"
    return f"unknown key {key!r} (not part of the format)"


def _each_line(err: Any) -> list[Any]:
    """A model check's error split into one error per problem line (each naming its own field)."""
    lines = str(err["msg"]).removeprefix("Value error, ").split("\n")
    if err["type"] != "value_error" or len(lines) < 2 or not all(_REL_PATH.match(line) for line in lines):
        return [err]
    return [{**err, "msg": line} for line in lines]


def problems(
    exc: ValidationError,
    *,
    model: type[BaseModel],
    tags: Collection[str],
    kinds: Sequence[str],
    yaml_root: yaml.Node | None = None,
) -> list[tuple[Loc, str, int | None]]:
    """Every problem of ``exc`` as (location, message, line), in file order.

    Args:
        exc: the error of ``model.model_validate``.
        model: the model validated, whose fields are the known keys an unknown one is matched with.
        tags: union tags to drop from locations.
        kinds: the ``kind`` values of the discriminated union, named when a kind is bad or missing.
        yaml_root: the composed YAML of the file, for line numbers.
    """
    errors = exc.errors()
    missing: dict[Loc, list[str]] = {}
    for err in errors:
        if err["type"] == "missing":
            missing.setdefault(tuple(err["loc"][:-1]), []).append(str(err["loc"][-1]))
    folded: set[Loc] = set()  # missing keys that a misspelt key stands for: one problem, not two
    out: list[tuple[Loc, str, int | None]] = []
    for err in errors:
        if err["type"] == "extra_forbidden":
            raw_parent, key = tuple(err["loc"][:-1]), str(err["loc"][-1])
            absent = missing.get(raw_parent, [])
            written = _keys_written(yaml_root, _strip_tags(raw_parent, tags))
            known = known_keys(model, raw_parent)
            closest = _closest(key, known, absent, written)
            if closest in absent:
                folded.add((*raw_parent, closest))
            loc = _strip_tags(err["loc"], tags)
            out.append((loc, _unknown_key(key, known, closest), line_of(yaml_root, loc)))
    for err in errors:
        if err["type"] == "extra_forbidden" or tuple(err["loc"]) in folded:
            continue
        for one in _each_line(err):
            loc, message = describe(one, tags=tags, kinds=kinds)
            out.append((loc, message, line_of(yaml_root, loc)))
    return sorted(out, key=lambda p: (p[2] or 0, field_path(p[0])))
