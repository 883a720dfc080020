"""Oversized payloads are refused before decoding; nesting 100,000 deep cannot exhaust the stack."""

from __future__ import annotations

import json

import pytest

from grid.cyber.references import MAX_JSON_DEPTH, parse_json
from grid.errors import CyberRejected, MessageRejected
from grid.mqtt.memory import MemoryBroker
from grid.mqtt.transport import Received
from grid.participants.centre import FusionCentre
from grid.wire import messages, topics
from grid.wire.limits import EDGE_MAX_BYTES, payload_limit
from grid.wire.messages import (
    MAX_MESSAGE_BYTES,
    OUTAGE_RECORD_MAX,
    SCAN_REPORTS_MAX,
    Envelope,
    NodeState,
    NodeStatus,
    RunAction,
    RunControl,
    SensorScan,
    ThreatReport,
)
from grid.world.roster import Roster
from tests.fuzz.corpus import load_corpus
from tests.fuzz.mutate import deep
from tests.fuzz.targets import HubTarget, join, make_targets

DEPTH = 100_000
_TEXT = "x" * 64  # every string at its limit


def _nested_array(depth: int) -> bytes:
    return b"\x91" * depth + b"\x01"  # msgpack [[[...[1]...]]]


def _nested_map(depth: int) -> bytes:
    return b"\x81\xa1k" * depth + b"\x01"  # msgpack {"k": {"k": ... 1}}


def _control_with(value: bytes) -> bytes:
    """A real start message whose scenario map holds ``value`` (raw msgpack) under key ``x``."""
    control = RunControl(action=RunAction.START, run_id="r", epoch_ns=1, speed=1.0, scenario={"x": 1})
    data = Envelope(body=control, origin="controller").to_bytes()
    slot = data.index(b"\x81\xa1x\x01")
    return data[:slot] + b"\x81\xa1x" + value + data[slot + 4 :]


def _report_with(value: bytes) -> bytes:
    """A real report whose ``truth_id`` is ``value`` (raw msgpack)."""
    report = ThreatReport(
        run_id="r",
        sensor_id="RO-RAD-CAPE-MIDIA",
        sensor_kind="radar",
        sensor_lat=44.0,
        sensor_lon=28.0,
        sensor_alt_m=0.0,
        time_s=1.0,
        bearing_deg=1.0,
        sigma_bearing_deg=1.0,
        max_range_m=10.0,
        truth_id="T",
    )
    data = Envelope(body=report, origin="RO").to_bytes()
    slot = data.index(b"\xa1T")
    return data[:slot] + value + data[slot + 2 :]


@pytest.mark.parametrize("nest", [_nested_array, _nested_map], ids=["arrays", "maps"])
@pytest.mark.parametrize(
    "where", [_control_with, _report_with, lambda v: v], ids=["free-form", "typed", "top"]
)
def test_nesting_100000_deep_is_refused_with_a_reason(nest: object, where: object) -> None:
    """Lists or maps nested 100,000 deep anywhere in a message: a MessageRejected, not a RecursionError."""
    assert callable(nest)
    assert callable(where)
    with pytest.raises(MessageRejected) as caught:
        Envelope.from_bytes(where(nest(DEPTH)))
    assert caught.value.reason in {"too_deep", "not_msgpack", "bad_type"}


def test_a_free_form_map_nested_past_the_limit_is_too_deep_whatever_the_stack() -> None:
    """At 40 levels (far below the interpreter's limit) a start's scenario is refused as too_deep."""
    with pytest.raises(MessageRejected, match="too_deep"):
        Envelope.from_bytes(_control_with(_nested_map(40)))
    Envelope.from_bytes(_control_with(_nested_map(20)))  # real scenarios nest about 6 levels


def test_the_largest_legitimate_messages_fit_under_the_edge_limit() -> None:
    """A full scan (every string at its limit) and a full outage record are under EDGE_MAX_BYTES."""
    report = ThreatReport(
        run_id=_TEXT,
        sensor_id=_TEXT,
        sensor_kind="k" * 16,
        sensor_lat=-89.123456789,
        sensor_lon=-179.123456789,
        sensor_alt_m=29999.123456,
        time_s=9999999.123456,
        bearing_deg=359.123456789,
        sigma_bearing_deg=89.123456789,
        range_m=999999.123456,
        sigma_range_m=99999.123456,
        elevation_deg=-89.123456,
        sigma_elevation_deg=89.123456,
        max_range_m=999999.123456,
        truth_id=_TEXT,
    )
    scan = Envelope(body=SensorScan(run_id=_TEXT, reports=(report,) * SCAN_REPORTS_MAX), origin=_TEXT)
    status = NodeStatus(
        node_id=_TEXT,
        state=NodeState.ONLINE,
        run_id=_TEXT,
        outage_reports=(_TEXT,) * OUTAGE_RECORD_MAX,
        outage_published_s=(1e7 / 3,) * OUTAGE_RECORD_MAX,
    )
    largest = max(len(scan.to_bytes()), len(Envelope(body=status, origin=_TEXT).to_bytes()))
    assert largest * 2 <= EDGE_MAX_BYTES
    assert payload_limit(topics.TopicKind.FUSION_STATS) == MAX_MESSAGE_BYTES


def test_an_oversized_payload_is_counted_and_never_decoded(
    roster: Roster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report payload over the limit is ``rejected.oversized`` without a byte of it decoded."""
    centre = FusionCentre(roster=roster, session_factory=MemoryBroker().session)

    def no_decoding(data: bytes) -> Envelope:
        raise AssertionError("decoded an oversized payload")

    monkeypatch.setattr(messages.Envelope, "from_bytes", staticmethod(no_decoding))
    huge = b"\x00" * (EDGE_MAX_BYTES + 1)
    assert centre.decode(Received(topics.report_topic("RO"), huge, retain=False)) is None
    assert centre.counters == {"rejected.oversized": 1}


def test_the_hub_counts_stix_json_nested_30000_deep() -> None:
    """A cyber report whose JSON nests 30,000 deep (within the wire's size limit) is counted, not fatal."""
    (target,) = make_targets(load_corpus(), ["hub"])
    assert isinstance(target, HubTarget)
    topic, payload = next((t, p) for t, p in load_corpus().of_kind("cyber_report") if b"indicator" in p)
    body = Envelope.from_bytes(payload).body
    assert isinstance(body, messages.CyberObjects)
    nested = messages.CyberObjects(run_id=body.run_id, objects="[" * 30_000 + "]" * 30_000)
    data = join(topic, Envelope(body=nested, origin=topics.parse_topic(topic).node or "").to_bytes())
    assert target.feed(data) == "counted:rejected.invalid_stix"
    with pytest.raises(CyberRejected, match="nested more than"):
        parse_json(json.dumps({"a": deep(MAX_JSON_DEPTH)}))
    parse_json(json.dumps({"a": deep(MAX_JSON_DEPTH - 2)}))
