"""The Joint Cyber Centre: analyses each new shared indicator the hub sends it, then flags it.

The analysis takes ``analysis_s`` simulation seconds (default :data:`DEFAULT_ANALYSIS_S`),
counted from the indicator's arrival; the flag goes back to the hub on ``grid/v1/cyber/flags``,
and the hub turns it into the mitigation its members receive. Indicators still under analysis
when the run ends are not flagged (their ``time_to_flag_s`` stays None).
"""

from __future__ import annotations

import asyncio
import logging
import math

from grid.errors import ConfigError
from grid.mqtt.session import SessionFactory
from grid.participants.service import HUB_ID, JCC_ID, ActiveRun, ClockFactory, GridService, scaled_clock
from grid.wire import topics
from grid.wire.counters import CounterName, rejected_counter
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
    ) -> None:
        """The centre, on the broker at ``host:port`` or on sessions from ``session_factory``."""
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

    def on_run_start(self, run: ActiveRun) -> None:
        """Nothing under analysis yet."""
        self._queue = asyncio.Queue()
        self._keys = set()
        self.counters[CounterName.INDICATORS_RECEIVED] = 0
        self.counters[CounterName.FLAGS] = 0

    async def play(self, run: ActiveRun) -> None:
        """Flag each indicator when its analysis is done (arrivals are in time order: FIFO suffices)."""
        while True:
            due_s, key = await self._queue.get()
            await run.clock.sleep_until(due_s)
            self.post(topics.CYBER_FLAGS, CyberFlag(run_id=run.run_id, key=key, time_s=run.clock.now()))
            self.counters[CounterName.FLAGS] += 1

    async def on_message(self, env: Envelope, parsed: topics.ParsedTopic) -> None:
        """A new shared indicator from the hub: queue it for analysis (a repeat of a key is ignored)."""
        run, body = self.run, env.body
        if run is None or getattr(body, "run_id", None) != run.run_id:
            self.counters[CounterName.OTHER_RUN] += 1
            return
        if not isinstance(body, CyberObjects) or body.key is None or env.origin != HUB_ID:
            self.counters[rejected_counter("unexpected_type")] += 1
            return
        if body.key in self._keys:
            return
        self._keys.add(body.key)
        self.counters[CounterName.INDICATORS_RECEIVED] += 1
        self._queue.put_nowait((run.clock.now() + self.analysis_s, body.key))
