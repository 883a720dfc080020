"""Worker processes of ``gridsim bench scale --workers N``: each runs a :class:`Fleet` of grid nodes.

The parent talks to each worker over a pipe: the worker connects its fleet and says ``ready``,
then runs each phase it is sent and returns its :class:`PhaseStamps`, until ``stop``. Workers
are spawned (no forked event loop or sockets), ignore Ctrl-C (the parent stops them in order)
and, on Linux, get SIGTERM when the parent dies, so none outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any, Self

from grid.app.bench.scale_fleet import Fleet, FleetSpec, PhaseSpec, PhaseStamps
from grid.errors import RunError

__all__ = ["WorkerPool"]

_READY_TIMEOUT_S = 120.0
_STOP_GRACE_S = 5.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def worker_main(spec: FleetSpec, conn: Connection, parent: int) -> None:
    """A worker's body (the spawn target)."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        asyncio.run(_serve(spec, conn))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


async def _serve(spec: FleetSpec, conn: Connection) -> None:
    async with Fleet(spec) as fleet:
        conn.send(("ready", None))
        while True:
            command, phase = await asyncio.to_thread(conn.recv)
            if command == "stop":
                return
            conn.send(("stamps", await fleet.run_phase(phase)))


class WorkerPool:
    """``N`` worker processes, one fleet each; ``async with`` starts them and always stops them."""

    def __init__(self, specs: list[FleetSpec]) -> None:
        self._specs = specs
        self._procs: list[BaseProcess] = []
        self._conns: list[Connection] = []

    async def __aenter__(self) -> Self:
        ctx = multiprocessing.get_context("spawn")
        try:
            for i, spec in enumerate(self._specs):
                mine, theirs = ctx.Pipe()
                proc = ctx.Process(
                    target=worker_main,
                    args=(spec, theirs, os.getpid()),
                    name=f"bench-scale-worker-{i}",
                    daemon=True,
                )
                proc.start()
                theirs.close()
                self._procs.append(proc)
                self._conns.append(mine)
            await asyncio.gather(
                *(self._expect(i, "ready", _READY_TIMEOUT_S) for i in range(len(self._conns)))
            )
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop()

    async def _expect(self, i: int, what: str, timeout_s: float) -> Any:
        conn, proc = self._conns[i], self._procs[i]

        def wait() -> tuple[str, Any]:
            if not conn.poll(timeout_s):
                return "error", f"no {what} within {timeout_s:g} s"
            try:
                answer: tuple[str, Any] = conn.recv()
            except EOFError:
                return "error", f"exited with code {proc.exitcode}"
            return answer

        kind, value = await asyncio.to_thread(wait)
        if kind != what:
            raise RunError(f"bench worker {i}: {value}")
        return value

    async def run_phase(self, phase: PhaseSpec, timeout_s: float) -> list[PhaseStamps]:
        """Every worker runs ``phase``; their stamps, in worker order."""
        for conn in self._conns:
            conn.send(("phase", phase))
        stamps: list[PhaseStamps] = await asyncio.gather(
            *(self._expect(i, "stamps", timeout_s) for i in range(len(self._conns)))
        )
        return stamps

    async def _stop(self) -> None:
        """Ask each worker to stop, then SIGTERM and SIGKILL whoever is still there."""
        for conn in self._conns:
            with contextlib.suppress(OSError, ValueError):
                conn.send(("stop", None))
        await asyncio.shield(asyncio.to_thread(self._reap))

    def _reap(self) -> None:
        for proc in self._procs:
            proc.join(_STOP_GRACE_S)
            if proc.is_alive():
                proc.terminate()
                proc.join(_STOP_GRACE_S)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self._conns:
            conn.close()
        self._procs.clear()
        self._conns.clear()
