"""The report and track envelopes as ``msgspec.Struct`` types, at the production decoder's strictness.

Not used by the grid: ``gridsim bench codec`` measures it against :mod:`grid.wire.validation`.
The wire stays msgpack; the header decodes into :class:`MsgspecEnvelope` with the body kept raw,
then the body into the struct its ``type`` names. msgspec's ``ValidationError`` messages map onto
the production reason codes (:func:`reason_of`), so every rejection stays distinguishable.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

import msgpack
import msgspec

from grid.errors import MessageRejected
from grid.wire.messages import MAX_MESSAGE_BYTES, SCHEMA_VERSION

__all__ = ["MsgspecEnvelope", "MsgspecFusedTrack", "MsgspecThreatReport", "decode", "encode", "reason_of"]

Text = Annotated[str, msgspec.Meta(max_length=64)]
Kind = Annotated[str, msgspec.Meta(max_length=16)]
Lat = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Lon = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Alt = Annotated[float, msgspec.Meta(ge=-500, le=30_000)]
SimTime = Annotated[float, msgspec.Meta(ge=0, le=1e7)]
Sigma = Annotated[float, msgspec.Meta(ge=1e-6, le=90)]
Plane = Annotated[float, msgspec.Meta(ge=-1e7, le=1e7)]
Speed = Annotated[float, msgspec.Meta(ge=-1e4, le=1e4)]


class MsgspecThreatReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """:class:`grid.wire.messages.ThreatReport` with the same fields and limits."""

    run_id: Text
    sensor_id: Text
    sensor_kind: Kind
    sensor_lat: Lat
    sensor_lon: Lon
    sensor_alt_m: Alt
    time_s: SimTime
    bearing_deg: Annotated[float, msgspec.Meta(ge=0, le=360)]
    sigma_bearing_deg: Sigma
    max_range_m: Annotated[float, msgspec.Meta(ge=1, le=1e6)]
    range_m: Annotated[float, msgspec.Meta(ge=0, le=1e6)] | None = None
    sigma_range_m: Annotated[float, msgspec.Meta(ge=1e-3, le=1e5)] | None = None
    elevation_deg: Lat | None = None
    sigma_elevation_deg: Sigma | None = None
    truth_id: Text | None = None

    def __post_init__(self) -> None:
        # msgspec wraps a ValueError (MessageRejected is one) in a ValidationError with its text.
        if (self.range_m is None) != (self.sigma_range_m is None):
            raise MessageRejected("bad_value", "range_m and sigma_range_m come together")
        if (self.elevation_deg is None) != (self.sigma_elevation_deg is None):
            raise MessageRejected("bad_value", "elevation_deg and sigma_elevation_deg come together")


class MsgspecFusedTrack(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """:class:`grid.wire.messages.FusedTrack` with the same fields and limits."""

    run_id: Text
    track_id: Text
    status: Kind
    time_s: SimTime
    lat: Lat
    lon: Lon
    alt_m: Alt
    east_m: Plane
    north_m: Plane
    vel_east_mps: Speed
    vel_north_mps: Speed
    covariance: Annotated[tuple[float, ...], msgspec.Meta(max_length=16)]
    node_ids: Annotated[tuple[Text, ...], msgspec.Meta(max_length=256)] = ()
    truth_ids: Annotated[tuple[Text, ...], msgspec.Meta(max_length=256)] = ()
    updates: Annotated[int, msgspec.Meta(ge=0)] = 0

    def __post_init__(self) -> None:
        # Unbounded floats: msgspec accepts NaN and infinities, the production checker does not.
        if not all(math.isfinite(x) for x in self.covariance):
            raise MessageRejected("out_of_range", "covariance: not finite")
        if len(self.covariance) != 16:
            raise MessageRejected("bad_value", "covariance: expected 16 numbers (4x4 row-major)")


class MsgspecEnvelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The envelope header; ``body`` stays undecoded until ``type`` picks its struct."""

    v: int
    id: Text
    origin: Text
    sent_ns: Annotated[int, msgspec.Meta(ge=0)]
    type: str
    body: msgspec.Raw


