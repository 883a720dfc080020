"""Tests of the MQTT topic tree in :mod:`grid.wire.topics`."""

from __future__ import annotations

from collections.abc import Callable

import aiomqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grid.errors import MessageRejected
from grid.wire import topics as topics_module
from grid.wire.topics import (
    ALL_AWARENESS,
    ALL_CYBER_ACKS,
    ALL_CYBER_REPORTS,
    ALL_PICTURES,
    ALL_REPORTS,
    ALL_RESULTS,
    ALL_STATUS,
    CONTROL,
    CYBER_FLAGS,
    CYBER_JCC,
    CYBER_STATS,
    FUSION_STATS,
    ROOT,
    TRACKS,
    ParsedTopic,
    TopicKind,
    awareness_topic,
    cyber_ack_topic,
    cyber_report_topic,
    mitigation_topic,
    parse_topic,
    picture_topic,
    report_topic,
    results_topic,
    status_topic,
)

segments = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,47}\Z")

BAD_SEGMENTS = ["+", "#", "a/b", "", "x" * 49, "-RO", ".hidden", "RO+", "R O", "Ro#1"]


def _topic_of_each_kind(node: str) -> dict[TopicKind, str]:
    return {
        TopicKind.REPORT: report_topic(node),
        TopicKind.STATUS: status_topic(node),
        TopicKind.AWARENESS: awareness_topic(node),
        TopicKind.PICTURE: picture_topic(node),
        TopicKind.RESULTS: results_topic(node),
        TopicKind.TRACK: TRACKS,
        TopicKind.CONTROL: CONTROL,
        TopicKind.FUSION_STATS: FUSION_STATS,
        TopicKind.CYBER_REPORT: cyber_report_topic(node),
        TopicKind.CYBER_JCC: CYBER_JCC,
        TopicKind.CYBER_FLAG: CYBER_FLAGS,
        TopicKind.MITIGATION: mitigation_topic(node),
        TopicKind.CYBER_ACK: cyber_ack_topic(node),
        TopicKind.CYBER_STATS: CYBER_STATS,
    }


FILTERS = {
    ALL_REPORTS: TopicKind.REPORT,
    ALL_STATUS: TopicKind.STATUS,
    ALL_AWARENESS: TopicKind.AWARENESS,
    ALL_PICTURES: TopicKind.PICTURE,
    ALL_RESULTS: TopicKind.RESULTS,
    ALL_CYBER_REPORTS: TopicKind.CYBER_REPORT,
    ALL_CYBER_ACKS: TopicKind.CYBER_ACK,
}


@given(segments)
def test_each_filter_matches_exactly_its_kind(node: str) -> None:
    """A subscription filter matches the topics of its kind and no topic of another kind."""
    built = _topic_of_each_kind(node)
    for pattern, kind in FILTERS.items():
        matched = {k for k, topic in built.items() if aiomqtt.Topic(topic).matches(pattern)}
        assert matched == {kind}, pattern


@given(segments, segments)
def test_report_topic_as_a_filter_matches_only_its_node(node: str, other: str) -> None:
    """``report_topic(n)`` subscribes to n's reports and not another node's; ALL_REPORTS to both."""
    assert aiomqtt.Topic(report_topic(node)).matches(report_topic(node))
    assert aiomqtt.Topic(report_topic(other)).matches(report_topic(node)) == (other == node)
    assert aiomqtt.Topic(report_topic(other)).matches(ALL_REPORTS)


def test_fixed_topics_are_in_the_documented_tree() -> None:
    """The fixed topics are the ones the module docstring documents, all under ROOT."""
    documented = {
        line.split()[0] for line in (topics_module.__doc__ or "").splitlines() if line.startswith("    grid/")
    }
    assert {TRACKS, CONTROL, FUSION_STATS} <= documented
    assert all(t.startswith(ROOT + "/") for t in documented)
    assert all(t.startswith(ROOT + "/") for t in (TRACKS, CONTROL, FUSION_STATS, *FILTERS))


def test_builders_give_documented_topics() -> None:
    """Each builder gives the topic in the module docstring."""
    assert report_topic("RO") == "grid/v1/reports/RO"
    assert ALL_REPORTS == "grid/v1/reports/+"
    assert status_topic("BG") == "grid/v1/status/BG"
    assert awareness_topic("TR") == "grid/v1/awareness/TR"
    assert picture_topic("RO") == "grid/v1/picture/RO"


@given(segments)
def test_report_round_trip(node: str) -> None:
    """A report topic parses back to its node."""
    assert parse_topic(report_topic(node)) == ParsedTopic(TopicKind.REPORT, node=node)


