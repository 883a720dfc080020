"""Tests of the wire format in :mod:`grid.wire.messages`: round trips and every rejection path."""

from __future__ import annotations

import math
import typing
from typing import Any

import msgpack
import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grid.clock import MAX_SPEED, MIN_SPEED
from grid.errors import MessageRejected
from grid.wire.messages import (
    MAX_MESSAGE_BYTES,
    SCHEMA_VERSION,
    Awareness,
    AwarenessSource,
    Body,
    CyberAck,
    CyberFlag,
    CyberObjects,
    CyberStats,
    Envelope,
    FusedTrack,
    FusionStats,
    NodePicture,
    NodeState,
    NodeStatus,
    RunAction,
    RunControl,
    RunResults,
    SensorScan,
    ThreatReport,
    new_message_id,
    reports_in,
)

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
NON_NEGATIVE = st.integers(min_value=0, max_value=2**63 - 1)
SHORT_LIST = 8  # keeps generated messages far below MAX_MESSAGE_BYTES


def text(max_size: int = 64) -> st.SearchStrategy[str]:
    """Strings a body accepts (at most ``max_size`` code points)."""
    return st.text(max_size=max_size)


def number(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Finite floats in the inclusive range [lo, hi]."""
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)


def finite() -> st.SearchStrategy[float]:
    """Any finite float."""
    return st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def threat_reports(draw: st.DrawFn) -> ThreatReport:
    """Valid reports, with or without the range and elevation pairs."""
    with_range = draw(st.booleans())
    with_elevation = draw(st.booleans())
    return ThreatReport(
        run_id=draw(text()),
        sensor_id=draw(text()),
        sensor_kind=draw(text(16)),
        sensor_lat=draw(number(-90, 90)),
        sensor_lon=draw(number(-180, 180)),
        sensor_alt_m=draw(number(-500, 30_000)),
        time_s=draw(number(0, 1e7)),
        bearing_deg=draw(number(0, 360)),
        sigma_bearing_deg=draw(number(1e-6, 90)),
        range_m=draw(number(1, 1e6)) if with_range else None,
        sigma_range_m=draw(number(1e-3, 1e5)) if with_range else None,
        elevation_deg=draw(number(-90, 90)) if with_elevation else None,
        sigma_elevation_deg=draw(number(1e-6, 90)) if with_elevation else None,
        max_range_m=draw(number(1, 1e6)),
        truth_id=draw(st.none() | text()),
    )


fused_tracks = st.builds(
    FusedTrack,
    run_id=text(),
    track_id=text(),
    status=text(16),
    time_s=number(0, 1e7),
    lat=number(-90, 90),
    lon=number(-180, 180),
    alt_m=number(-500, 30_000),
    east_m=number(-1e7, 1e7),
    north_m=number(-1e7, 1e7),
    vel_east_mps=number(-1e4, 1e4),
    vel_north_mps=number(-1e4, 1e4),
    covariance=st.tuples(*[finite()] * 16),
    node_ids=st.lists(text(), max_size=SHORT_LIST).map(tuple),
    truth_ids=st.lists(text(), max_size=SHORT_LIST).map(tuple),
    updates=NON_NEGATIVE,
)

node_statuses = st.builds(
    NodeStatus,
    node_id=text(),
    state=st.sampled_from(NodeState),
    run_id=st.none() | text(),
    counters=st.dictionaries(text(), INT64, max_size=SHORT_LIST),
)

# Values a scenario map may hold once decoded: lists (never tuples) and finite numbers.
json_values = st.recursive(
    st.none() | st.booleans() | INT64 | finite() | text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text(16), inner, max_size=4),
    max_leaves=20,
)

run_controls = st.builds(
    RunControl,
    action=st.sampled_from(RunAction),
    run_id=text(),
    epoch_ns=NON_NEGATIVE,
    speed=number(MIN_SPEED, MAX_SPEED),
    seed=INT64,
    scenario=st.dictionaries(text(16), json_values, max_size=6),
)

awarenesses = st.builds(
    Awareness,
    run_id=text(),
    node_id=text(),
    threat_id=text(),
    time_s=number(0, 1e7),
    source=st.sampled_from(AwarenessSource),
)

fusion_stats = st.builds(
    FusionStats,
    run_id=text(),
    delivered=NON_NEGATIVE,
    duplicates=NON_NEGATIVE,
    rejected=st.dictionaries(text(), INT64, max_size=SHORT_LIST),
    latency_ms=st.dictionaries(text(), finite(), max_size=SHORT_LIST),
    tracker=st.dictionaries(text(), INT64, max_size=SHORT_LIST),
    update_us=st.dictionaries(text(), finite(), max_size=SHORT_LIST),
)

summary_values = st.recursive(
    st.none() | st.booleans() | INT64 | finite() | text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text(), inner, max_size=4),
    max_leaves=20,
)
run_results = st.builds(
    RunResults, run_id=text(), summary=st.dictionaries(text(), summary_values, max_size=SHORT_LIST)
)

picture_entries = st.fixed_dictionaries(
    {
        "time_to_locate_s": st.none() | number(0, 1e7),
        "rmse_m": st.none() | number(0, 1e7),
        "track_updates": NON_NEGATIVE,
    }
)
node_pictures = st.builds(
    NodePicture,
    run_id=text(),
    node_id=text(),
    threats=st.dictionaries(text(), picture_entries, max_size=SHORT_LIST),
)


cyber_objects = st.builds(CyberObjects, run_id=text(), key=st.none() | text(), objects=text(2000))
cyber_flags = st.builds(CyberFlag, run_id=text(), key=text(), time_s=number(0, 1e7))
cyber_acks = st.builds(CyberAck, run_id=text(), node_id=text(), key=text(), time_s=number(0, 1e7))
cyber_stats = st.builds(
    CyberStats,
    run_id=text(),
    metrics=st.dictionaries(text(), summary_values, max_size=SHORT_LIST),
    rejected=st.dictionaries(text(), INT64, max_size=SHORT_LIST),
    taxii=st.dictionaries(text(), summary_values, max_size=SHORT_LIST),
    objects=text(2000),
)


@st.composite
def sensor_scans(draw: st.DrawFn) -> SensorScan:
    """Valid scans: one to four reports of one sensor at one time."""
    first = draw(threat_reports())
    others = draw(st.lists(threat_reports(), max_size=3))
    same = {"run_id": first.run_id, "sensor_id": first.sensor_id, "time_s": first.time_s}
    reports = (first, *(msgspec.structs.replace(r, **same) for r in others))
    return SensorScan(run_id=first.run_id, reports=reports)


BODIES: dict[str, st.SearchStrategy[Any]] = {
    "report": threat_reports(),
    "scan": sensor_scans(),
    "track": fused_tracks,
    "status": node_statuses,
    "control": run_controls,
    "awareness": awarenesses,
    "fusion_stats": fusion_stats,
    "results": run_results,
    "picture": node_pictures,
    "cyber_objects": cyber_objects,
    "cyber_flag": cyber_flags,
    "cyber_ack": cyber_acks,
    "cyber_stats": cyber_stats,
}


def envelopes(body: st.SearchStrategy[Any]) -> st.SearchStrategy[Envelope]:
    """Envelopes around bodies drawn from ``body``, with any valid header."""
    return st.builds(
        Envelope,
        body=body,
        origin=text(),
        msg_id=st.just(new_message_id()) | text(),
        sent_ns=NON_NEGATIVE,
    )


# ----------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("kind", sorted(BODIES))
@settings(max_examples=150)
@given(data=st.data())
def test_round_trip(kind: str, data: st.DataObject) -> None:
    """Every body type survives encode then decode unchanged, header included."""
    env = data.draw(envelopes(BODIES[kind]))
    decoded = Envelope.from_bytes(env.to_bytes())
    assert decoded == env
    assert kind == decoded.body.TYPE
    assert type(decoded.body) is type(env.body)


def test_body_types_cover_every_kind() -> None:
    """The strategies above cover every body type of the ``Body`` union."""
    assert set(BODIES) == {t.TYPE for t in typing.get_args(Body)}


def test_ints_accepted_for_float_fields() -> None:
    """A msgpack integer is a valid value for a float field (senders may pack 5 as an int)."""
    raw = raw_envelope()
    raw["body"]["time_s"] = 5
    env = Envelope.from_bytes(msgpack.packb(raw))
    assert isinstance(env.body, ThreatReport)
    assert env.body.time_s == 5


def test_enum_fields_decode_to_enums() -> None:
    """String values of enum fields come back as the enum members."""
    env = Envelope(body=NodeStatus(node_id="RO", state=NodeState.RUNNING), origin="RO")
    body = Envelope.from_bytes(env.to_bytes()).body
    assert isinstance(body, NodeStatus)
    assert body.state is NodeState.RUNNING


def test_new_message_id_is_32_hex_and_unique() -> None:
    """Message ids are 32 hex characters and do not repeat."""
    ids = {new_message_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


# ------------------------------------------------------------------------------------ rejections


def report_body(**changes: Any) -> dict[str, Any]:
    """A valid report body as a plain map, with ``changes`` applied (``...`` deletes a key)."""
    body: dict[str, Any] = {
        "run_id": "run-1",
        "sensor_id": "RO-RAD-CAPE-MIDIA",
        "sensor_kind": "radar",
        "sensor_lat": 44.355,
        "sensor_lon": 28.68,
        "sensor_alt_m": 30.0,
        "time_s": 12.5,
        "bearing_deg": 120.0,
        "sigma_bearing_deg": 0.4,
        "range_m": 20_000.0,
        "sigma_range_m": 30.0,
        "elevation_deg": 1.0,
        "sigma_elevation_deg": 0.8,
        "max_range_m": 150_000.0,
        "truth_id": "uav-1",
    }
    for key, value in changes.items():
        if value is ...:
            del body[key]
        else:
            body[key] = value
    return body


def raw_envelope(
    body: dict[str, Any] | None = None, *, type_: str = "report", **header: Any
) -> dict[str, Any]:
    """A valid envelope map around ``body`` (default: a valid report), header keys overridden."""
    raw: dict[str, Any] = {
        "v": SCHEMA_VERSION,
        "id": new_message_id(),
        "origin": "RO",
        "sent_ns": 1_700_000_000_000_000_000,
        "type": type_,
        "body": report_body() if body is None else body,
    }
    raw.update(header)
    return raw


def rejected(data: bytes) -> MessageRejected:
    """The rejection raised when decoding ``data`` (fails the test if it decodes)."""
    with pytest.raises(MessageRejected) as info:
        Envelope.from_bytes(data)
    return info.value


def reason_of(raw: Any) -> str:
    """The reason code for the msgpack encoding of ``raw``."""
    return rejected(msgpack.packb(raw)).reason


def track_body(**changes: Any) -> dict[str, Any]:
    """A valid fused-track body as a plain map, with ``changes`` applied."""
    body: dict[str, Any] = {
        "run_id": "run-1",
        "track_id": "T1",
        "status": "confirmed",
        "time_s": 10.0,
        "lat": 44.2,
        "lon": 28.8,
        "alt_m": 300.0,
        "east_m": 0.0,
        "north_m": 0.0,
        "vel_east_mps": -50.0,
        "vel_north_mps": -20.0,
        "covariance": [float(i == j) for i in range(4) for j in range(4)],
        "node_ids": ["RO", "BG"],
        "truth_ids": ["uav-1"],
        "updates": 3,
    }
    body.update(changes)
    return body


def test_valid_fixture_messages_decode() -> None:
    """The hand-built valid maps used below decode, so each rejection is due to its one change."""
    assert isinstance(Envelope.from_bytes(msgpack.packb(raw_envelope())).body, ThreatReport)
    track = Envelope.from_bytes(msgpack.packb(raw_envelope(track_body(), type_="track"))).body
    assert isinstance(track, FusedTrack)
    assert track.covariance[0] == 1.0


@pytest.mark.parametrize(
    "data",
    [b"\xc1", b"\x92\x01", b"\x85", msgpack.packb(raw_envelope()) + b"\x00", b"\xd9\x05ab"],
    ids=["never-used-byte", "truncated-array", "truncated-map", "trailing-bytes", "short-string"],
)
def test_not_msgpack(data: bytes) -> None:
    """Bytes that are not exactly one msgpack object are refused as ``not_msgpack``."""
    assert rejected(data).reason == "not_msgpack"


@pytest.mark.parametrize("raw", [[1, 2, 3], "report", 42, None], ids=["list", "string", "int", "nil"])
def test_not_a_map(raw: Any) -> None:
    """A top-level msgpack value that is not a map is refused as ``bad_type``."""
    assert reason_of(raw) == "bad_type"


@pytest.mark.parametrize("key", ["v", "id", "origin", "sent_ns", "type", "body"])
def test_missing_envelope_key(key: str) -> None:
    """An envelope without one of its six keys is refused as ``missing_field``."""
    raw = raw_envelope()
    del raw[key]
    assert reason_of(raw) == "missing_field"


def test_extra_envelope_key_is_rejected() -> None:
    """An envelope with a key beyond the six is refused."""
    raw = raw_envelope()
    raw["extra"] = 1
    err = rejected(msgpack.packb(raw))
    assert "extra" in err.detail


def test_extra_envelope_key_reason_is_unknown_field() -> None:
    """An extra envelope key is counted like an extra body field, as ``unknown_field``."""
    raw = raw_envelope()
    raw["extra"] = 1
    assert reason_of(raw) == "unknown_field"


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_wrong_schema_version(version: Any) -> None:
    """Any schema version but the one this build speaks is refused as ``bad_schema_version``."""
    assert reason_of(raw_envelope(v=version)) == "bad_schema_version"


def test_boolean_schema_version_is_rejected() -> None:
    """``v: true`` is not schema version 1."""
    assert reason_of(raw_envelope(v=True)) == "bad_schema_version"


@pytest.mark.parametrize("type_", ["weather", "", "REPORT", 3, None])
def test_unknown_type(type_: Any) -> None:
    """A body type name this build does not know is refused as ``unknown_type``."""
    assert reason_of(raw_envelope(type_=type_)) == "unknown_type"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"id": "x" * 65}, "too_large"),
        ({"id": 7}, "bad_type"),
        ({"origin": "o" * 65}, "too_large"),
        ({"origin": b"RO"}, "bad_type"),
        ({"sent_ns": -1}, "out_of_range"),
        ({"sent_ns": 1.5}, "bad_type"),
        ({"sent_ns": True}, "bad_type"),
    ],
    ids=["long-id", "int-id", "long-origin", "bytes-origin", "negative-sent", "float-sent", "bool-sent"],
)
def test_bad_header_values(header: dict[str, Any], reason: str) -> None:
    """Header values are checked for type, size and range like body fields."""
    assert reason_of(raw_envelope(**header)) == reason


def test_body_not_a_map() -> None:
    """A body that is not a map is refused as ``bad_type``."""
    assert reason_of(raw_envelope(body=[1, 2])) == "bad_type"  # type: ignore[arg-type]


def test_unknown_body_field() -> None:
    """A body field the type does not define is refused as ``unknown_field`` and named."""
    err = rejected(msgpack.packb(raw_envelope(report_body(colour="red"))))
    assert err.reason == "unknown_field"
    assert "colour" in err.detail


@pytest.mark.parametrize("key", ["run_id", "sensor_id", "bearing_deg", "time_s", "max_range_m"])
def test_missing_body_field(key: str) -> None:
    """A required body field that is absent is refused as ``missing_field`` and named."""
    err = rejected(msgpack.packb(raw_envelope(report_body(**{key: ...}))))
    assert err.reason == "missing_field"
    assert key in err.detail


@pytest.mark.parametrize(
    ("body", "type_"),
    [
        (report_body(bearing_deg="north"), "report"),
        (report_body(time_s=None), "report"),
        (report_body(run_id=5), "report"),
        (report_body(sensor_lat=True), "report"),
        (track_body(updates=True), "track"),
        (track_body(updates=3.0), "track"),
        (track_body(node_ids="RO"), "track"),
        (track_body(covariance=[1.0] * 15 + ["x"]), "track"),
        ({"node_id": "RO", "state": "online", "counters": [1]}, "status"),
        ({"node_id": "RO", "state": "online", "counters": {"sent": "many"}}, "status"),
        ({"node_id": "RO", "state": "online", "counters": {b"sent": 1}}, "status"),
    ],
    ids=[
        "str-for-float",
        "nil-for-float",
        "int-for-str",
        "bool-for-float",
        "bool-for-int",
        "float-for-int",
        "str-for-list",
        "str-in-list",
        "list-for-map",
        "str-in-map",
        "bytes-key",
    ],
)
def test_wrong_type(body: dict[str, Any], type_: str) -> None:
    """A value of the wrong type is refused as ``bad_type``."""
    assert reason_of(raw_envelope(body, type_=type_)) == "bad_type"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("key", ["time_s", "bearing_deg", "range_m", "sensor_alt_m"])
def test_not_finite(key: str, value: float) -> None:
    """NaN and infinities are refused as ``out_of_range``."""
    assert reason_of(raw_envelope(report_body(**{key: value}))) == "out_of_range"


def test_not_finite_in_map_and_list() -> None:
    """NaN inside a float map or a float list is refused as ``out_of_range`` too."""
    stats = {
        "run_id": "r",
        "delivered": 1,
        "duplicates": 0,
        "latency_ms": {"p50": math.nan},
    }
    assert reason_of(raw_envelope(stats, type_="fusion_stats")) == "out_of_range"
    cov = [1.0] * 15 + [math.inf]
    assert reason_of(raw_envelope(track_body(covariance=cov), type_="track")) == "out_of_range"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("bearing_deg", 400.0),
        ("bearing_deg", -0.5),
        ("sensor_lat", 91.0),
        ("sensor_lat", -90.01),
        ("sensor_lon", 180.5),
        ("sensor_alt_m", 30_001.0),
        ("time_s", -1.0),
        ("sigma_bearing_deg", 0.0),
        ("range_m", -1.0),
        ("elevation_deg", 91.0),
        ("max_range_m", 0.5),
    ],
)
def test_out_of_range(key: str, value: float) -> None:
    """A number outside its field's range is refused as ``out_of_range`` and named."""
    err = rejected(msgpack.packb(raw_envelope(report_body(**{key: value}))))
    assert err.reason == "out_of_range"
    assert key in err.detail


@pytest.mark.parametrize(
    ("body", "type_"),
    [
        (track_body(updates=-1), "track"),
        (track_body(lat=91.0), "track"),
        (track_body(vel_east_mps=1e5), "track"),
        ({"action": "start", "run_id": "r", "epoch_ns": -1, "speed": 1.0}, "control"),
        ({"action": "start", "run_id": "r", "epoch_ns": 0, "speed": 0.0}, "control"),
        ({"run_id": "r", "delivered": -3, "duplicates": 0}, "fusion_stats"),
    ],
    ids=["negative-updates", "lat-91", "fast", "negative-epoch", "zero-speed", "negative-delivered"],
)
def test_out_of_range_other_bodies(body: dict[str, Any], type_: str) -> None:
    """Ranges are enforced on every body type, ints included."""
    assert reason_of(raw_envelope(body, type_=type_)) == "out_of_range"


def test_payload_too_large() -> None:
    """A payload over MAX_MESSAGE_BYTES is refused as ``too_large`` before decoding."""
    assert rejected(b"\x00" * (MAX_MESSAGE_BYTES + 1)).reason == "too_large"
    big = Envelope(
        body=RunControl(
            action=RunAction.START,
            run_id="r",
            epoch_ns=0,
            speed=1.0,
            scenario={"blob": "x" * MAX_MESSAGE_BYTES},
        ),
        origin="run",
    )
    data = big.to_bytes()
    assert len(data) > MAX_MESSAGE_BYTES
    assert rejected(data).reason == "too_large"


@pytest.mark.parametrize(
    ("body", "type_", "field"),
    [
        (report_body(run_id="r" * 65), "report", "run_id"),
        (report_body(truth_id="t" * 65), "report", "truth_id"),
        (report_body(sensor_kind="k" * 17), "report", "sensor_kind"),
        (track_body(status="s" * 17), "track", "status"),
        (track_body(node_ids=["n"] * 257), "track", "node_ids"),
        (track_body(node_ids=["n" * 65]), "track", "node_ids[0]"),
        (track_body(covariance=[0.0] * 17), "track", "covariance"),
        (
            {"node_id": "RO", "state": "online", "counters": {f"c{i}": i for i in range(257)}},
            "status",
            "counters",
        ),
        ({"node_id": "RO", "state": "online", "counters": {"k" * 65: 1}}, "status", "counters"),
    ],
    ids=[
        "long-str",
        "long-optional-str",
        "long-kind",
        "long-status",
        "long-list",
        "long-str-in-list",
        "covariance-17",
        "big-map",
        "long-map-key",
    ],
)
def test_too_large_values(body: dict[str, Any], type_: str, field: str) -> None:
    """Strings over 64 (or the field's own limit), lists and maps over their item limit: ``too_large``."""
    err = rejected(msgpack.packb(raw_envelope(body, type_=type_)))
    assert err.reason == "too_large"
    assert field in err.detail


def test_string_at_limit_is_accepted() -> None:
    """A 64-character string is inside the limit."""
    env = Envelope.from_bytes(msgpack.packb(raw_envelope(report_body(run_id="r" * 64))))
    assert isinstance(env.body, ThreatReport)
    assert env.body.run_id == "r" * 64


@pytest.mark.parametrize(
    ("body", "type_"),
    [
        ({"node_id": "RO", "state": "asleep"}, "status"),
        ({"node_id": "RO", "state": 1}, "status"),
        ({"action": "pause", "run_id": "r", "epoch_ns": 0, "speed": 1.0}, "control"),
        ({"run_id": "r", "node_id": "RO", "threat_id": "u", "time_s": 1.0, "source": "rumour"}, "awareness"),
    ],
    ids=["status-state", "int-state", "control-action", "awareness-source"],
)
def test_enum_value_not_allowed(body: dict[str, Any], type_: str) -> None:
    """A value outside an enum is refused as ``bad_value`` and the allowed values are listed."""
    err = rejected(msgpack.packb(raw_envelope(body, type_=type_)))
    assert err.reason == "bad_value"
    assert "expected one of" in err.detail


@pytest.mark.parametrize(
    "changes",
    [
        {"sigma_range_m": ...},
        {"range_m": ...},
        {"range_m": None},
        {"sigma_elevation_deg": ...},
        {"elevation_deg": None},
    ],
    ids=["range-alone", "sigma-range-alone", "range-nil", "elevation-alone", "elevation-nil"],
)
def test_measurement_pairs_come_together(changes: dict[str, Any]) -> None:
    """range_m without sigma_range_m (and elevation without its sigma, or the reverse) is ``bad_value``."""
    assert reason_of(raw_envelope(report_body(**changes))) == "bad_value"


@pytest.mark.parametrize("n", [0, 4, 15])
def test_covariance_not_16_numbers(n: int) -> None:
    """A covariance that is not 16 numbers is refused as ``bad_value``."""
    err = rejected(msgpack.packb(raw_envelope(track_body(covariance=[0.0] * n), type_="track")))
    assert err.reason == "bad_value"
    assert "covariance" in err.detail


def test_construction_validates_too() -> None:
    """Building a body in code runs the same checks as decoding it."""
    with pytest.raises(MessageRejected) as info:
        Awareness(run_id="r", node_id="RO", threat_id="u", time_s=-1.0, source=AwarenessSource.OWN_SENSOR)
    assert info.value.reason == "out_of_range"
    with pytest.raises(MessageRejected) as info:
        FusedTrack(
            run_id="r",
            track_id="T",
            status="confirmed",
            time_s=0.0,
            lat=0.0,
            lon=0.0,
            alt_m=0.0,
            east_m=0.0,
            north_m=0.0,
            vel_east_mps=0.0,
            vel_north_mps=0.0,
            covariance=(0.0,) * 3,
        )
    assert info.value.reason == "bad_value"


def test_number_subclasses_encode_as_numbers() -> None:
    """numpy's float64 (a float subclass) in a field or a free-form map encodes as a plain float."""
    picture = NodePicture(run_id="r", node_id="RO", threats={"uav-1": {"rmse_m": np.float64(12.5)}})
    decoded = Envelope.from_bytes(Envelope(body=picture, origin="RO").to_bytes()).body
    assert isinstance(decoded, NodePicture)
    assert decoded.threats == {"uav-1": {"rmse_m": 12.5}}
    awareness = Awareness(
        run_id="r", node_id="RO", threat_id="u", time_s=np.float64(3.0), source=AwarenessSource.OWN_SENSOR
    )
    assert Envelope.from_bytes(Envelope(body=awareness, origin="RO").to_bytes()).body == awareness
    with pytest.raises(MessageRejected) as info:
        NodePicture(run_id="r", node_id="RO", threats={"uav-1": {"rmse_m": np.int64(3)}})
    assert info.value.reason == "bad_type"


def test_built_free_form_map_needs_string_keys() -> None:
    """A scenario map with a non-string key anywhere is refused when built, as receivers would refuse it."""
    with pytest.raises(MessageRejected) as info:
        RunControl(action=RunAction.START, run_id="r", epoch_ns=0, speed=1.0, scenario={"a": {1: 2}})
    assert info.value.reason == "not_msgpack"
    data = msgpack.packb(raw_envelope({"run_id": "r", "summary": {"a": {1: 2}}}, type_="results"))
    assert rejected(data).reason == "not_msgpack"


def test_replaced_body_is_checked_again() -> None:
    """``msgspec.structs.replace`` runs a body's checks, its rules across fields included."""
    status = NodeStatus(
        node_id="RO", state=NodeState.RUNNING, outage_reports=("a",), outage_published_s=(1.0,)
    )
    assert msgspec.structs.replace(status, outage_published_s=(2.0,)).outage_published_s == (2.0,)
    with pytest.raises(MessageRejected) as info:
        msgspec.structs.replace(status, outage_published_s=())
    assert info.value.reason == "bad_value"
    with pytest.raises(MessageRejected) as info:
        msgspec.structs.replace(status, node_id="n" * 65)
    assert info.value.reason == "too_large"


def test_body_that_validates_also_encodes() -> None:
    """A body accepted on construction encodes: ints outside 64 bits are refused up front."""
    with pytest.raises(MessageRejected):
        RunControl(action=RunAction.START, run_id="r", epoch_ns=0, speed=1.0, seed=2**64)


# ----------------------------------------------------------------------------------------- fuzzing


def assert_decodes_or_rejects(data: bytes) -> None:
    """``from_bytes`` returns an Envelope or raises MessageRejected, and nothing else."""
    try:
        env = Envelope.from_bytes(data)
    except MessageRejected as exc:
        reason = exc.reason
    else:
        assert isinstance(env, Envelope)
        return
    assert reason


@settings(max_examples=500)
@given(st.binary(max_size=256))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    """Arbitrary bytes decode to an Envelope or are rejected; no other exception escapes."""
    assert_decodes_or_rejects(data)


msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=70)
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=5),
    max_leaves=30,
)

