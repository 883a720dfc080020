"""Process faults injected into a run: ``gridsim run --kill-fusion-at S [--fusion-down D]``.

The fusion centre's worker (the process with the centre, the hub and the Joint Cyber Centre) is
killed with SIGKILL at simulation time S, a crash: no goodbye, the broker publishes its last will
and queues its QoS 1 reports on its persistent session. D simulation seconds later it is started
again; the centre resumes that session (no wipe) and fuses its journal again, then the queue, so
its account covers the whole run (:mod:`grid.participants.centre`). The hub and the JCC do the
same with theirs (:mod:`grid.participants.recovery`): the cyber account covers the whole run too,
and says under ``cyber.recovery`` what the restart replayed and which indicators it made late.
The run's end is announced only once the restarted services are back in the run (their statuses
say running again), however long the restart takes on a loaded machine.
Broker faults are scenario events (``broker_outage`` with ``signal: kill``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from grid.app.controller import RunController
from grid.app.workers import WorkerPool
from grid.participants.service import SERVICE_IDS
from grid.wire.messages import NodeState, RunControl

if TYPE_CHECKING:
    from grid.app.run import RunOptions

__all__ = ["Faults", "PlayedFault", "play_faults"]

log = logging.getLogger(__name__)

FUSION_WORKER = "fusion"
_REJOIN_POLL_S = 0.1
_REJOIN_TIMEOUT_S = 600.0  # wall s for a live restarted worker to import, connect and rejoin the run


@dataclass(kw_only=True)
class PlayedFault:
    """One fault injected: when (simulation s), into which process."""

    kind: str
    at_s: float
    killed_pid: int | None = None
    killed_at_s: float | None = None
    restarted_pid: int | None = None
    restarted_at_s: float | None = None

    def to_dict(self) -> dict[str, object]:
        """The entry under ``faults`` in ``summary.json``."""
        return {
            "kind": self.kind,
            "at_s": self.at_s,
            "signal": "SIGKILL",
            "down_interval_s": [self.killed_at_s, self.restarted_at_s],
            "pids": [self.killed_pid, self.restarted_pid],
        }


def _sim_now(start: RunControl) -> float:
    return (time.time_ns() - start.epoch_ns) / 1e9 * start.speed


async def _sleep_until(start: RunControl, sim_s: float) -> None:
    await asyncio.sleep(max(0.0, (sim_s - _sim_now(start)) / start.speed))


async def _kill_and_restart(
    options: RunOptions, start: RunControl, pool: WorkerPool, fault: PlayedFault
) -> None:
    down_s = options.fusion_down_s
    await _sleep_until(start, fault.at_s)
    fault.killed_pid = next(
        (c.proc.pid for c in pool.children if c.spec.name == FUSION_WORKER and c.proc), None
    )
    await pool.kill(FUSION_WORKER)
    fault.killed_at_s = round(_sim_now(start), 3)
    log.warning("fault: fusion worker (pid %s) killed at %.1f s", fault.killed_pid, fault.killed_at_s)
    await _sleep_until(start, fault.at_s + down_s)
    await pool.restart(FUSION_WORKER, options.roster)
    fault.restarted_at_s = round(_sim_now(start), 3)
    fault.restarted_pid = next(
        (c.proc.pid for c in pool.children if c.spec.name == FUSION_WORKER and c.proc), None
    )
    log.warning(
        "fault: fusion worker restarted (pid %s) at %.1f s", fault.restarted_pid, fault.restarted_at_s
    )


def _rejoined(controller: RunController) -> bool:
    """Whether the worker's services said they are running again after the last wills of its crash."""
    for service_id in SERVICE_IDS:
        changes = controller.status_changes(service_id)
        offline = [i for i, (_, state) in enumerate(changes) if state is NodeState.OFFLINE]
        if not offline or not any(state is NodeState.RUNNING for _, state in changes[offline[-1] :]):
            return False
    return True


async def _play_one(
    options: RunOptions, start: RunControl, pool: WorkerPool, controller: RunController, fault: PlayedFault
) -> None:
    await _kill_and_restart(options, start, pool, fault)
    proc = next((c.proc for c in pool.children if c.spec.name == FUSION_WORKER and c.proc), None)
    try:
        async with asyncio.timeout(_REJOIN_TIMEOUT_S):
            # The controller's status log has no event to wait on; a poll a tenth of a second is cheap.
            # A restarted worker still alive is waited for: on a loaded machine its imports alone can
            # take a minute, and ending the run without it would lose its account.
            while not _rejoined(controller):
                if proc is None or proc.returncode is not None:
                    log.warning("fault: the restarted fusion worker exited before rejoining the run")
                    return
                await asyncio.sleep(_REJOIN_POLL_S)
    except TimeoutError:
        log.warning("fault: the restarted services did not rejoin within %.0f s", _REJOIN_TIMEOUT_S)


@dataclass
class Faults:
    """The faults of one run: their records, and a wait for them to be over."""

    played: list[PlayedFault]
    task: asyncio.Task[None] | None = None

    async def settled(self) -> None:
        """Wait until every fault has played and the restarted processes are back in the run."""
        if self.task is not None:
            await asyncio.shield(self.task)


@asynccontextmanager
async def play_faults(
    options: RunOptions, start: RunControl, pools: Sequence[WorkerPool], controller: RunController
) -> AsyncIterator[Faults]:
    """Inject the run's process faults while inside; yields their records (filled in as they play)."""
    if options.kill_fusion_at_s is None or not pools:
        yield Faults([])
        return
    fault = PlayedFault(kind="fusion_kill", at_s=options.kill_fusion_at_s)
    async with asyncio.TaskGroup() as group:
        task = group.create_task(
            _play_one(options, start, pools[0], controller, fault), name="grid[faults].fusion-kill"
        )
        yield Faults([fault], task)
