"""The limits a body field can carry, and the reason code of each way a message breaks them.

A field's limits live in its annotation (``Annotated[float, msgspec.Meta(ge=..., le=...)]``);
msgspec checks them while it decodes. The aliases below are the limits every field of one kind
shares: strings at most 64 characters, finite numbers, 64-bit integers, at most 256 items in a
list or a map. :func:`reason_of` names msgspec's complaints with the grid's reason codes
(``bad_type``, ``bad_value``, ``out_of_range``, ``too_large``, ``unknown_field``,
``missing_field``, ``not_msgpack``), which receivers count. Free-form maps (a start's scenario, a
run's summary) nest at most ``MAX_DEPTH`` levels, checked without recursion (``too_deep``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import msgpack
import msgspec

from grid.errors import MessageRejected

__all__ = [
    "MAX_DEPTH",
    "MAX_ITEMS",
    "Alt",
    "Count",
    "Finite",
    "Int64",
    "Kind",
    "Lat",
    "Layout",
    "Lon",
    "SimTime",
    "Text",
    "check_depth",
    "nested_deeper",
    "parse_strict",
    "reason_of",
]

MAX_ITEMS = 256  # a list or map field's default limit
# Nesting of a free-form map's values (a scenario is 6 levels deep): far below the interpreter's
# recursion limit, so a message nested 100,000 deep is refused the same way whatever the stack.
MAX_DEPTH = 32

Text = Annotated[str, msgspec.Meta(max_length=64)]
Kind = Annotated[str, msgspec.Meta(max_length=16)]
# msgspec lets NaN and infinities into an unbounded float; these bounds keep them out.
Finite = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
Count = Annotated[int, msgspec.Meta(ge=0)]  # msgpack's unsigned 64 bits bound it above
Lat = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Lon = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Alt = Annotated[float, msgspec.Meta(ge=-500, le=30_000)]
SimTime = Annotated[float, msgspec.Meta(ge=0, le=1e7)]

# msgspec's messages, first match wins; anything else is a bad value.
_REASONS = [
    (re.compile(r"^Object missing required field"), "missing_field"),
    (re.compile(r"^Object contains unknown field"), "unknown_field"),
    (re.compile(r" - at `key` in `\$`$"), "unknown_field"),  # a body key that is not a string
    (re.compile(r" of length <= "), "too_large"),
    (re.compile(r", got `"), "bad_type"),
    (re.compile(r"^Expected `\w+` [<>]=? "), "out_of_range"),
]
_FIELD = re.compile(r" - at `\$\.(\w+)`$")


def reason_of(
    exc: msgspec.DecodeError | MessageRejected, enums: Mapping[str, type[StrEnum]]
) -> MessageRejected:
    """The rejection for one of msgspec's decoding errors (or a body's own rule it wraps).

    ``enums`` maps a body's enum fields to their types: any wrong value there is ``bad_value``
    with the allowed values listed, whatever its type.
    """
    if isinstance(exc, MessageRejected):
        return exc
    if isinstance(exc.__cause__, MessageRejected):  # raised by a body's __post_init__
        return exc.__cause__
    text = str(exc)
    if not isinstance(exc, msgspec.ValidationError):
        return MessageRejected("not_msgpack", text)
    field = _FIELD.search(text)
    enum_type = enums.get(field.group(1)) if field is not None else None
    if enum_type is not None:
        allowed = ", ".join(enum_type._value2member_map_)
        return MessageRejected("bad_value", f"{text}: expected one of {allowed}")
    for pattern, reason in _REASONS:
        if pattern.search(text) is not None:
            return MessageRejected(reason, text)
    return MessageRejected("bad_value", text)


def parse_strict(data: bytes) -> Any:
    """``data`` as plain msgpack values; ``not_msgpack`` unless it is one object, all map keys strings."""
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise MessageRejected("not_msgpack", f"{type(exc).__name__}: {exc}") from exc


def nested_deeper(value: Any, limit: int) -> bool:
    """Whether lists and maps nest in ``value`` more than ``limit`` levels (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """``too_deep`` if lists and maps nest in ``value`` (plain msgpack values) more than ``limit`` levels."""
    if nested_deeper(value, limit):
        raise MessageRejected("too_deep", f"lists and maps nested more than {limit} levels")


@dataclass(frozen=True, slots=True)
class Layout:
    """The envelope's and bodies' keys, and the fixed order in which a message's faults are found.

    That order, whatever the order of a message's keys: the payload's form, the envelope's missing
    and unknown keys, its version, the header's values, the body type, the body's unknown and
    missing keys, then its values in its fields' order, then its rules across fields.
    """

    version: int
    envelope: tuple[str, ...]  # every key of the envelope, in order
    bodies: Mapping[str, tuple[str, ...]]  # per body type, its fields in order
    required: Mapping[str, frozenset[str]]  # per body type, its fields without a default

    def in_check_order(self, data: bytes) -> tuple[bytes, Any]:
        """``data`` re-encoded with its keys in check order, and its body as a plain map.

        Raises the structural faults itself: the payload's form, the envelope's keys and version.
        """
        raw = parse_strict(data)
        check_depth(raw)  # before re-encoding it: msgpack's packer refuses 512 levels with a ValueError
        if not isinstance(raw, dict):
            raise MessageRejected("bad_type", "message: expected a map")
        missing = set(self.envelope) - raw.keys()  # the envelope's missing keys come first, a body's last
        if missing:
            raise MessageRejected("missing_field", f"envelope: missing {sorted(missing)}")
        unknown = raw.keys() - set(self.envelope)
        if unknown:
            raise MessageRejected("unknown_field", f"envelope: unknown field(s) {sorted(map(str, unknown))}")
        if type(raw["v"]) is not int or raw["v"] != self.version:
            raise MessageRejected(
                "bad_schema_version", f"version {raw['v']!r}, this build speaks {self.version}"
            )
        ordered = {key: raw[key] for key in self.envelope}
        body = raw["body"]
        fields = self.bodies.get(raw["type"]) if isinstance(raw["type"], str) else None
        if fields is not None and isinstance(body, dict):
            known = {name: body[name] for name in fields if name in body}
            ordered["body"] = known | {k: v for k, v in body.items() if k not in known}
        return msgpack.packb(ordered, use_bin_type=True), body

    def check_body_keys(self, body_type: str, body: dict[Any, Any]) -> None:
        """``unknown_field`` unless ``body``'s keys are among its type's fields, then ``missing_field``."""
        unknown = body.keys() - set(self.bodies[body_type])
        if unknown:
            raise MessageRejected(
                "unknown_field", f"{body_type}: unknown field(s) {sorted(map(str, unknown))}"
            )
        missing = self.required[body_type] - body.keys()
        if missing:
            raise MessageRejected("missing_field", f"{body_type}: missing {sorted(missing)}")