FIELD_NAMES = sorted(
    set(report_body())
    | set(track_body())
    | {
        "node_id",
        "state",
        "counters",
        "action",
        "epoch_ns",
        "speed",
        "seed",
        "scenario",
        "threat_id",
        "source",
    }
    | {"delivered", "duplicates", "rejected", "latency_ms", "tracker", "update_us"}
)


@st.composite
def near_valid_envelopes(draw: st.DrawFn) -> bytes:
    """Envelope-shaped maps with known field names and arbitrary values, so validators are reached."""
    body = draw(
        st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), msgpack_values, max_size=16)
    )
    raw = raw_envelope(body, type_=draw(st.sampled_from(sorted(BODIES))))
    if draw(st.booleans()):
        raw[draw(st.sampled_from(sorted(raw)))] = draw(msgpack_values)
    return msgpack.packb(raw)


@pytest.mark.timeout(300)  # 500 examples: ~10 s on a loaded machine, far more on an overloaded one
@settings(max_examples=500)
@given(near_valid_envelopes())
def test_envelope_shaped_garbage_never_crashes(data: bytes) -> None:
    """Envelope maps with arbitrary body values decode or are rejected; nothing else escapes."""
    assert_decodes_or_rejects(data)


@settings(max_examples=200)
@given(
    envelopes(threat_reports()), st.integers(min_value=0, max_value=400), st.binary(min_size=1, max_size=4)
)
def test_corrupted_valid_message_never_crashes(env: Envelope, at: int, junk: bytes) -> None:
    """A valid message with bytes overwritten decodes or is rejected; nothing else escapes."""
    data = bytearray(env.to_bytes())
    at %= len(data)
    data[at : at + len(junk)] = junk
    assert_decodes_or_rejects(bytes(data))