_HEADER = msgspec.msgpack.Decoder(MsgspecEnvelope)
_BODIES: dict[str, msgspec.msgpack.Decoder[Any]] = {
    "report": msgspec.msgpack.Decoder(MsgspecThreatReport),
    "track": msgspec.msgpack.Decoder(MsgspecFusedTrack),
}
_ENCODER = msgspec.msgpack.Encoder()
_ENVELOPE_KEYS = frozenset(MsgspecEnvelope.__struct_fields__)
_BODY_FIELDS = {  # every field, and the required ones
    name: (
        frozenset(f.encode_name for f in msgspec.structs.fields(t)),
        frozenset(f.encode_name for f in msgspec.structs.fields(t) if f.required),
    )
    for name, t in (("report", MsgspecThreatReport), ("track", MsgspecFusedTrack))
}


# msgspec's message patterns, first match wins; anything else is a bad value.
_REASONS = [
    (re.compile(r"^(?P<own>\w+): "), ""),  # raised by a __post_init__ above: its own reason
    (re.compile(r"- at `\$\.v`$"), "bad_schema_version"),
    (re.compile(r"- at `\$\.type`$"), "unknown_type"),
    (re.compile(r"^Object missing required field"), "missing_field"),
    (re.compile(r"^Object contains unknown field"), "unknown_field"),
    (re.compile(r"got `bytes` - at `key` in"), "unknown_field"),  # production: not a field name
    (re.compile(r" of length <= "), "too_large"),
    (re.compile(r", got `"), "bad_type"),
    (re.compile(r"^Expected `\w+` [<>]=? "), "out_of_range"),
]


def reason_of(exc: msgspec.DecodeError) -> str:
    """The production reason code for one of msgspec's validation messages."""
    text = str(exc)
    for pattern, reason in _REASONS:
        found = pattern.search(text)
        if found is not None:
            return reason or found.group("own")
    return "bad_value"


def encode(body: MsgspecThreatReport | MsgspecFusedTrack, *, origin: str, msg_id: str, sent_ns: int) -> bytes:
    """An envelope around ``body`` as msgpack, the same map as :meth:`Envelope.to_bytes`."""
    kind = "report" if isinstance(body, MsgspecThreatReport) else "track"
    raw = msgspec.Raw(_ENCODER.encode(body))
    return _ENCODER.encode(MsgspecEnvelope(SCHEMA_VERSION, msg_id, origin, sent_ns, kind, raw))


def _first_structural_reason(data: bytes, in_body: bool) -> str | None:
    """The reason production finds before any value check, if any; run on rejections only.

    msgspec reports the first fault in the order it reads the bytes; production parses the whole
    payload, then checks the header's keys and version, and a body's keys before its values. With
    several faults at once this puts the same reason on the message; a valid one never gets here.
    """
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return "not_msgpack"
    if not isinstance(raw, dict):
        return "bad_type"
    if _ENVELOPE_KEYS - raw.keys():
        return "missing_field"
    if raw.keys() - _ENVELOPE_KEYS:
        return "unknown_field"
    if type(raw["v"]) is not int or raw["v"] != SCHEMA_VERSION:
        return "bad_schema_version"
    return _body_keys_reason(raw["type"], raw["body"]) if in_body else None


def _body_keys_reason(body_type: Any, body: Any) -> str | None:
    """``unknown_field`` or ``missing_field`` for a body map, as production checks them first."""
    fields = _BODY_FIELDS.get(body_type) if isinstance(body_type, str) else None
    if fields is None or not isinstance(body, dict):
        return None
    every, required = fields
    if body.keys() - every:
        return "unknown_field"
    return "missing_field" if required - body.keys() else None


def decode(data: bytes) -> tuple[MsgspecEnvelope, MsgspecThreatReport | MsgspecFusedTrack]:
    """Decode and validate a report or track envelope; raises :class:`MessageRejected` like production."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageRejected("too_large", f"{len(data)} bytes > {MAX_MESSAGE_BYTES}")
    in_body = False
    try:
        env = _HEADER.decode(data)
        if type(env.v) is not int or env.v != SCHEMA_VERSION:
            raise MessageRejected(
                "bad_schema_version", f"version {env.v!r}, this build speaks {SCHEMA_VERSION}"
            )
        body_decoder = _BODIES.get(env.type)
        if body_decoder is None:
            raise MessageRejected("unknown_type", f"message type {env.type!r}")
        in_body = True
        body = body_decoder.decode(env.body)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError too
        first = _first_structural_reason(data, in_body)
        if first is None and not isinstance(exc, msgspec.ValidationError):
            first = "not_msgpack"
        raise MessageRejected(first or reason_of(exc), str(exc)) from exc
    return env, body
