"""The wire format: every MQTT payload is one msgpack map, an :class:`Envelope` around a typed body.

Envelope keys: ``v`` (schema version), ``id`` (unique message id, at most 64 characters),
``origin`` (sending node or service id), ``sent_ns`` (sender's wall clock at publish, ns since
the epoch), ``type`` (body type name) and ``body`` (a map of the body's fields, in their order).

Bodies are frozen ``msgspec.Struct`` types. A field's type and limits are its annotation
(aliases in :mod:`grid.wire.validation`); a rule across fields is a ``_rules`` method. msgspec
checks both while decoding, and a body built in code is checked the same way on construction.
Every violation is a :class:`~grid.errors.MessageRejected` with a short ``reason`` code that
receivers count; a receiver never dies on a bad message.
"""

from __future__ import annotations

import os
import threading
import time
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import msgspec

from grid.clock import MAX_SPEED, MIN_SPEED
from grid.errors import MessageRejected
from grid.wire.validation import (
    MAX_ITEMS,
    Alt,
    Count,
    Finite,
    Int64,
    Kind,
    Lat,
    Layout,
    Lon,
    SimTime,
    Text,
    check_depth,
    parse_strict,
    reason_of,
)

__all__ = [
    "CYBER_OBJECTS_MAX_BYTES",
    "CYBER_STATS_MAX_BYTES",
    "MAX_MESSAGE_BYTES",
    "OUTAGE_RECORD_MAX",
    "SCAN_REPORTS_MAX",
    "SCHEMA_VERSION",
    "TRACK_LOG_COLUMNS",
    "TRACK_LOG_MAX",
    "TRACK_LOG_STATUSES",
    "Awareness",
    "AwarenessSource",
    "Body",
    "CyberAck",
    "CyberFlag",
    "CyberObjects",
    "CyberStats",
    "Envelope",
    "FusedTrack",
    "FusionStats",
    "NodePicture",
    "NodeState",
    "NodeStatus",
    "RunAction",
    "RunControl",
    "RunResults",
    "SensorScan",
    "ThreatReport",
    "new_message_id",
    "reports_in",
]

SCHEMA_VERSION = 1
# The fusion centre's account carries every tracker update of a run (swarm-12: 1.4 MB); a
# TRACK_LOG_MAX log fits, and Mosquitto's own default limit is MQTT's 256 MB.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
OUTAGE_RECORD_MAX = 5000  # reports a node records after a broker outage (about 45 bytes each)
# FusionStats.track_log: one row of numbers per tracker update (about 57 bytes packed).
TRACK_LOG_COLUMNS = ("time", "issued", "track", "east", "north", "vel_east", "vel_north", "status")
TRACK_LOG_STATUSES = ("tentative", "confirmed", "deleted")  # a row's "status" is an index into these
TRACK_LOG_MAX = 200_000
SCAN_REPORTS_MAX = 1000  # reports in one sensor scan (a radar over a swarm sees a dozen)
# STIX JSON of one cyber message (an indicator is under 2 KiB; the hub checks each at 16 KiB), and
# of the hub's account, which carries every shared object of a run (about 1 KiB each).
CYBER_OBJECTS_MAX_BYTES = 64 * 1024
CYBER_STATS_MAX_BYTES = 4 * 1024 * 1024


def new_message_id() -> str:
    """A random 128-bit message id as 32 hex characters."""
    return os.urandom(16).hex()


class AwarenessSource(StrEnum):
    """How a node first learned of a threat."""

    OWN_SENSOR = "own_sensor"
    GRID_REPORT = "grid_report"
    FUSED_TRACK = "fused_track"


class NodeState(StrEnum):
    """A node's (or service's) connection state, as published on its retained status topic."""

    ONLINE = "online"
    RUNNING = "running"
    OFFLINE = "offline"


class RunAction(StrEnum):
    """Control actions of a run."""

    START = "start"
    END = "end"


class _Decoding(threading.local):
    active = False  # True while msgspec decodes, which has checked the fields by then


_decoding = _Decoding()


