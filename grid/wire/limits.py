"""Payload size limits by topic: a receiver refuses an oversized payload before decoding any of it.

An account (the fusion centre's and the hub's, a run's results) may be megabytes; everything else a
participant receives is bounded by its schema far below :data:`EDGE_MAX_BYTES`: the largest is a
sensor scan of ``SCAN_REPORTS_MAX`` reports with every string at its 64-character limit (about
0.49 MB), then a node status listing ``OUTAGE_RECORD_MAX`` outage reports (0.39 MB).
"""

from __future__ import annotations

from grid.errors import MessageRejected
from grid.wire.messages import MAX_MESSAGE_BYTES
from grid.wire.topics import TopicKind

__all__ = ["EDGE_MAX_BYTES", "check_size", "payload_limit"]

EDGE_MAX_BYTES = 1024 * 1024  # twice the largest legitimate non-account message
_ACCOUNTS = frozenset({TopicKind.FUSION_STATS, TopicKind.CYBER_STATS, TopicKind.RESULTS})


def payload_limit(kind: TopicKind) -> int:
    """The largest payload, in bytes, accepted on a topic of ``kind``."""
    return MAX_MESSAGE_BYTES if kind in _ACCOUNTS else EDGE_MAX_BYTES


def check_size(kind: TopicKind, payload: bytes) -> None:
    """``oversized`` if ``payload`` is larger than :func:`payload_limit` allows, before it is decoded."""
    limit = payload_limit(kind)
    if len(payload) > limit:
        raise MessageRejected("oversized", f"{len(payload)} bytes on a {kind} topic; at most {limit}")
