"""What the cyber hub and the Joint Cyber Centre keep of a run to survive a crash of their process.

Both receive on a persistent session that acknowledges a message only once it was handled
(``resume`` and ``manual_ack``: :func:`grid.mqtt.session.broker_sessions`). Each message of the
run is journaled (:class:`~grid.participants.journal.Journal`: its envelope, the run's clock when
it was handled, its topic) before it is handled, and each message they publish is marked in the
journal once the broker has accepted it. A restarted participant replays the journal first, at
the journaled clock readings, so its state is what it was (the same STIX objects, times and
counts); what the replay would publish goes out again unless it is marked sent (the outputs of a
message handled just before the kill, not yet out). Then come the messages its session queued
meanwhile (held if they came before the run's retained start), and a message both journaled and
sent again is dropped by its id and counted as ``redelivered``.

What a restart still changes is counted here, with its cause (:meth:`Recovery.figures`): a
message sent while the participant was down is handled only after the restart (``queued``, the
keys it concerned under ``late_keys``), and an analysis the JCC had due meanwhile is flagged on
its restart (its flag says ``late``; the hub adds its key), so the times that follow (a flag, a
mitigation, a warning) are later by the outage. The counts are the same as without it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from grid.errors import GridError, MessageRejected
from grid.participants.journal import Journal, JournalRecord
from grid.wire import topics
from grid.wire.messages import Envelope

__all__ = ["REPLAY_FAULTS", "Recovery", "parsed_of", "topic_of"]

# What a message's handling may raise and the service counts and survives (as GridService._dispatch
# does): a replay of that message raises it again, and must not stop the restart.
REPLAY_FAULTS = (GridError, ValueError, ArithmeticError, LookupError)


def topic_of(parsed: topics.ParsedTopic) -> str:
    """A received message's topic as a journal record keeps it: its kind, and its node if any."""
    return parsed.kind.value if parsed.node is None else f"{parsed.kind.value}/{parsed.node}"


def parsed_of(recorded: str) -> topics.ParsedTopic:
    """Inverse of :func:`topic_of`; raises ValueError on a kind that is not one."""
    kind, _, node = recorded.partition("/")
    return topics.ParsedTopic(topics.TopicKind(kind), node or None)


