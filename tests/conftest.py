"""Shared fixtures: the roster, real brokers on free loopback ports, gridsim child processes;
and the Hypothesis profiles ("ci", the default, and "fuzz": ``HYPOTHESIS_PROFILE=fuzz``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from grid.mqtt.broker import BrokerInfo, start_broker
from grid.mqtt.process import mosquitto_path
from grid.world.roster import Roster, load_roster

# CI: the same examples every run (derandomize), and no per-example deadline, which a loaded
# machine misses without anything being wrong. Fuzzing: many more, random, examples.
settings.register_profile(
    "ci", deadline=None, derandomize=True, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("fuzz", deadline=None, max_examples=20_000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# `python -m grid`, as a user runs it. gridsim installs its own SIGINT and SIGTERM handlers, so a
# child that inherited SIGINT ignored (a job started with `&` from a script) still stops on Ctrl-C.
_GRIDSIM = [sys.executable, "-m", "grid"]
STOP_GRACE_S = 20.0  # after Ctrl-C, how long a child may take to shut down before it is killed


class GridsimProcesses:
    """Starts ``gridsim`` commands as child processes, and stops and reaps every one of them.

    Stopping is Ctrl-C (SIGINT), as a user would; a child still running ``STOP_GRACE_S`` later is
    killed; every child is waited for, so none outlives its test, whether the test passed or not.
    """

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[Any]] = []

    def start(self, *args: str, **popen: Any) -> subprocess.Popen[Any]:
        """``gridsim ARGS...`` as a child process (``popen``: keyword arguments for Popen)."""
        proc: subprocess.Popen[Any] = subprocess.Popen([*_GRIDSIM, *args], **popen)
        self.started.append(proc)
        return proc

    def stop(self, *procs: subprocess.Popen[Any]) -> list[int]:
        """Ctrl-C ``procs`` (default: all started), kill those still running after the grace; exit codes."""
        chosen = list(procs) or self.started
        for proc in chosen:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and any(p.poll() is None for p in chosen):
            time.sleep(0.05)
        for proc in chosen:
            if proc.poll() is None:
                proc.kill()
        codes = [proc.wait() for proc in chosen]
        for proc in chosen:
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        return codes

    async def stop_async(self, *procs: subprocess.Popen[Any]) -> list[int]:
        """:meth:`stop` without blocking the event loop while the children shut down."""
        return await asyncio.to_thread(self.stop, *procs)


@pytest.fixture
def gridsim() -> Iterator[GridsimProcesses]:
    """Start ``gridsim`` child processes with ``gridsim.start(*args)``; all are stopped and reaped after."""
    processes = GridsimProcesses()
    try:
        yield processes
    finally:
        processes.stop()


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts itself; those still running at the end get SIGTERM, then kill."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.communicate()


@pytest.fixture(scope="session")
def roster() -> Roster:
    """The bundled member-state roster."""
    return load_roster()


@pytest.fixture
async def mosquitto() -> AsyncIterator[BrokerInfo]:
    """A Mosquitto broker of our own on a free port (installed by scripts/test)."""
    assert mosquitto_path() is not None, "mosquitto is not installed: run scripts/test, which installs it"
    async with start_broker("mosquitto") as info:
        yield info


@pytest.fixture
async def amqtt_broker() -> AsyncIterator[BrokerInfo]:
    """The embedded amqtt broker in a child process on a free port."""
    async with start_broker("amqtt") as info:
        yield info


@contextlib.asynccontextmanager
async def member_processes_of(
    gridsim: GridsimProcesses, broker_url: str, roster: Roster, log_dir: Path
) -> AsyncIterator[list[int | None]]:
    """`gridsim fusion`, `gridsim hub` and one `gridsim node` per member state as child processes on
    ``broker_url``.

    Yields the list that, after exit, holds each process's exit code (Ctrl-C'd on exit, as a user would).
    """
    commands = [["fusion", "--broker", broker_url], ["hub", "--broker", broker_url]]
    commands += [["node", "--id", node_id, "--broker", broker_url] for node_id in roster]
    procs = []
    codes: list[int | None] = []
    try:
        for i, cmd in enumerate(commands):
            with (log_dir / f"process-{i}.log").open("wb") as out:
                procs.append(gridsim.start(*cmd, stdout=out, stderr=out))
        yield codes
    finally:
        codes += await gridsim.stop_async(*procs)


@pytest.fixture
def member_processes(
    roster: Roster, gridsim: GridsimProcesses
) -> Callable[[str, Path], AbstractAsyncContextManager[list[int | None]]]:
    """Fusion and node processes on a broker: ``async with member_processes(url, log_dir) as codes``."""
    return lambda url, log_dir: member_processes_of(gridsim, url, roster, log_dir)