def test_identical_report_bytes_decode_to_one_shared_envelope() -> None:
    """The copies of one report that a process receives are validated once and share the envelope."""
    data = msgpack.packb(raw_envelope())
    first, again = Envelope.from_bytes(data), Envelope.from_bytes(bytes(bytearray(data)))
    assert again is first
    assert isinstance(first.body, ThreatReport)


def test_mutable_bodies_are_not_shared() -> None:
    """Bodies holding maps (a status's counters) are decoded afresh for every receiver."""
    data = Envelope(
        body=NodeStatus(node_id="RO", state=NodeState.ONLINE, counters={"a": 1}), origin="RO"
    ).to_bytes()
    first, again = Envelope.from_bytes(data), Envelope.from_bytes(data)
    assert again is not first
    assert again == first


def test_rejected_bytes_are_rejected_every_time() -> None:
    """A malformed payload is refused with its reason on every delivery, not only the first."""
    data = msgpack.packb(raw_envelope(report_body(bearing_deg=400.0)))
    assert rejected(data).reason == "out_of_range"
    assert rejected(data).reason == "out_of_range"


# ------------------------------------------------------------------------------------ sensor scans


def scan_body(*reports: dict[str, Any], run_id: str = "run-1") -> dict[str, Any]:
    """A scan body as a plain map around ``reports`` (default: two valid reports of one scan)."""
    return {"run_id": run_id, "reports": list(reports or (report_body(), report_body(bearing_deg=10.0)))}