class _Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """A message body: its fields are checked when decoded and when built in code.

    ``gc=False``: a body holds plain values only, never a reference cycle, so the garbage
    collector need not track it (cheaper to create).
    """

    TYPE: ClassVar[str]
    FREE_FORM: ClassVar[bool] = False  # holds maps of any values (their keys must still be strings)

    def __post_init__(self) -> None:
        if _decoding.active:
            self._rules()
        else:  # built in code: a decoded copy of it runs the same checks as a received one
            _check_built(self)

    def _rules(self) -> None:
        """Checks across fields, beyond each field's own type and limits."""


class ThreatReport(_Body, frozen=True, kw_only=True):
    """One sensor measurement of one target, as the sensor makes it.

    Angles are degrees in the sensor's own local east-north-up frame: ``bearing_deg`` clockwise
    from true north, ``elevation_deg`` above the horizontal. ``range_m`` is the slant range.
    ``truth_id`` labels the simulated target that caused the detection; it is evaluation
    metadata and the fusion centre never uses it for estimation.
    """

    TYPE: ClassVar[str] = "report"
    run_id: Text
    sensor_id: Text
    sensor_kind: Kind
    sensor_lat: Lat
    sensor_lon: Lon
    sensor_alt_m: Alt
    time_s: SimTime
    bearing_deg: Annotated[float, msgspec.Meta(ge=0, le=360)]
    sigma_bearing_deg: Annotated[float, msgspec.Meta(ge=1e-6, le=90)]
    # At least a metre, as the sensors report it: at zero the line of sight has no azimuth, and the
    # range-bearing model's Jacobian divides by its horizontal length (a fuzz finding).
    range_m: Annotated[float, msgspec.Meta(ge=1, le=1e6)] | None = None
    sigma_range_m: Annotated[float, msgspec.Meta(ge=1e-3, le=1e5)] | None = None
    elevation_deg: Lat | None = None
    sigma_elevation_deg: Annotated[float, msgspec.Meta(ge=1e-6, le=90)] | None = None
    max_range_m: Annotated[float, msgspec.Meta(ge=1, le=1e6)]
    truth_id: Text | None = None

    def _rules(self) -> None:
        if (self.range_m is None) != (self.sigma_range_m is None):
            raise MessageRejected("bad_value", "range_m and sigma_range_m come together")
        if (self.elevation_deg is None) != (self.sigma_elevation_deg is None):
            raise MessageRejected("bad_value", "elevation_deg and sigma_elevation_deg come together")


class SensorScan(_Body, frozen=True, kw_only=True):
    """Every report of one sensor scan, in one message: what a node shares.

    A radar sweeping a swarm of twelve drones sees twelve targets at once; sending them together
    costs the broker and every subscriber one delivery instead of twelve. Report ``i`` of the scan
    is known as ``<message id>.<i>`` (:func:`reports_in`).
    """

    TYPE: ClassVar[str] = "scan"
    run_id: Text
    reports: Annotated[tuple[ThreatReport, ...], msgspec.Meta(min_length=1, max_length=SCAN_REPORTS_MAX)]

    def _rules(self) -> None:
        first = self.reports[0]
        for i, r in enumerate(self.reports):
            if r.run_id != self.run_id:
                raise MessageRejected(
                    "bad_value", f"reports[{i}]: run {r.run_id!r}, the scan's is {self.run_id!r}"
                )
            if r.sensor_id != first.sensor_id or r.time_s != first.time_s:
                raise MessageRejected(
                    "bad_value", f"reports[{i}]: a scan's reports share one sensor and time"
                )


class FusedTrack(_Body, frozen=True, kw_only=True):
    """A fused track update from the fusion centre (theater-frame state and WGS84 position)."""

    TYPE: ClassVar[str] = "track"
    run_id: Text
    track_id: Text
    status: Kind
    time_s: SimTime
    lat: Lat
    lon: Lon
    alt_m: Alt
    east_m: Annotated[float, msgspec.Meta(ge=-1e7, le=1e7)]
    north_m: Annotated[float, msgspec.Meta(ge=-1e7, le=1e7)]
    vel_east_mps: Annotated[float, msgspec.Meta(ge=-1e4, le=1e4)]
    vel_north_mps: Annotated[float, msgspec.Meta(ge=-1e4, le=1e4)]
    covariance: Annotated[tuple[Finite, ...], msgspec.Meta(max_length=16)]  # 4x4 row-major, [e, n, ve, vn]
    node_ids: Annotated[tuple[Text, ...], msgspec.Meta(max_length=MAX_ITEMS)] = ()
    truth_ids: Annotated[tuple[Text, ...], msgspec.Meta(max_length=MAX_ITEMS)] = ()
    updates: Count = 0

    def _rules(self) -> None:
        if len(self.covariance) != 16:
            raise MessageRejected("bad_value", "covariance: expected 16 numbers (4x4 row-major)")


