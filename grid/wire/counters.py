"""The names of the counters a participant reports in its status (``NodeStatus.counters``).

Participants write them and the summary reads them back, so both sides use these members: a
misspelt name is then an attribute error (and a mypy error), not a counter that reads as 0.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ERRORS_PREFIX", "REJECTED_PREFIX", "CounterName", "errors_counter", "rejected_counter"]

REJECTED_PREFIX = "rejected."  # + a MessageRejected reason: a message refused as invalid
ERRORS_PREFIX = "errors."  # + an exception type name: a message that tripped a fault


class CounterName(StrEnum):
    """One counter of a node's or the fusion centre's account of a run."""

    # A node's own reports.
    PUBLISHED = "published"  # reports put on the wire (once each: the broker fans them out)
    REPORTS_LOST_LINK = "reports_lost_link"
    REPORTS_DELAYED_LINK = "reports_delayed_link"
    REPORTS_SUPPRESSED_OUTAGE = "reports_suppressed_outage"
    SCANS_LOST_SENSOR_FAILURE = "scans_lost_sensor_failure"
    SCANS_JAMMED = "scans_jammed"
    OUTAGES = "outages"
    # What a participant receives.
    RECEIVED_REPORTS = "received_reports"
    RECEIVED_TRACKS = "received_tracks"
    RECEIVED_WHILE_OUT = "received_while_out"
    RECEIVED_LOST_LINK = "received_lost_link"
    DELIVERED = "delivered"  # the fusion centre: reports fused
    DUPLICATES = "duplicates"  # the same message again (a QoS 1 redelivery)
    OTHER_RUN = "other_run"
    # A member's CERT and the cyber exchange.
    CYBER_REPORTS = "cyber_reports"  # indicators the CERT published
    CYBER_REPORTS_SUPPRESSED_OUTAGE = "cyber_reports_suppressed_outage"
    MITIGATIONS_RECEIVED = "mitigations_received"
    MITIGATIONS_ACKED = "mitigations_acked"
    INDICATORS_RECEIVED = "indicators_received"  # the Joint Cyber Centre: new shared indicators
    FLAGS = "flags"  # the Joint Cyber Centre: indicators flagged
    LATE_FLAGS = "late_flags"  # the JCC: flags due while its process was down (sent on its restart)
    # A restart of a participant's process in the run (grid.participants.recovery).
    REPLAYED = "replayed"  # messages handled again from the journal
    REDELIVERED = "redelivered"  # a journaled message sent again by the broker: dropped by its id
    QUEUED = "queued"  # messages sent while the process was down, handled after its restart
    # The connection.
    RECONNECTS = "reconnects"
    FAILOVERS = "failovers"  # reconnects to another member of a broker cluster


def rejected_counter(reason: str) -> str:
    """The counter of messages rejected for ``reason`` (a :class:`~grid.errors.MessageRejected` reason)."""
    return f"{REJECTED_PREFIX}{reason}"


def errors_counter(exc: BaseException) -> str:
    """The counter of messages whose handling raised an exception of ``exc``'s type."""
    return f"{ERRORS_PREFIX}{type(exc).__name__}"
