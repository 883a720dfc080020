"""Field validation for the message bodies: each field is checked against its annotation.

A body is a frozen dataclass that inherits :class:`Validated`. Its annotations say the type
(``float``, ``int``, ``str``, ``bool``, a :class:`~enum.StrEnum`, ``X | None``, ``tuple[X, ...]``,
``dict[K, V]`` or ``Any``); the field metadata adds limits: ``lo``/``hi`` (inclusive range, see
:func:`ranged`), ``max_len`` (strings, default 64) and ``max_items`` (tuples, default 256).
Every violation is a :class:`~grid.errors.MessageRejected` with one of the reason codes
``bad_type``, ``bad_value``, ``out_of_range``, ``too_large``, ``unknown_field`` or ``missing_field``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import field
from enum import StrEnum
from typing import Any, Self

from grid.errors import MessageRejected

__all__ = ["Checker", "Validated", "field_checker", "ranged", "scalar_checker"]

_MAX_STR = 64
_MAX_ITEMS = 256

Checker = typing.Callable[[str, Any], Any]
"""Validates ``value`` of the field called ``name`` and returns it normalised."""


def ranged(lo: float | None, hi: float | None, *, default: Any = dataclasses.MISSING) -> Any:
    """A fresh dataclass field limited to [lo, hi] (a Field object cannot be shared)."""
    return field(default=default, metadata={"lo": lo, "hi": hi})


def field_checker(tp: Any, meta: typing.Mapping[str, Any]) -> Checker:
    """A function that validates a value against annotation ``tp`` and returns it normalised.

    Metadata keys: ``lo``/``hi`` (inclusive range), ``max_len`` (strings), ``max_items``.
    Built once per field, so decoding costs a few attribute lookups per field.
    """
    origin = typing.get_origin(tp)
    if origin is types.UnionType or origin is typing.Union:
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        check_inner = field_checker(inner, meta)
        return lambda name, value: None if value is None else check_inner(name, value)
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        enum_tp: type[StrEnum] = tp
        allowed = ", ".join(enum_tp._value2member_map_)

        def check_enum(name: str, value: Any) -> Any:
            if not isinstance(value, str) or value not in enum_tp._value2member_map_:
                raise MessageRejected("bad_value", f"{name}={value!r}: expected one of {allowed}")
            return enum_tp(value)

        return check_enum
    if origin is tuple:
        check_item = field_checker(typing.get_args(tp)[0], {})
        max_items = meta.get("max_items", _MAX_ITEMS)

        def check_tuple(name: str, value: Any) -> Any:
            if not isinstance(value, list | tuple):
                raise MessageRejected("bad_type", f"{name}: expected a list")
            if len(value) > max_items:
                raise MessageRejected("too_large", f"{name}: more than {max_items} items")
            return tuple(check_item(f"{name}[{i}]", v) for i, v in enumerate(value))

        return check_tuple
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp)
        check_key, check_val = field_checker(key_tp, {}), field_checker(val_tp, {})

        def check_dict(name: str, value: Any) -> Any:
            if not isinstance(value, dict):
                raise MessageRejected("bad_type", f"{name}: expected a map")
            if len(value) > _MAX_ITEMS:
                raise MessageRejected("too_large", f"{name}: more than {_MAX_ITEMS} entries")
            return {check_key(f"{name} key", k): check_val(f"{name}[{k!r}]", v) for k, v in value.items()}

        return check_dict
    if tp is Any:
        return lambda name, value: value
    return scalar_checker(tp, meta)


def scalar_checker(tp: Any, meta: typing.Mapping[str, Any]) -> Checker:
    """The check of a ``float``, ``int``, ``str`` or ``bool`` field with its ``meta`` limits."""
    lo, hi = meta.get("lo"), meta.get("hi")
    if tp is int:  # msgpack carries 64-bit integers; anything wider cannot be encoded
        lo = -(2**63) if lo is None else lo
        hi = 2**64 - 1 if lo >= 0 and hi is None else (2**63 - 1 if hi is None else hi)
    max_len = meta.get("max_len", _MAX_STR)
    expected = {float: (int, float), int: (int,), str: (str,), bool: (bool,)}.get(tp)
    if expected is None:  # pragma: no cover - a programming error in a body definition
        raise TypeError(f"unsupported field type {tp!r}")
    noun = {float: "a number", int: "an integer", str: "a string", bool: "a boolean"}[tp]

    def check(name: str, value: Any) -> Any:
        if not isinstance(value, expected) or (tp is not bool and isinstance(value, bool)):
            raise MessageRejected("bad_type", f"{name}: expected {noun}, got {type(value).__name__}")
        if tp is float and not math.isfinite(typing.cast(float, value)):
            raise MessageRejected("out_of_range", f"{name}={value!r}: not finite")
        if tp is str and len(typing.cast(str, value)) > max_len:
            raise MessageRejected("too_large", f"{name}: string longer than {max_len}")
        if lo is not None and value < lo:
            raise MessageRejected("out_of_range", f"{name}={value!r}: below {lo}")
        if hi is not None and value > hi:
            raise MessageRejected("out_of_range", f"{name}={value!r}: above {hi}")
        return value

    return check


class Validated:
    """Mixin: check every field of a frozen dataclass against its annotation on construction."""

    __slots__ = ()

    @classmethod
    def _field_checkers(cls) -> dict[str, Checker]:
        checkers: dict[str, Checker] | None = cls.__dict__.get("_checkers_cache")
        if checkers is None:
            hints = typing.get_type_hints(cls)
            fields = dataclasses.fields(cls)  # type: ignore[arg-type]
            checkers = {f.name: field_checker(hints[f.name], f.metadata) for f in fields}
            type.__setattr__(cls, "_checkers_cache", checkers)
        return checkers

    def __post_init__(self) -> None:
        for name, check in self._field_checkers().items():
            value = getattr(self, name)
            normalised = check(name, value)
            if normalised is not value:
                object.__setattr__(self, name, normalised)

    def to_dict(self) -> dict[str, Any]:
        """Plain map of the fields (tuples become lists on the wire)."""
        return {name: getattr(self, name) for name in self._field_checkers()}

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Build and validate from a decoded map; unknown and missing fields are rejected."""
        if not isinstance(data, dict):
            raise MessageRejected("bad_type", f"{cls.__name__} body: expected a map")
        checkers = cls._field_checkers()
        unknown = data.keys() - checkers.keys()
        if unknown:
            raise MessageRejected(
                "unknown_field", f"{cls.__name__}: unknown field(s) {sorted(map(str, unknown))}"
            )
        try:
            return cls(**data)
        except TypeError as exc:  # a required field is missing
            raise MessageRejected("missing_field", f"{cls.__name__}: {exc}") from exc