class Recovery:
    """One participant's journal of the current run, and what its restart replayed and changed.

    Args:
        folder: where the journals go (one file per run); None: nothing is journaled.
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._journal: Journal | None = None
        self._early: list[tuple[Envelope, topics.ParsedTopic]] = []
        self._replayed_ids: set[str] = set()
        self._sent: Counter[tuple[str, str]] = Counter()
        self.resumed_ns: int | None = None  # wall time of the restart, when the run was resumed
        self.counts: Counter[str] = Counter()
        self.late_keys: set[str] = set()
        self.late = False  # whether the message being handled is one that came late (see received)

    def journaled(self, run_id: str | None) -> bool:
        """Whether the run ``run_id`` was journaled here: this process is restarting into it."""
        return self.folder is not None and run_id is not None and Journal(self.folder, run_id).path.exists()

    def hold(self, env: Envelope, parsed: topics.ParsedTopic) -> bool:
        """Keep a message that came before the run's start, when it is of a journaled run (a
        restart's queue comes before the retained start); False if it is not one."""
        if not self.journaled(getattr(env.body, "run_id", None)):
            return False
        self._early.append((env, parsed))
        return True

    def start(self, run_id: str) -> tuple[list[JournalRecord], list[tuple[Envelope, topics.ParsedTopic]]]:
        """Begin journaling the run: what it journaled already (a restart's; its sent marks are kept
        for :meth:`already_sent`), and the messages held before its start."""
        self._journal, self._replayed_ids, self._sent = None, set(), Counter()
        self.counts, self.late_keys, self.resumed_ns, self.late = Counter(), set(), None, False
        early, self._early = self._early, []  # another run's among them is the caller's to count
        if self.folder is None:
            return [], early
        journal = Journal(self.folder, run_id)
        if journal.path.exists():  # this process is a restart in the run (its journal may be empty)
            self.resumed_ns = time.time_ns()
        records = list(journal.replay())
        if records:
            for record in records:
                if record.sent:
                    self._sent[(record.topic, record.payload.decode("utf-8", "replace"))] += 1
                else:
                    self.counts["replayed"] += 1
        journal.open()
        self._journal = journal
        return records, early

    def replayed(self, env: Envelope) -> None:
        """``env`` was handled again from the journal: the same id once more is a redelivery."""
        self._replayed_ids.add(env.msg_id)

    def to_replay(
        self, records: Iterable[JournalRecord], on_bad: Callable[[], None]
    ) -> Iterator[tuple[Envelope, topics.ParsedTopic, float]]:
        """The journal's received messages to handle again, each with its clock reading; a record
        that no longer decodes is skipped and ``on_bad`` called (a record a kill cut short)."""
        for record in records:
            if record.sent:
                continue
            try:
                env, parsed = Envelope.from_bytes(record.payload), parsed_of(record.topic)
            except (MessageRejected, ValueError):
                on_bad()
                continue
            self.replayed(env)
            yield env, parsed, record.now_s

    def replay_done(self) -> None:
        """Sent marks the replay did not use stand for nothing now (a later output is a new one)."""
        self._sent.clear()

    def received(self, env: Envelope, parsed: topics.ParsedTopic, now_s: float) -> bool:
        """Journal a message of the run before it is handled; False for a redelivery (journaled
        already, sent again because the kill came before its acknowledgement): drop it."""
        self.late = False
        if env.msg_id in self._replayed_ids:
            self._replayed_ids.discard(env.msg_id)
            self.counts["redelivered"] += 1
            return False
        # Sent while this process was down (or in flight at the kill): handled late.
        self.late = self.resumed_ns is not None and env.sent_ns < self.resumed_ns
        if self.late:
            self.counts["queued"] += 1
            key = getattr(env.body, "key", None)
            if isinstance(key, str):
                self.late_keys.add(key)
        if self._journal is not None:
            self._journal.append(JournalRecord(time.time_ns(), now_s, env.to_bytes(), topic_of(parsed)))
        return True

    def already_sent(self, topic: str, key: str) -> bool:
        """Whether the replay's output on ``topic`` for ``key`` was out before the kill (its mark used up)."""
        if self._sent[(topic, key)] > 0:
            self._sent[(topic, key)] -= 1
            return True
        return False

    def on_sent(self, topic: str, key: str) -> Callable[[], None] | None:
        """The callback that marks the output on ``topic`` for ``key`` sent, once the broker has it."""
        journal = self._journal
        if journal is None:
            return None
        record = JournalRecord(0, 0.0, key.encode(), topic, sent=True)

        def mark() -> None:
            if not journal.closed:
                journal.append(record)

        return mark

    def figures(self) -> dict[str, Any]:
        """What a restart replayed and changed (empty without one): see the module's docstring."""
        if self.resumed_ns is None and not self.late_keys and not self.counts:
            return {}
        return {
            "replayed": self.counts["replayed"],
            "resent": self.counts["resent"],
            "redelivered": self.counts["redelivered"],
            "queued": self.counts["queued"],
            "late_keys": sorted(self.late_keys),
            # The hub's: a flag of the JCC's again after its restart, absorbed; with a TAXII target,
            # the replay's objects not pushed again.
            **{k: self.counts[k] for k in ("repeated_flags", "taxii_not_repushed") if self.counts[k]},
        }

    def end(self) -> None:
        """The run is accounted for: nothing left to resume, the journal goes."""
        if self._journal is not None:
            self._journal.close()
            self._journal.path.unlink(missing_ok=True)
            self._journal = None