class NodeStatus(_Body, frozen=True, kw_only=True):
    """A node's state and counters; retained on its status topic, and its MQTT last will."""

    TYPE: ClassVar[str] = "status"
    node_id: Text
    state: NodeState
    run_id: Text | None = None
    counters: Annotated[dict[Text, Int64], msgspec.Meta(max_length=MAX_ITEMS)] = {}
    # A node's reports that the broker accepted from a broker outage's start on (message id, and
    # simulation time their publishing began): the fusion centre names those it never received.
    outage_reports: Annotated[tuple[Text, ...], msgspec.Meta(max_length=OUTAGE_RECORD_MAX)] = ()
    outage_published_s: Annotated[tuple[Finite, ...], msgspec.Meta(max_length=OUTAGE_RECORD_MAX)] = ()

    def _rules(self) -> None:
        if len(self.outage_reports) != len(self.outage_published_s):
            raise MessageRejected("bad_value", "outage_reports and outage_published_s differ in length")


class RunControl(_Body, frozen=True, kw_only=True):
    """Starts or ends a run. ``scenario`` is the validated scenario as a plain map."""

    TYPE: ClassVar[str] = "control"
    FREE_FORM: ClassVar[bool] = True
    action: RunAction
    run_id: Text
    epoch_ns: Count  # wall clock at simulation time 0
    speed: Annotated[float, msgspec.Meta(ge=MIN_SPEED, le=MAX_SPEED)]
    seed: Int64 = 0
    scenario: Annotated[dict[Text, Any], msgspec.Meta(max_length=MAX_ITEMS)] = {}


class Awareness(_Body, frozen=True, kw_only=True):
    """A node's first knowledge of a threat during a run."""

    TYPE: ClassVar[str] = "awareness"
    run_id: Text
    node_id: Text
    threat_id: Text
    time_s: SimTime
    source: AwarenessSource


class FusionStats(_Body, frozen=True, kw_only=True):
    """The fusion centre's account of a run: what it received, refused and measured."""

    TYPE: ClassVar[str] = "fusion_stats"
    run_id: Text
    delivered: Count
    duplicates: Count
    rejected: Annotated[dict[Text, Int64], msgspec.Meta(max_length=MAX_ITEMS)] = {}
    latency_ms: Annotated[dict[Text, Finite], msgspec.Meta(max_length=MAX_ITEMS)] = {}
    tracker: Annotated[dict[Text, Int64], msgspec.Meta(max_length=MAX_ITEMS)] = {}
    update_us: Annotated[dict[Text, Finite], msgspec.Meta(max_length=MAX_ITEMS)] = {}
    # Per node, "<node>.p50" / ".p95" / ".count": simulation ms from a report's measurement to its
    # arrival here. Link impairments add their latency to it, whatever the run's --speed.
    report_age_ms: Annotated[dict[Text, Finite], msgspec.Meta(max_length=MAX_ITEMS)] = {}
    # Simulation times at which the centre's subscriptions were re-established during the run (a
    # broker that keeps no sessions loses what it accepts before then), and when publishing began
    # for each of the nodes' outage reports (NodeStatus.outage_reports) that never arrived here.
    resubscribed_s: Annotated[tuple[Finite, ...], msgspec.Meta(max_length=MAX_ITEMS)] = ()
    lost_published_s: Annotated[tuple[Finite, ...], msgspec.Meta(max_length=100_000)] = ()
    # The air picture: fused tracks published at most once per track per track_interval_s of
    # simulation time (0: every update), tracks_published of them. track_log holds every tracker
    # update, in issue order, as rows of TRACK_LOG_COLUMNS ("track" indexes track_ids; "issued" is
    # the centre's simulation time when the tracker produced it): the summary's track measures.
    track_interval_s: Annotated[float, msgspec.Meta(ge=0, le=1e7)] = 0.0
    tracks_published: Count = 0
    track_ids: Annotated[tuple[Text, ...], msgspec.Meta(max_length=TRACK_LOG_MAX)] = ()
    track_log: Annotated[
        tuple[Annotated[tuple[Finite, ...], msgspec.Meta(max_length=16)], ...],
        msgspec.Meta(max_length=TRACK_LOG_MAX),
    ] = ()
    # Per node, every report's wall-clock ms from publish to arrival here, in arrival order: the
    # run report's latency CDFs (RUN_DIR/latency.json). latency_ms summarises the same samples.
    latency_samples_ms: Annotated[
        dict[Text, Annotated[tuple[Finite, ...], msgspec.Meta(max_length=TRACK_LOG_MAX)]],
        msgspec.Meta(max_length=MAX_ITEMS),
    ] = {}

    def _rules(self) -> None:
        columns, ids, statuses = len(TRACK_LOG_COLUMNS), len(self.track_ids), len(TRACK_LOG_STATUSES)
        for i, row in enumerate(self.track_log):
            if len(row) != columns:
                raise MessageRejected("bad_value", f"track_log[{i}]: expected {columns} numbers")
            time_s, issued, track, *_, status = row
            # Indexes are whole numbers; the decoder hands them over as floats (3.0).
            if track != int(track) or not 0 <= track < ids:
                raise MessageRejected("bad_value", f"track_log[{i}]: track {track!r} is not in track_ids")
            if status != int(status) or not 0 <= status < statuses:
                raise MessageRejected("bad_value", f"track_log[{i}]: status {status!r}")
            if time_s > issued:
                raise MessageRejected("bad_value", f"track_log[{i}]: issued before its time")


