"""Reports a participant has seen in a run, by message id: new, or a duplicate.

A node publishes each report once, on its own topic, and the broker fans it out: a receiver gets
one copy. The same id again is a *duplicate* (a QoS 1 redelivery, e.g. after a reconnect): it is
counted, not used.
"""

from __future__ import annotations

__all__ = ["SeenReports"]


class SeenReports:
    """The message ids seen in one run."""

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def repeat(self, msg_id: str) -> bool:
        """Whether ``msg_id`` was seen before; a first sighting is remembered (and gives False)."""
        if msg_id in self._ids:
            return True
        self._ids.add(msg_id)
        return False

    def __contains__(self, msg_id: object) -> bool:
        return msg_id in self._ids
