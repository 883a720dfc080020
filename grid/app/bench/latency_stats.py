"""One-way latency from publish and receipt timestamps: percentiles, throughput and loss.

Pure functions of ``(key, ns)`` lists, so the numbers ``gridsim bench latency`` prints can be
checked against known timestamps. A key is whatever identifies one message (its id).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

__all__ = ["LatencyStats", "latency_stats", "one_way_ms", "percentile"]

_NS_PER_MS = 1e6


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """The measured window of one half of the bench (grid or baseline).

    Attributes:
        count: messages published in the window and received.
        sent: messages published in the window.
        lost: ``sent - count``: published in the window and never received.
        p50_ms, p95_ms, p99_ms, p999_ms, max_ms: one-way latency, receipt minus publish stamp;
            None when nothing was received.
        throughput_per_s: messages received per second of the window.
    """

    count: int
    sent: int
    lost: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None
    throughput_per_s: float

    def to_dict(self) -> dict[str, float | int | None]:
        """The fields written to bench-latency.json."""
        return asdict(self)


def percentile(sorted_values: list[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0 < q <= 100) of ascending, non-empty values.

    Nearest rank, not interpolation: every reported latency is one a message really had.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile {q} outside (0, 100]")
    rank = math.ceil(q / 100 * len(sorted_values))
    return sorted_values[max(rank, 1) - 1]


def one_way_ms(
    sent: Iterable[tuple[str, int]], received: Iterable[tuple[str, int]], *, since_ns: int | None = None
) -> tuple[list[float], int]:
    """The ascending one-way latencies (ms) of messages sent at or after ``since_ns``; how many were sent.

    Keys received but never sent (another run's traffic) and second copies are ignored.
    """
    sent_at = {key: ns for key, ns in sent if since_ns is None or ns >= since_ns}
    latencies: dict[str, float] = {}
    for key, ns in received:
        if key in sent_at and key not in latencies:
            latencies[key] = (ns - sent_at[key]) / _NS_PER_MS
    return sorted(latencies.values()), len(sent_at)


def latency_stats(
    sent: Iterable[tuple[str, int]],
    received: Iterable[tuple[str, int]],
    *,
    window_s: float,
    since_ns: int | None = None,
) -> LatencyStats:
    """Latency percentiles and loss of the messages published at or after ``since_ns``.

    Args:
        sent: ``(key, sent_ns)`` of every message published.
        received: ``(key, received_ns)`` of every message received; keys never sent (another
            run's traffic) and second copies are ignored.
        window_s: length of the measured window, for throughput.
        since_ns: the end of the warm-up; messages sent earlier are left out on both sides.
    """
    ordered, sent_count = one_way_ms(sent, received, since_ns=since_ns)
    count = len(ordered)

    def q(p: float) -> float | None:
        return percentile(ordered, p) if ordered else None

    return LatencyStats(
        count=count,
        sent=sent_count,
        lost=sent_count - count,
        p50_ms=q(50),
        p95_ms=q(95),
        p99_ms=q(99),
        p999_ms=q(99.9),
        max_ms=ordered[-1] if ordered else None,
        throughput_per_s=count / window_s if window_s > 0 else 0.0,
    )