class NodePicture(_Body, frozen=True, kw_only=True):
    """A node's own fused picture of a run, scored against the ground truth when the run ends.

    ``threats`` maps each threat id to ``{"time_to_locate_s", "rmse_m", "track_updates"}``.
    """

    TYPE: ClassVar[str] = "picture"
    FREE_FORM: ClassVar[bool] = True
    run_id: Text
    node_id: Text
    threats: Annotated[dict[Text, Any], msgspec.Meta(max_length=MAX_ITEMS)] = {}


class RunResults(_Body, frozen=True, kw_only=True):
    """A finished run's summary (the ``summary.json`` map), retained on its results topic."""

    TYPE: ClassVar[str] = "results"
    FREE_FORM: ClassVar[bool] = True
    run_id: Text
    summary: Annotated[dict[Text, Any], msgspec.Meta(max_length=MAX_ITEMS)] = {}


class CyberObjects(_Body, frozen=True, kw_only=True):
    """STIX 2.1 objects, as the JSON text of a list: a CERT's indicator, a shared indicator, a mitigation.

    ``key`` is the observable key the objects are about (None in a CERT's report: the hub derives
    it). The JSON is parsed and checked by the receiver (:func:`grid.cyber.check_indicator`), not here.
    """

    TYPE: ClassVar[str] = "cyber_objects"
    run_id: Text
    key: Text | None = None
    objects: Annotated[str, msgspec.Meta(max_length=CYBER_OBJECTS_MAX_BYTES)]


class CyberFlag(_Body, frozen=True, kw_only=True):
    """The Joint Cyber Centre flags the shared indicator of ``key`` at simulation time ``time_s``;
    ``late``: a restart of the centre's process delayed it (the indicator came, or its analysis
    came due, while the process was down)."""

    TYPE: ClassVar[str] = "cyber_flag"
    run_id: Text
    key: Text
    time_s: SimTime
    late: bool = False


class CyberAck(_Body, frozen=True, kw_only=True):
    """``node_id`` acknowledges the mitigation of ``key`` at simulation time ``time_s``."""

    TYPE: ClassVar[str] = "cyber_ack"
    run_id: Text
    node_id: Text
    key: Text
    time_s: SimTime


