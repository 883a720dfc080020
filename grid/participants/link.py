"""A node's simulated network link: the ``link_impairment`` events of a scenario, applied in the
node's own send and receive path so they work on any broker.

Delay and jitter are in *simulation* milliseconds (an analyst's 300 ms is 300 ms of scenario
time at any ``--speed``). Loss is drawn per message from a hash of the message's identity, so the
same scenario and seed lose the same reports however tasks interleave. Bandwidth serialises the
link: a message occupies it for ``size * 8 / bandwidth`` seconds.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools

from grid.world.timeline import Timeline

__all__ = ["Link", "unit_draw"]


def unit_draw(*key: object) -> float:
    """A deterministic uniform number in [0, 1) from ``key``."""
    digest = hashlib.sha256(repr(key).encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64


class Link:
    """Decides, per message, whether it is lost and when (simulation time) it gets through."""

    def __init__(self, timeline: Timeline, node_id: str, seed: int) -> None:
        self.timeline = timeline
        self.node_id = node_id
        self.seed = seed
        self._free_at = 0.0  # when the link has finished sending what it was given
        self._queue: list[tuple[float, int, str, bytes]] = []
        self._seq = itertools.count()

    def through(self, t: float, size: int, *key: object) -> float | None:
        """Simulation time at which a ``size``-byte message offered at ``t`` arrives; None if lost."""
        imp = self.timeline.impairment_for(self.node_id, t)
        if imp.clean:
            return t
        if imp.loss > 0 and unit_draw(self.seed, self.node_id, "loss", *key) < imp.loss:
            return None
        start = t
        if imp.bandwidth_kbps is not None:
            start = max(t, self._free_at)
            self._free_at = start + size * 8 / (imp.bandwidth_kbps * 1000)
            start = self._free_at
        jitter = (2 * unit_draw(self.seed, self.node_id, "jitter", *key) - 1) * imp.jitter_ms
        return start + max(0.0, imp.latency_ms + jitter) / 1000

    def hold(self, due: float, topic: str, payload: bytes) -> None:
        """Keep a message for ``topic`` until simulation time ``due``."""
        heapq.heappush(self._queue, (due, next(self._seq), topic, payload))

    def next_due(self) -> float | None:
        """When the earliest held message is due."""
        return self._queue[0][0] if self._queue else None

    def release(self, now: float) -> list[tuple[str, bytes]]:
        """Every held (topic, message) due by ``now``, in due order."""
        out = []
        while self._queue and self._queue[0][0] <= now:
            _, _, topic, payload = heapq.heappop(self._queue)
            out.append((topic, payload))
        return out