def test_scan_reports_have_their_own_ids() -> None:
    """Report i of a scan is ``<message id>.<i>``; a lone report keeps the message id."""
    env = Envelope.from_bytes(msgpack.packb(raw_envelope(scan_body(), type_="scan", id="m1")))
    assert [(rid, r.bearing_deg) for rid, r in reports_in(env)] == [("m1.0", 120.0), ("m1.1", 10.0)]
    lone = Envelope.from_bytes(msgpack.packb(raw_envelope(id="m2")))
    assert [rid for rid, _ in reports_in(lone)] == ["m2"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (scan_body(report_body(), report_body(time_s=13.0)), "bad_value"),  # two scan times
        (scan_body(report_body(), report_body(sensor_id="RO-RF-X")), "bad_value"),  # two sensors
        (scan_body(report_body(run_id="run-2")), "bad_value"),  # a report of another run
        ({"run_id": "run-1", "reports": []}, "bad_value"),  # an empty scan
        (scan_body(report_body(), report_body(bearing_deg=400.0)), "out_of_range"),
        (scan_body(report_body(), report_body(bearing_deg=...)), "missing_field"),
        (scan_body(report_body(), report_body(extra=1)), "unknown_field"),
    ],
)
def test_bad_scans_are_rejected_with_a_reason(body: dict[str, Any], reason: str) -> None:
    """A scan is one sensor's reports at one time, each checked as a lone report is."""
    assert reason_of(raw_envelope(body, type_="scan")) == reason


def test_a_scan_built_in_code_is_checked() -> None:
    """Building a scan whose reports disagree raises as receiving it would."""
    first = Envelope.from_bytes(msgpack.packb(raw_envelope())).body
    assert isinstance(first, ThreatReport)
    later = msgspec.structs.replace(first, time_s=first.time_s + 1)
    with pytest.raises(MessageRejected) as info:
        SensorScan(run_id=first.run_id, reports=(first, later))
    assert info.value.reason == "bad_value"