class CyberStats(_Body, frozen=True, kw_only=True):
    """The cyber-exchange hub's account of a run, sent when the run ends.

    ``metrics`` is :meth:`grid.cyber.CyberExchange.metrics`, ``rejected`` counts refused reports by
    reason, ``taxii`` the TAXII push figures (empty without a TAXII target), ``objects`` the
    JSON text of every shared STIX object, in bundle order, and ``recovery`` what a restart of the
    hub's process replayed and changed (empty without one: :mod:`grid.participants.recovery`).
    """

    TYPE: ClassVar[str] = "cyber_stats"
    FREE_FORM: ClassVar[bool] = True
    run_id: Text
    metrics: Annotated[dict[Text, Any], msgspec.Meta(max_length=MAX_ITEMS)] = {}
    rejected: Annotated[dict[Text, Int64], msgspec.Meta(max_length=MAX_ITEMS)] = {}
    taxii: Annotated[dict[Text, Any], msgspec.Meta(max_length=MAX_ITEMS)] = {}
    objects: Annotated[str, msgspec.Meta(max_length=CYBER_STATS_MAX_BYTES)] = "[]"
    recovery: Annotated[dict[Text, Any], msgspec.Meta(max_length=MAX_ITEMS)] = {}


Body = (
    ThreatReport
    | SensorScan
    | FusedTrack
    | NodeStatus
    | RunControl
    | Awareness
    | FusionStats
    | RunResults
    | NodePicture
    | CyberObjects
    | CyberFlag
    | CyberAck
    | CyberStats
)
_BODY_TYPES: dict[str, type[Body]] = {
    c.TYPE: c
    for c in (
        ThreatReport,
        SensorScan,
        FusedTrack,
        NodeStatus,
        RunControl,
        Awareness,
        FusionStats,
        RunResults,
        NodePicture,
        CyberObjects,
        CyberFlag,
        CyberAck,
        CyberStats,
    )
}


