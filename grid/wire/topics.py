"""The versioned MQTT topic tree; the only place topic strings are built or parsed.

::

    grid/v1/reports/<node>          threat reports of <node>, each published once (QoS 1)
    grid/v1/tracks                  fused track updates from the fusion centre (QoS 1)
    grid/v1/status/<node>           retained node status; the MQTT last will sets it offline
    grid/v1/awareness/<node>        a node's first knowledge of each threat (QoS 1)
    grid/v1/picture/<node>          a node's own fused picture of a run, scored (distributed mode, QoS 1)
    grid/v1/control/run             retained run control: start (scenario, seed, speed, epoch) and end
    grid/v1/stats/fusion            the fusion centre's account of a run, sent when the run ends
    grid/v1/results/<run>           retained summary of a run injected into ``gridsim up``
    grid/v1/results/latest          retained copy of the most recent of those (a run id always has a ``-``)
    grid/v1/cyber/reports/<node>    a member CERT's indicator, STIX 2.1 JSON (QoS 1)
    grid/v1/cyber/jcc               the hub's new shared indicators, for the Joint Cyber Centre (QoS 1)
    grid/v1/cyber/flags             the Joint Cyber Centre's flag of a shared indicator, to the hub
    grid/v1/cyber/mitigations/<node>  the hub's mitigation (course of action + ``mitigates``) to <node>
    grid/v1/cyber/acks/<node>       <node>'s acknowledgement of a mitigation, to the hub
    grid/v1/stats/cyber             the hub's account of a run (metrics, rejections, TAXII, objects)
    grid/v1/health/<client>         ``gridsim health``'s probe to itself (QoS 1, not retained)

A report is published once, on its node's topic, and the broker fans it out: every node
subscribes to the report topic of each of its peers (the members sharing a grid with it,
:meth:`grid.world.roster.Roster.peers`), the fusion centre to ``grid/v1/reports/+``. Grids are
therefore a matter of subscriptions, not of topics, and a message id seen again is always a
duplicate (a QoS 1 redelivery).

The tree suits per-node access control and one broker per grid:

- ACLs: node X may publish only ``grid/v1/reports/X`` and read the report topics of its peers;
  a Mosquitto ``acl_file`` generated from the roster says exactly that (``user X`` /
  ``topic write grid/v1/reports/X`` / ``topic read grid/v1/reports/<peer>`` per peer).
- Bridging: a grid's broker bridges in ``grid/v1/reports/<member>`` for its members only, so a
  report crosses to every grid its node belongs to and to no other.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

from grid.errors import MessageRejected

__all__ = [
    "ALL_AWARENESS",
    "ALL_CYBER_ACKS",
    "ALL_CYBER_REPORTS",
    "ALL_PICTURES",
    "ALL_REPORTS",
    "ALL_RESULTS",
    "ALL_STATUS",
    "CONTROL",
    "CYBER_FLAGS",
    "CYBER_JCC",
    "CYBER_STATS",
    "FUSION_STATS",
    "LATEST_RESULTS",
    "ROOT",
    "TRACKS",
    "ParsedTopic",
    "TopicKind",
    "awareness_topic",
    "cyber_ack_topic",
    "cyber_report_topic",
    "health_probe_topic",
    "mitigation_topic",
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
ALL_REPORTS = f"{ROOT}/reports/+"
ALL_STATUS = f"{ROOT}/status/+"
ALL_AWARENESS = f"{ROOT}/awareness/+"
ALL_RESULTS = f"{ROOT}/results/+"
# An exact topic for "the most recent run": RabbitMQ serves retained messages to exact filters only.
LATEST_RESULTS = f"{ROOT}/results/latest"
ALL_PICTURES = f"{ROOT}/picture/+"
CYBER_JCC = f"{ROOT}/cyber/jcc"
CYBER_FLAGS = f"{ROOT}/cyber/flags"
CYBER_STATS = f"{ROOT}/stats/cyber"
ALL_CYBER_REPORTS = f"{ROOT}/cyber/reports/+"
ALL_CYBER_ACKS = f"{ROOT}/cyber/acks/+"

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
    CYBER_REPORT = "cyber_report"
    CYBER_JCC = "cyber_jcc"
    CYBER_FLAG = "cyber_flag"
    MITIGATION = "mitigation"
    CYBER_ACK = "cyber_ack"
    CYBER_STATS = "cyber_stats"


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """A topic taken apart: its kind and, where it has one, its node."""

    kind: TopicKind
    node: str | None = None


def _segment(value: str, what: str) -> str:
    if not _SEGMENT.match(value):
        raise ValueError(f"invalid {what} {value!r} for a topic segment (letters, digits, _ . -; max 48)")
    return value


def report_topic(node: str) -> str:
    """Where ``node`` publishes its reports, and the filter its peers subscribe to them with."""
    return f"{ROOT}/reports/{_segment(node, 'node id')}"


def status_topic(node: str) -> str:
    """The retained status topic of ``node``."""
    return f"{ROOT}/status/{_segment(node, 'node id')}"


def health_probe_topic(client: str) -> str:
    """The topic ``gridsim health`` publishes to itself: its echo follows every retained status asked for."""
    return f"{ROOT}/health/{_segment(client, 'client id')}"


def results_topic(run_id: str) -> str:
    """Where the summary of run ``run_id`` is retained."""
    return f"{ROOT}/results/{_segment(run_id, 'run id')}"


def awareness_topic(node: str) -> str:
    """Where ``node`` announces its first knowledge of each threat."""
    return f"{ROOT}/awareness/{_segment(node, 'node id')}"


def picture_topic(node: str) -> str:
    """Where ``node`` publishes its own fused picture of a run."""
    return f"{ROOT}/picture/{_segment(node, 'node id')}"


def cyber_report_topic(node: str) -> str:
    """Where ``node``'s CERT publishes its indicators, for the cyber-exchange hub."""
    return f"{ROOT}/cyber/reports/{_segment(node, 'node id')}"


