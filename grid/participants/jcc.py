"""The Joint Cyber Centre: analyses each new shared indicator the hub sends it, then flags it.

The analysis takes ``analysis_s`` simulation seconds (default :data:`DEFAULT_ANALYSIS_S`),
counted from the indicator's arrival; the flag goes back to the hub on ``grid/v1/cyber/flags``,
and the hub turns it into the mitigation its members receive. Indicators still under analysis
when the run ends are not flagged (their ``time_to_flag_s`` stays None).

With a ``journal_dir`` the centre survives a crash of its process (:mod:`grid.participants.recovery`):
restarted in the run, it replays its journal (the indicators it had, each due when its analysis
was), flags those whose flag was not out yet (at once, when it came due while the process was
down: counted ``late_flags``), then takes what its session queued meanwhile. Its counters
``replayed``, ``redelivered``, ``queued`` and ``late_flags`` say what the restart did.
"""

from __future__ import annotations

import asyncio
import logging
import math
from pathlib import Path

from grid.errors import ConfigError
from grid.mqtt.session import SessionFactory
from grid.participants.recovery import REPLAY_FAULTS, Recovery
from grid.participants.seen import SeenReports
from grid.participants.service import HUB_ID, JCC_ID, ActiveRun, ClockFactory, GridService, scaled_clock
from grid.wire import topics
from grid.wire.counters import CounterName, errors_counter, rejected_counter
from grid.wire.messages import CyberFlag, CyberObjects, Envelope
from grid.world.roster import Roster

__all__ = ["DEFAULT_ANALYSIS_S", "JointCyberCentre", "check_analysis"]

log = logging.getLogger(__name__)

DEFAULT_ANALYSIS_S = 5.0


def check_analysis(analysis_s: float, *, what: str = "analysis delay") -> float:
    """``analysis_s`` if it is a finite number of seconds >= 0; else a ConfigError naming ``what``."""
    if not math.isfinite(analysis_s) or analysis_s < 0:
        raise ConfigError(f"{what} must be a finite number of seconds >= 0, got {analysis_s}")
    return analysis_s


class JointCyberCentre(GridService):
    """Flags every new shared indicator ``analysis_s`` simulation seconds after it arrives."""

    def __init__(
        self,
        *,
        roster: Roster,
        host: str = "127.0.0.1",
        port: int = 1883,
        session_factory: SessionFactory | None = None,
        clock_factory: ClockFactory = scaled_clock,
        analysis_s: float = DEFAULT_ANALYSIS_S,
        journal_dir: Path | None = None,
    ) -> None:
        """The centre, on the broker at ``host:port`` or on sessions from ``session_factory``.

        ``journal_dir``: journal each run there and replay it on a restart (its session should then
        ``resume`` with ``manual_ack``: :func:`grid.mqtt.session.broker_sessions`).
        """
        self.analysis_s = check_analysis(analysis_s)
        super().__init__(
            service_id=JCC_ID,
            host=host,
            port=port,
            roster=roster,
            subscriptions=[topics.CYBER_JCC],
            session_factory=session_factory,
            clock_factory=clock_factory,
        )
        self._queue: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
        self._keys: set[str] = set()
        self._seen = SeenReports()
        self.recovery = Recovery(journal_dir)
        self._pending: list[tuple[float, str]] | None = None  # a replay's analyses, before they are queued

    def on_run_start(self, run: ActiveRun) -> None:
        """Nothing under analysis yet; or, restarted in the run, what its journal says."""
        self._queue = asyncio.Queue()
        self._keys = set()
        self._seen = SeenReports()
        self.counters[CounterName.INDICATORS_RECEIVED] = 0
        self.counters[CounterName.FLAGS] = 0
        records, early = self.recovery.start(run.run_id)
        self._pending = []
        for env, parsed, now_s in self.recovery.to_replay(records, self._bad_journal_record):
            try:
                self._handle(run, env, parsed, now_s)
            except REPLAY_FAULTS as exc:  # counted as when it was first handled (GridService._dispatch)
                self.counters[errors_counter(exc)] += 1
        pending, self._pending = self._pending, None
        now = run.clock.now()
        for due_s, key in pending:
            if self.recovery.already_sent(topics.CYBER_FLAGS, key):
                self.counters[CounterName.FLAGS] += 1
                continue
            if due_s < now:  # its analysis came due while the process was down
                self.counters[CounterName.LATE_FLAGS] += 1
                self.recovery.late_keys.add(key)  # the flag says so: the hub's account names it
            self._queue.put_nowait((due_s, key))
        self.recovery.replay_done()
        if self.recovery.resumed_ns is not None:
            self.counters[CounterName.REPLAYED] = self.recovery.counts["replayed"]
            log.warning("jcc: resumed run %s from its journal: %s", run.run_id, self.recovery.figures())
        for env, parsed in early:
            self._take(run, env, parsed)

    def _bad_journal_record(self) -> None:
        self.counters[rejected_counter("journal")] += 1

    async def play(self, run: ActiveRun) -> None:
        """Flag each indicator when its analysis is done (arrivals are in time order: FIFO suffices)."""
        while True:
            due_s, key = await self._queue.get()
            await run.clock.sleep_until(due_s)
            late = key in self.recovery.late_keys
            flag = CyberFlag(run_id=run.run_id, key=key, time_s=run.clock.now(), late=late)
            payload = Envelope(body=flag, origin=self.service_id).to_bytes()
            self.post_raw(topics.CYBER_FLAGS, payload, self.recovery.on_sent(topics.CYBER_FLAGS, key))
            self.counters[CounterName.FLAGS] += 1

    async def on_run_end(self) -> None:
        """The run is accounted for (in the status this centre sends next): its journal goes."""
        self.recovery.end()

    async def on_message(self, env: Envelope, parsed: topics.ParsedTopic) -> None:
        """A new shared indicator from the hub: queue it for analysis (a repeat of a key is ignored)."""
        if self.run is not None:
            self._take(self.run, env, parsed)
        elif not self.recovery.hold(env, parsed):  # a restart's queue comes before the run's start
            self.counters[CounterName.OTHER_RUN] += 1

    def _take(self, run: ActiveRun, env: Envelope, parsed: topics.ParsedTopic) -> None:
        """A message of the run, journaled first (a redelivery of a journaled one is dropped)."""
        if getattr(env.body, "run_id", None) != run.run_id:
            self.counters[CounterName.OTHER_RUN] += 1
            return
        now = run.clock.now()
        if self.recovery.received(env, parsed, now):
            self._handle(run, env, parsed, now)
        else:
            self.counters[CounterName.REDELIVERED] += 1
        if self.recovery.resumed_ns is not None:
            self.counters[CounterName.QUEUED] = self.recovery.counts["queued"]

    def _handle(self, run: ActiveRun, env: Envelope, parsed: topics.ParsedTopic, now: float) -> None:
        """An indicator received at ``now`` on the run's clock (a replay's: its journaled one)."""
        body = env.body
        if self._seen.repeat(env.msg_id):
            self.counters[CounterName.DUPLICATES] += 1
            return
        if not isinstance(body, CyberObjects) or body.key is None or env.origin != HUB_ID:
            self.counters[rejected_counter("unexpected_type")] += 1
            return
        if body.key in self._keys:
            return
        self._keys.add(body.key)
        self.counters[CounterName.INDICATORS_RECEIVED] += 1
        analysis = (now + self.analysis_s, body.key)
        if self._pending is not None:
            self._pending.append(analysis)
        else:
            self._queue.put_nowait(analysis)