@given(segments, segments)
def test_old_per_grid_report_topic_rejected(grid: str, node: str) -> None:
    """The old ``grid/v1/reports/<grid>/<node>`` form is not a report topic any more."""
    with pytest.raises(MessageRejected) as info:
        parse_topic(f"{ROOT}/reports/{grid}/{node}")
    assert info.value.reason == "bad_topic"


@given(segments)
def test_status_round_trip(node: str) -> None:
    """A status topic parses back to its node."""
    assert parse_topic(status_topic(node)) == ParsedTopic(TopicKind.STATUS, node=node)


@given(segments)
def test_awareness_round_trip(node: str) -> None:
    """An awareness topic parses back to its node."""
    assert parse_topic(awareness_topic(node)) == ParsedTopic(TopicKind.AWARENESS, node=node)


@given(segments)
def test_cyber_topics_round_trip(node: str) -> None:
    """A CERT's report and ack topics parse back to their node; a mitigation topic names a recipient."""
    assert parse_topic(cyber_report_topic(node)) == ParsedTopic(TopicKind.CYBER_REPORT, node=node)
    assert parse_topic(cyber_ack_topic(node)) == ParsedTopic(TopicKind.CYBER_ACK, node=node)
    assert parse_topic(mitigation_topic(node)) == ParsedTopic(TopicKind.MITIGATION)


@given(segments)
def test_picture_round_trip(node: str) -> None:
    """A picture topic parses back to its node."""
    assert parse_topic(picture_topic(node)) == ParsedTopic(TopicKind.PICTURE, node=node)


@pytest.mark.parametrize(
    ("topic", "kind"),
    [(TRACKS, TopicKind.TRACK), (CONTROL, TopicKind.CONTROL), (FUSION_STATS, TopicKind.FUSION_STATS)],
)
def test_fixed_topics_parse(topic: str, kind: TopicKind) -> None:
    """The fixed topics parse to their kind with no grid or node."""
    assert parse_topic(topic) == ParsedTopic(kind)


def test_every_kind_has_a_topic() -> None:
    """Every topic kind is produced by some topic (no kind is unreachable)."""
    topics = [
        report_topic("n"),
        status_topic("n"),
        awareness_topic("n"),
        picture_topic("n"),
        results_topic("run-1"),
        TRACKS,
        CONTROL,
        FUSION_STATS,
        cyber_report_topic("n"),
        CYBER_JCC,
        CYBER_FLAGS,
        mitigation_topic("n"),
        cyber_ack_topic("n"),
        CYBER_STATS,
    ]
    assert {parse_topic(t).kind for t in topics} == set(TopicKind)


def test_segment_at_length_limit() -> None:
    """A 48-character segment is accepted."""
    node = "N" * 48
    assert parse_topic(status_topic(node)).node == node


BUILDERS: dict[str, Callable[[str], str]] = {
    "report": report_topic,
    "status": status_topic,
    "awareness": awareness_topic,
    "picture": picture_topic,
    "cyber_report": cyber_report_topic,
    "mitigation": mitigation_topic,
    "cyber_ack": cyber_ack_topic,
}


@pytest.mark.parametrize("segment", BAD_SEGMENTS)
@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_bad_segments_rejected_when_building(builder: str, segment: str) -> None:
    """Wildcards, separators, empty and over-long segments raise ValueError naming the value."""
    with pytest.raises(ValueError, match="topic segment") as info:
        BUILDERS[builder](segment)
    assert not isinstance(info.value, MessageRejected)


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_trailing_newline_rejected_when_building(builder: str) -> None:
    """A segment with a trailing newline is not a valid segment."""
    with pytest.raises(ValueError, match="topic segment"):
        BUILDERS[builder]("RO\n")


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "grid",
        "grid/v1",
        "grid/v2/tracks",
        "other/v1/tracks",
        "grid/v1/tracks/extra",
        "grid/v1/control/stop",
        "grid/v1/stats/other",
        "grid/v1/weather/RO",
        "grid/v1/reports",
        "grid/v1/reports/",
        "grid/v1/reports/black-sea/RO",
        "grid/v1/reports/RO/extra",
        "grid/v1/reports/+",
        "grid/v1/reports/#",
        "grid/v1/status/",
        "grid/v1/status/+",
        "grid/v1/status/RO/extra",
        "grid/v1/awareness",
        "grid/v1/awareness/" + "x" * 49,
        "/grid/v1/tracks",
        "GRID/v1/tracks",
    ],
)
def test_foreign_topics_rejected(topic: str) -> None:
    """Topics outside the tree are refused with MessageRejected('bad_topic')."""
    with pytest.raises(MessageRejected) as info:
        parse_topic(topic)
    assert info.value.reason == "bad_topic"
    assert repr(topic) in info.value.detail


def test_trailing_newline_rejected_when_parsing() -> None:
    """A received topic whose node ends in a newline is not ours."""
    with pytest.raises(MessageRejected):
        parse_topic("grid/v1/status/RO\n")
