"""The wire format: every MQTT payload is one msgpack map, an :class:`Envelope` around a typed body.

Envelope keys: ``v`` (schema version), ``id`` (unique message id, 32 hex chars), ``origin``
(sending node or service id), ``sent_ns`` (sender's wall clock at publish, ns since the epoch),
``type`` (body type name) and ``body`` (a map of the body's fields).

Decoding validates sizes, types and ranges and raises :class:`~grid.errors.MessageRejected`
with a short ``reason`` code that receivers count; a receiver never dies on a bad message.
Each body declares its fields' limits; :mod:`grid.wire.validation` checks them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

import msgpack

from grid.clock import MAX_SPEED, MIN_SPEED
from grid.errors import MessageRejected
from grid.wire.validation import Validated, ranged, scalar_checker

__all__ = [
    "MAX_MESSAGE_BYTES",
    "OUTAGE_RECORD_MAX",
    "SCHEMA_VERSION",
    "TRACK_LOG_COLUMNS",
    "TRACK_LOG_MAX",
    "TRACK_LOG_STATUSES",
    "Awareness",
    "AwarenessSource",
    "Body",
    "Envelope",
    "FusedTrack",
    "FusionStats",
    "NodePicture",
    "NodeState",
    "NodeStatus",
    "RunAction",
    "RunControl",
    "RunResults",
    "ThreatReport",
    "new_message_id",
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


def _lat() -> Any:
    return ranged(-90, 90)


def _lon() -> Any:
    return ranged(-180, 180)


def _alt() -> Any:
    return ranged(-500, 30_000)


def _sim_time() -> Any:
    return ranged(0, 1e7)


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreatReport(Validated):
    """One sensor measurement of one target, as the sensor makes it.

    Angles are degrees in the sensor's own local east-north-up frame: ``bearing_deg`` clockwise
    from true north, ``elevation_deg`` above the horizontal. ``range_m`` is the slant range.
    ``truth_id`` labels the simulated target that caused the detection; it is evaluation
    metadata and the fusion centre never uses it for estimation.
    """

    TYPE: ClassVar[str] = "report"
    run_id: str
    sensor_id: str
    sensor_kind: str = field(metadata={"max_len": 16})
    sensor_lat: float = _lat()
    sensor_lon: float = _lon()
    sensor_alt_m: float = _alt()
    time_s: float = _sim_time()
    bearing_deg: float = ranged(0, 360)
    sigma_bearing_deg: float = ranged(1e-6, 90)
    range_m: float | None = ranged(0, 1e6, default=None)
    sigma_range_m: float | None = ranged(1e-3, 1e5, default=None)
    elevation_deg: float | None = ranged(-90, 90, default=None)
    sigma_elevation_deg: float | None = ranged(1e-6, 90, default=None)
    max_range_m: float = ranged(1, 1e6)
    truth_id: str | None = None

    def __post_init__(self) -> None:
        super(ThreatReport, self).__post_init__()
        if (self.range_m is None) != (self.sigma_range_m is None):
            raise MessageRejected("bad_value", "range_m and sigma_range_m come together")
        if (self.elevation_deg is None) != (self.sigma_elevation_deg is None):
            raise MessageRejected("bad_value", "elevation_deg and sigma_elevation_deg come together")


@dataclass(frozen=True, slots=True, kw_only=True)
class FusedTrack(Validated):
    """A fused track update from the fusion centre (theater-frame state and WGS84 position)."""

    TYPE: ClassVar[str] = "track"
    run_id: str
    track_id: str
    status: str = field(metadata={"max_len": 16})
    time_s: float = _sim_time()
    lat: float = _lat()
    lon: float = _lon()
    alt_m: float = _alt()
    east_m: float = ranged(-1e7, 1e7)
    north_m: float = ranged(-1e7, 1e7)
    vel_east_mps: float = ranged(-1e4, 1e4)
    vel_north_mps: float = ranged(-1e4, 1e4)
    covariance: tuple[float, ...] = field(metadata={"max_items": 16})  # 4x4 row-major, [e, n, ve, vn]
    node_ids: tuple[str, ...] = ()
    truth_ids: tuple[str, ...] = ()
    updates: int = ranged(0, None, default=0)

    def __post_init__(self) -> None:
        super(FusedTrack, self).__post_init__()
        if len(self.covariance) != 16:
            raise MessageRejected("bad_value", "covariance: expected 16 numbers (4x4 row-major)")


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeStatus(Validated):
    """A node's state and counters; retained on its status topic, and its MQTT last will."""

    TYPE: ClassVar[str] = "status"
    node_id: str
    state: NodeState
    run_id: str | None = None
    counters: dict[str, int] = field(default_factory=dict)
    # A node's reports that the broker accepted from a broker outage's start on (message id, and
    # simulation time their publishing began): the fusion centre names those it never received.
    outage_reports: tuple[str, ...] = field(default=(), metadata={"max_items": OUTAGE_RECORD_MAX})
    outage_published_s: tuple[float, ...] = field(default=(), metadata={"max_items": OUTAGE_RECORD_MAX})

    def __post_init__(self) -> None:
        Validated.__post_init__(self)
        if len(self.outage_reports) != len(self.outage_published_s):
            raise MessageRejected("bad_value", "outage_reports and outage_published_s differ in length")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunControl(Validated):
    """Starts or ends a run. ``scenario`` is the validated scenario as a plain map."""

    TYPE: ClassVar[str] = "control"
    action: RunAction
    run_id: str
    epoch_ns: int = ranged(0, None)  # wall clock at simulation time 0
    speed: float = ranged(MIN_SPEED, MAX_SPEED)
    seed: int = 0
    scenario: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Awareness(Validated):
    """A node's first knowledge of a threat during a run."""

    TYPE: ClassVar[str] = "awareness"
    run_id: str
    node_id: str
    threat_id: str
    time_s: float = _sim_time()
    source: AwarenessSource


