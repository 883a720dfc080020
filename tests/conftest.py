"""Shared fixtures: the roster, and real brokers started on free loopback ports."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from grid.mqtt.broker import BrokerInfo, start_broker
from grid.mqtt.process import mosquitto_path
from grid.world.roster import Roster, load_roster


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
async def _member_processes(
    broker_url: str, roster: Roster, log_dir: Path
) -> AsyncIterator[list[int | None]]:
    """`gridsim fusion` and one `gridsim node` per member state as child processes on ``broker_url``.

    Yields the list that, after exit, holds each process's exit code (Ctrl-C'd on exit, as a user would).
    """
    argv = [sys.executable, "-m", "grid.app.cli"]
    commands = [[*argv, "fusion", "--broker", broker_url]]
    commands += [[*argv, "node", "--id", node_id, "--broker", broker_url] for node_id in roster]
    procs = []
    codes: list[int | None] = []
    try:
        for i, cmd in enumerate(commands):
            with (log_dir / f"process-{i}.log").open("wb") as out:
                procs.append(await asyncio.create_subprocess_exec(*cmd, stdout=out, stderr=out))
        yield codes
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGINT)
        codes += [await proc.wait() for proc in procs]


@pytest.fixture
def member_processes(
    roster: Roster,
) -> Callable[[str, Path], AbstractAsyncContextManager[list[int | None]]]:
    """Fusion and node processes on a broker: ``async with member_processes(url, log_dir) as codes``."""
    return lambda url, log_dir: _member_processes(url, roster, log_dir)