def reports_in(env: Envelope) -> list[tuple[str, ThreatReport]]:
    """The reports a message carries, each with its id: a scan's, a lone report, or none."""
    body = env.body
    if isinstance(body, SensorScan):
        return [(f"{env.msg_id}.{i}", r) for i, r in enumerate(body.reports)]
    if isinstance(body, ThreatReport):
        return [(env.msg_id, body)]
    return []


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """A message on the wire: header plus one typed body."""

    body: Body
    origin: str
    msg_id: str = msgspec.field(default_factory=new_message_id)
    sent_ns: int = msgspec.field(default_factory=time.time_ns)
    schema: int = SCHEMA_VERSION

    def to_bytes(self) -> bytes:
        """Encode as a msgpack map."""
        return _ENCODER.encode(
            _Wire(self.schema, self.msg_id, self.origin, self.sent_ns, self.body.TYPE, self.body)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Decode and validate; raises :class:`MessageRejected` with a reason code.

        In one process (``gridsim run``) every subscriber receives the same bytes of each report
        and track: the envelope decoded from them is immutable, so it is validated once and shared.
        """
        shared = _SHARED.get(data) if type(data) is bytes else None
        if shared is not None:
            return shared
        env = cls._decode(data)
        if isinstance(env.body, _SHAREABLE) and len(data) <= _SHARED_MAX_BYTES:
            if len(_SHARED) >= _SHARED_MAX:
                del _SHARED[next(iter(_SHARED))]  # the oldest: its copies have all arrived by now
            _SHARED[data] = env
        return env

    @classmethod
    def _decode(cls, data: bytes) -> Envelope:
        if len(data) > MAX_MESSAGE_BYTES:
            raise MessageRejected("too_large", f"{len(data)} bytes > {MAX_MESSAGE_BYTES}")
        before, _decoding.active = _decoding.active, True
        try:
            try:
                return _decode_checked(data)
            except (msgspec.DecodeError, MessageRejected) as exc:
                return _decode_rejected(data, exc)
        except RecursionError as exc:  # a backstop: check_depth refuses free-form nesting first
            raise MessageRejected("too_deep", "nested beyond the interpreter's stack") from exc
        finally:
            _decoding.active = before


class _Wire(msgspec.Struct, frozen=True):
    """The envelope's map as it is encoded."""

    v: int
    id: str
    origin: str
    sent_ns: int
    type: str
    body: Any


class _Header(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The envelope's map as it is decoded: ``body`` stays raw until ``type`` names its struct."""

    v: Any  # checked after the map, as the version decides how to read the rest
    id: Text
    origin: Text
    sent_ns: Count
    type: Any
    body: msgspec.Raw


def _as_builtin(value: object) -> object:
    """A float, int or str subclass's value (numpy's float64 is a float): msgpack carries them as such."""
    for base in (float, int, str):
        if isinstance(value, base):
            return base(value)
    raise TypeError(f"a message cannot carry {type(value).__name__}")


_ENCODER = msgspec.msgpack.Encoder(enc_hook=_as_builtin)
_HEADER = msgspec.msgpack.Decoder(_Header)
_DECODERS: dict[str, msgspec.msgpack.Decoder[Any]] = {
    name: msgspec.msgpack.Decoder(t) for name, t in _BODY_TYPES.items()
}
_ENUM_FIELDS: dict[str, dict[str, type[StrEnum]]] = {
    name: {
        f.name: f.type
        for f in msgspec.structs.fields(t)
        if isinstance(f.type, type) and issubclass(f.type, StrEnum)
    }
    for name, t in _BODY_TYPES.items()
}
_LAYOUT = Layout(
    SCHEMA_VERSION,
    envelope=_Header.__struct_fields__,
    bodies={name: t.__struct_fields__ for name, t in _BODY_TYPES.items()},
    required={
        name: frozenset(f.name for f in msgspec.structs.fields(t) if f.required)
        for name, t in _BODY_TYPES.items()
    },
)


def _decode_checked(data: bytes, body_keys: Any = None) -> Envelope:
    """msgspec's decoding, in the order of the map's keys; raises at the first fault it meets.

    With ``body_keys`` (the body as a plain map), its keys are checked before its values.
    """
    header = _HEADER.decode(data)
    if type(header.v) is not int or header.v != SCHEMA_VERSION:
        raise MessageRejected(
            "bad_schema_version", f"version {header.v!r}, this build speaks {SCHEMA_VERSION}"
        )
    body_type = _BODY_TYPES.get(header.type) if type(header.type) is str else None
    if body_type is None:
        raise MessageRejected("unknown_type", f"message type {header.type!r}")
    if isinstance(body_keys, dict):
        _LAYOUT.check_body_keys(body_type.TYPE, body_keys)
    if body_type.FREE_FORM:
        # msgspec takes any keys in a map of any values; the wire allows only strings. Its values'
        # nesting is bounded before msgspec decodes them, which recurses once per level.
        check_depth(parse_strict(data))
    try:
        body = _DECODERS[body_type.TYPE].decode(header.body)
    except msgspec.DecodeError as exc:
        raise reason_of(exc, _ENUM_FIELDS[body_type.TYPE]) from exc
    return Envelope(body=body, origin=header.origin, msg_id=header.id, sent_ns=header.sent_ns)


def _decode_rejected(data: bytes, exc: msgspec.DecodeError | MessageRejected) -> Envelope:
    """The rejection of ``data`` (a bad message's path only): the first fault in the fixed order.

    msgspec stops at the first fault in the order it reads the keys, so the message is decoded
    again with its keys in the order they are checked (see :class:`Layout`).
    """
    again, body = _LAYOUT.in_check_order(data)
    try:
        return _decode_checked(again, body)
    except (msgspec.DecodeError, MessageRejected) as first:
        raise reason_of(first, {}) from exc


def _check_built(body: _Body) -> None:
    """Checks a body built in code as a received one is checked: decodes a copy of its encoding."""
    try:
        data = _ENCODER.encode(body)
    except OverflowError as exc:  # an int beyond msgpack's 64 bits
        raise MessageRejected("out_of_range", f"{type(body).__name__}: {exc}") from exc
    except TypeError as exc:  # a value msgpack cannot carry
        raise MessageRejected("bad_type", f"{type(body).__name__}: {exc}") from exc
    before, _decoding.active = _decoding.active, True
    try:
        _DECODERS[body.TYPE].decode(data)
    except msgspec.DecodeError as exc:
        raise reason_of(exc, _ENUM_FIELDS[body.TYPE]) from None
    finally:
        _decoding.active = before
    if body.FREE_FORM:
        check_depth(parse_strict(data))


# Envelopes whose bodies are deeply immutable (no dicts), keyed by their exact bytes.
_SHAREABLE = (ThreatReport, SensorScan, FusedTrack)
_SHARED: dict[bytes, Envelope] = {}
_SHARED_MAX = 4096
# Only payloads the size of real reports and tracks (a scan of a swarm is 4 KB) are kept: 4096 big
# scans that a member made up (up to the 1 MiB edge limit each) would otherwise hold gigabytes.
_SHARED_MAX_BYTES = 64 * 1024