def mitigation_topic(node: str) -> str:
    """Where the hub sends ``node`` the mitigations it may receive."""
    return f"{ROOT}/cyber/mitigations/{_segment(node, 'node id')}"


def cyber_ack_topic(node: str) -> str:
    """Where ``node`` acknowledges the mitigations it received."""
    return f"{ROOT}/cyber/acks/{_segment(node, 'node id')}"


_FIXED = {
    TRACKS: TopicKind.TRACK,
    CONTROL: TopicKind.CONTROL,
    FUSION_STATS: TopicKind.FUSION_STATS,
    CYBER_JCC: TopicKind.CYBER_JCC,
    CYBER_FLAGS: TopicKind.CYBER_FLAG,
    CYBER_STATS: TopicKind.CYBER_STATS,
}


# Topics ending in the node that publishes on them, and topics whose last segment is no origin
# (a run id, or the node a mitigation is sent to).
_NODE_KINDS = {
    ("reports",): TopicKind.REPORT,
    ("status",): TopicKind.STATUS,
    ("awareness",): TopicKind.AWARENESS,
    ("picture",): TopicKind.PICTURE,
    ("cyber", "reports"): TopicKind.CYBER_REPORT,
    ("cyber", "acks"): TopicKind.CYBER_ACK,
}
_UNNAMED_KINDS = {("results",): TopicKind.RESULTS, ("cyber", "mitigations"): TopicKind.MITIGATION}


# A grid receives on a few hundred topics at most; a refused topic raises, and is not cached.
@functools.lru_cache(maxsize=4096)
def parse_topic(topic: str) -> ParsedTopic:
    """Take a received topic apart; raises :class:`MessageRejected` (``bad_topic``) if it is not ours."""
    fixed = _FIXED.get(topic)
    if fixed is not None:
        return ParsedTopic(fixed)
    parts = topic.split("/")
    if len(parts) >= 4 and parts[:2] == ["grid", "v1"] and all(_SEGMENT.match(p) for p in parts[3:]):
        head = tuple(parts[2:-1])
        if head in _NODE_KINDS:
            return ParsedTopic(_NODE_KINDS[head], node=parts[-1])
        if head in _UNNAMED_KINDS:
            return ParsedTopic(_UNNAMED_KINDS[head])
    raise MessageRejected("bad_topic", f"not a gridsim topic: {topic!r}")