@dataclass(frozen=True, slots=True, kw_only=True)
class FusionStats(Validated):
    """The fusion centre's account of a run: what it received, refused and measured."""

    TYPE: ClassVar[str] = "fusion_stats"
    run_id: str
    delivered: int = ranged(0, None)
    duplicates: int = ranged(0, None)
    rejected: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    tracker: dict[str, int] = field(default_factory=dict)
    update_us: dict[str, float] = field(default_factory=dict)
    # Per node, "<node>.p50" / ".p95" / ".count": simulation ms from a report's measurement to its
    # arrival here. Link impairments add their latency to it, whatever the run's --speed.
    report_age_ms: dict[str, float] = field(default_factory=dict)
    # Simulation times at which the centre's subscriptions were re-established during the run (a
    # broker that keeps no sessions loses what it accepts before then), and when publishing began
    # for each of the nodes' outage reports (NodeStatus.outage_reports) that never arrived here.
    resubscribed_s: tuple[float, ...] = ()
    lost_published_s: tuple[float, ...] = field(default=(), metadata={"max_items": 100_000})
    # The air picture: fused tracks published at most once per track per track_interval_s of
    # simulation time (0: every update), tracks_published of them. track_log holds every tracker
    # update, in issue order, as rows of TRACK_LOG_COLUMNS ("track" indexes track_ids; "issued" is
    # the centre's simulation time when the tracker produced it): the summary's track measures.
    track_interval_s: float = ranged(0, 1e7, default=0.0)
    tracks_published: int = ranged(0, None, default=0)
    track_ids: tuple[str, ...] = field(default=(), metadata={"max_items": TRACK_LOG_MAX})
    track_log: tuple[tuple[float, ...], ...] = field(default=(), metadata={"max_items": TRACK_LOG_MAX})

    def __post_init__(self) -> None:
        Validated.__post_init__(self)
        columns, ids, statuses = len(TRACK_LOG_COLUMNS), len(self.track_ids), len(TRACK_LOG_STATUSES)
        for i, row in enumerate(self.track_log):
            if len(row) != columns:
                raise MessageRejected("bad_value", f"track_log[{i}]: expected {columns} numbers")
            time_s, issued, track, *_, status = row
            # Indexes are whole numbers; a decoder may hand them over as floats (3.0).
            if track != int(track) or not 0 <= track < ids:
                raise MessageRejected("bad_value", f"track_log[{i}]: track {track!r} is not in track_ids")
            if status != int(status) or not 0 <= status < statuses:
                raise MessageRejected("bad_value", f"track_log[{i}]: status {status!r}")
            if time_s > issued:
                raise MessageRejected("bad_value", f"track_log[{i}]: issued before its time")


