"""The versioned MQTT topic tree; the only place topic strings are built or parsed.

::

    grid/v1/reports/<grid>/<node>   threat reports of <node>, shared with the members of <grid> (QoS 1)
    grid/v1/tracks                  fused track updates from the fusion centre (QoS 1)
    grid/v1/status/<node>           retained node status; the MQTT last will sets it offline
    grid/v1/awareness/<node>        a node's first knowledge of each threat (QoS 1)
    grid/v1/picture/<node>          a node's own fused picture of a run, scored (distributed mode, QoS 1)
    grid/v1/control/run             retained run control: start (scenario, seed, speed, epoch) and end
    grid/v1/stats/fusion            the fusion centre's account of a run, sent when the run ends
    grid/v1/results/<run>           retained summary of a run injected into ``gridsim up``

A report shared in several grids is published once to each grid's topic with the same message
id; subscribers that see it twice count a ``grid_copy``, not a duplicate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from grid.errors import MessageRejected

__all__ = [
    "ALL_AWARENESS",
    "ALL_PICTURES",
    "ALL_REPORTS",
    "ALL_RESULTS",
    "ALL_STATUS",
    "CONTROL",
    "FUSION_STATS",
    "ROOT",
    "TRACKS",
    "ParsedTopic",
    "TopicKind",
    "awareness_topic",
    "grid_reports",
    "parse_topic",
    "picture_topic",
    "report_topic",
    "results_topic",
    "status_topic",
]

ROOT = "grid/v1"
TRACKS = f"{ROOT}/tracks"
CONTROL = f"{ROOT}/control/run"
FUSION_STATS = f"{ROOT}/stats/fusion"
ALL_REPORTS = f"{ROOT}/reports/#"
ALL_STATUS = f"{ROOT}/status/+"
ALL_AWARENESS = f"{ROOT}/awareness/+"
ALL_RESULTS = f"{ROOT}/results/+"
ALL_PICTURES = f"{ROOT}/picture/+"

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}\Z")


class TopicKind(StrEnum):
    """What a topic carries."""

    REPORT = "report"
    TRACK = "track"
    STATUS = "status"
    AWARENESS = "awareness"
    CONTROL = "control"
    FUSION_STATS = "fusion_stats"
    RESULTS = "results"
    PICTURE = "picture"


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """A topic taken apart: its kind and, where it has them, grid and node."""

    kind: TopicKind
    grid: str | None = None
    node: str | None = None


def _segment(value: str, what: str) -> str:
    if not _SEGMENT.match(value):
        raise ValueError(f"invalid {what} {value!r} for a topic segment (letters, digits, _ . -; max 48)")
    return value


def report_topic(grid: str, node: str) -> str:
    """Where ``node`` publishes its reports for ``grid``."""
    return f"{ROOT}/reports/{_segment(grid, 'grid')}/{_segment(node, 'node id')}"


def grid_reports(grid: str) -> str:
    """Subscription filter for every report shared in ``grid``."""
    return f"{ROOT}/reports/{_segment(grid, 'grid')}/+"


def status_topic(node: str) -> str:
    """The retained status topic of ``node``."""
    return f"{ROOT}/status/{_segment(node, 'node id')}"


def results_topic(run_id: str) -> str:
    """Where the summary of run ``run_id`` is retained."""
    return f"{ROOT}/results/{_segment(run_id, 'run id')}"


def awareness_topic(node: str) -> str:
    """Where ``node`` announces its first knowledge of each threat."""
    return f"{ROOT}/awareness/{_segment(node, 'node id')}"


def picture_topic(node: str) -> str:
    """Where ``node`` publishes its own fused picture of a run."""
    return f"{ROOT}/picture/{_segment(node, 'node id')}"


_FIXED = {TRACKS: TopicKind.TRACK, CONTROL: TopicKind.CONTROL, FUSION_STATS: TopicKind.FUSION_STATS}


def parse_topic(topic: str) -> ParsedTopic:
    """Take a received topic apart; raises :class:`MessageRejected` (``bad_topic``) if it is not ours."""
    fixed = _FIXED.get(topic)
    if fixed is not None:
        return ParsedTopic(fixed)
    parts = topic.split("/")
    if parts[:2] == ["grid", "v1"] and all(_SEGMENT.match(p) for p in parts[3:]):
        match parts[2:]:
            case ["reports", grid, node]:
                return ParsedTopic(TopicKind.REPORT, grid=grid, node=node)
            case ["status", node]:
                return ParsedTopic(TopicKind.STATUS, node=node)
            case ["awareness", node]:
                return ParsedTopic(TopicKind.AWARENESS, node=node)
            case ["picture", node]:
                return ParsedTopic(TopicKind.PICTURE, node=node)
            case ["results", _run]:
                return ParsedTopic(TopicKind.RESULTS)
    raise MessageRejected("bad_topic", f"not a gridsim topic: {topic!r}")
