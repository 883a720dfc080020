"""Checks of an indicator received from the wire, before the exchange trusts anything in it.

stix2 checks the object's own properties; it does not know which markings and identities exist.
stix2-validator does not either: it passes an ``object_marking_refs`` entry that points nowhere,
or to an object of the wrong type. :func:`check_indicator` checks those references against what
the grid knows (the TLP markings, the members' identities), in a fixed order so that each bad
input gets one stable reason code:

``too_large``        more than ``max_bytes`` of JSON.
``invalid_stix``     not JSON or not an object; later, stix2 refuses it (``allow_custom=False``).
``not_indicator``    an object of another type.
``bad_marking``      no TLP marking, more than one, or a ref that is not a known TLP marking
                     definition (the wrong type, or a marking-definition id that does not exist).
``bad_pattern``      not a STIX pattern, or not one comparison of one supported observable.
``invalid_stix``     stix2 refuses the object, or its confidence is not 0..100.
``unknown_creator``  ``created_by_ref`` missing or not the identity of a known member.
``bad_observable``   the pattern's value is not a valid observable (:func:`observable_key`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import stix2
from stix2patterns.validator import validate as validate_pattern

from grid.cyber.markings import Tlp, tlp_of_marking
from grid.cyber.observables import Observed, observable_key
from grid.cyber.stix import observable_of_pattern
from grid.errors import CyberRejected
from grid.wire.validation import nested_deeper
from grid.world.events import ObservableType

__all__ = ["MAX_BYTES", "MAX_JSON_DEPTH", "Checked", "check_indicator", "parse_json"]

MAX_BYTES = 16_384
"""Largest indicator accepted, in bytes of JSON (a real one is under 2 KiB)."""
MAX_JSON_DEPTH = 16
"""Deepest nesting of lists and objects accepted in received STIX JSON (a real list of objects: 5)."""


def parse_json(text: str | bytes) -> Any:
    """``text`` as JSON values; ``invalid_stix`` if it is not JSON or nests beyond ``MAX_JSON_DEPTH``.

    The json module recurses once per level: a list nested 30,000 deep would raise RecursionError.
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError included
        raise CyberRejected("invalid_stix", f"not JSON: {type(exc).__name__}: {exc}") from exc
    if nested_deeper(data, MAX_JSON_DEPTH):
        raise CyberRejected("invalid_stix", f"JSON nested more than {MAX_JSON_DEPTH} levels")
    return data


@dataclass(frozen=True)
class Checked:
    """An indicator that passed every check.

    Attributes:
        indicator: the parsed ``stix2`` indicator.
        observed: the observable of its pattern, normalised, with its dedup key.
        creator: the identity id of the member that reported it.
        tlp: its TLP level.
    """

    indicator: Any
    observed: Observed
    creator: str
    tlp: Tlp


def _as_dict(raw: str | bytes | Mapping[str, Any], max_bytes: int) -> dict[str, Any]:
    if isinstance(raw, Mapping) and not isinstance(raw, dict):
        # A parsed stix2 object (a Mapping): checked as the JSON it stands for.
        raw = json.dumps(raw, cls=stix2.serialization.STIXJSONEncoder)
    if isinstance(raw, dict):
        if nested_deeper(raw, MAX_JSON_DEPTH):  # before json.dumps recurses through it
            raise CyberRejected("invalid_stix", f"JSON nested more than {MAX_JSON_DEPTH} levels")
        size = len(json.dumps(raw, default=str).encode())
    else:
        size = len(raw) if isinstance(raw, bytes) else len(raw.encode())
    if size > max_bytes:
        raise CyberRejected("too_large", f"{size} bytes of STIX; at most {max_bytes}")
    if isinstance(raw, dict):
        return dict(raw)
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise CyberRejected("invalid_stix", f"a JSON {type(data).__name__}, not a STIX object")
    return data


def _tlp(data: dict[str, Any]) -> Tlp:
    refs = data.get("object_marking_refs")
    if not isinstance(refs, list) or not refs:
        raise CyberRejected("bad_marking", "no object_marking_refs; expected one TLP marking")
    levels = []
    for ref in refs:
        tlp = tlp_of_marking(ref) if isinstance(ref, str) else None
        if tlp is None:
            kind = ref.partition("--")[0] if isinstance(ref, str) else type(ref).__name__
            what = "an unknown marking-definition" if kind == "marking-definition" else f"a {kind}"
            raise CyberRejected(
                "bad_marking", f"object_marking_refs entry {ref!r} is {what}, not a TLP marking"
            )
        levels.append(tlp)
    if len(levels) != 1:
        raise CyberRejected("bad_marking", f"{len(levels)} TLP markings; expected one")
    return levels[0]


def _pattern(data: dict[str, Any]) -> tuple[ObservableType, str]:
    pattern, pattern_type = data.get("pattern"), data.get("pattern_type")
    if pattern_type != "stix" or not isinstance(pattern, str):
        raise CyberRejected("bad_pattern", f"pattern_type {pattern_type!r}; expected a 'stix' pattern")
    found = observable_of_pattern(pattern)
    if found is not None:
        # Valid syntax by construction; stix2.parse runs the full pattern grammar once more anyway,
        # so the costly ANTLR parse runs here only to say what is wrong.
        return found
    ok, errors = validate_pattern(pattern, ret_errs=True)
    if not ok:
        raise CyberRejected("bad_pattern", "; ".join(errors) or "not a STIX pattern")
    raise CyberRejected(
        "bad_pattern", f"{pattern!r} is not one comparison of a url, email, domain, ipv4 or hash"
    )


def check_indicator(
    raw: str | bytes | Mapping[str, Any], members: Mapping[str, str], *, max_bytes: int = MAX_BYTES
) -> Checked:
    """Parse and check an indicator received from a member.

    Args:
        raw: the indicator as JSON text or bytes, a decoded JSON object, or a parsed stix2 object.
        members: identity id to member node id, of every known member.
        max_bytes: size limit of the JSON.

    Raises:
        CyberRejected: with the reason code of the first check that failed (module docstring).
    """
    data = _as_dict(raw, max_bytes)
    if not isinstance(data.get("type"), str):
        raise CyberRejected("invalid_stix", "no type; expected a STIX object")
    if data["type"] != "indicator":
        raise CyberRejected("not_indicator", f"a {data.get('type')!r} object; expected an indicator")
    # Markings and the pattern are read from the JSON before stix2 sees it: stix2 would refuse a
    # marking ref of the wrong type or a bad pattern too, but only as one more invalid object.
    tlp = _tlp(data)
    found = _pattern(data)
    confidence = data.get("confidence", 0)
    if not isinstance(confidence, int) or not 0 <= confidence <= 100:
        raise CyberRejected("invalid_stix", f"confidence {confidence!r}; expected an integer 0..100")
    try:
        obj = stix2.parse(data, allow_custom=False)
    except (stix2.exceptions.STIXError, ValueError, TypeError, KeyError) as exc:
        raise CyberRejected("invalid_stix", f"{type(exc).__name__}: {exc}") from exc
    creator = obj.get("created_by_ref")
    if creator not in members:
        raise CyberRejected("unknown_creator", f"created_by_ref {creator!r} is not a member's identity")
    return Checked(indicator=obj, observed=observable_key(*found), creator=creator, tlp=tlp)