@dataclass(frozen=True, slots=True, kw_only=True)
class NodePicture(Validated):
    """A node's own fused picture of a run, scored against the ground truth when the run ends.

    ``threats`` maps each threat id to ``{"time_to_locate_s", "rmse_m", "track_updates"}``.
    """

    TYPE: ClassVar[str] = "picture"
    run_id: str
    node_id: str
    threats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResults(Validated):
    """A finished run's summary (the ``summary.json`` map), retained on its results topic."""

    TYPE: ClassVar[str] = "results"
    run_id: str
    summary: dict[str, Any] = field(default_factory=dict)


Body = (
    ThreatReport | FusedTrack | NodeStatus | RunControl | Awareness | FusionStats | RunResults | NodePicture
)
_BODY_TYPES: dict[str, type[Body]] = {
    c.TYPE: c
    for c in (
        ThreatReport,
        FusedTrack,
        NodeStatus,
        RunControl,
        Awareness,
        FusionStats,
        RunResults,
        NodePicture,
    )
}


_ENVELOPE_KEYS = frozenset({"v", "id", "origin", "sent_ns", "type", "body"})
_check_id = scalar_checker(str, {"max_len": 64})
_check_origin = scalar_checker(str, {})
_check_sent = scalar_checker(int, {"lo": 0})


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """A message on the wire: header plus one typed body."""

    body: Body
    origin: str
    msg_id: str = field(default_factory=new_message_id)
    sent_ns: int = field(default_factory=time.time_ns)
    schema: int = SCHEMA_VERSION

    def to_bytes(self) -> bytes:
        """Encode as a msgpack map."""
        packed: bytes = msgpack.packb(
            {
                "v": self.schema,
                "id": self.msg_id,
                "origin": self.origin,
                "sent_ns": self.sent_ns,
                "type": self.body.TYPE,
                "body": self.body.to_dict(),
            },
            use_bin_type=True,
        )
        return packed

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
        if isinstance(env.body, _SHAREABLE):
            if len(_SHARED) >= _SHARED_MAX:
                del _SHARED[next(iter(_SHARED))]  # the oldest: its copies have all arrived by now
            _SHARED[data] = env
        return env

    @classmethod
    def _decode(cls, data: bytes) -> Envelope:
        if len(data) > MAX_MESSAGE_BYTES:
            raise MessageRejected("too_large", f"{len(data)} bytes > {MAX_MESSAGE_BYTES}")
        try:
            raw = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
        except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
            raise MessageRejected("not_msgpack", f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(raw, dict):
            raise MessageRejected("bad_type", "message: expected a map")
        missing = _ENVELOPE_KEYS - raw.keys()
        if missing:
            raise MessageRejected("missing_field", f"envelope: missing {sorted(missing)}")
        extra = raw.keys() - _ENVELOPE_KEYS
        if extra:
            raise MessageRejected("unknown_field", f"envelope: unknown field(s) {sorted(map(str, extra))}")
        if type(raw["v"]) is not int or raw["v"] != SCHEMA_VERSION:
            raise MessageRejected(
                "bad_schema_version", f"version {raw['v']!r}, this build speaks {SCHEMA_VERSION}"
            )
        _check_id("id", raw["id"])
        _check_origin("origin", raw["origin"])
        _check_sent("sent_ns", raw["sent_ns"])
        body_type = _BODY_TYPES.get(raw["type"]) if isinstance(raw["type"], str) else None
        if body_type is None:
            raise MessageRejected("unknown_type", f"message type {raw['type']!r}")
        return cls(
            body=body_type.from_dict(raw["body"]),
            origin=raw["origin"],
            msg_id=raw["id"],
            sent_ns=raw["sent_ns"],
        )


# Envelopes whose bodies are deeply immutable (no dicts), keyed by their exact bytes.
_SHAREABLE = (ThreatReport, FusedTrack)
_SHARED: dict[bytes, Envelope] = {}
_SHARED_MAX = 4096
