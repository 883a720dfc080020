"""Shared fixtures: the roster, and real brokers started on free loopback ports."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from grid.broker import BrokerInfo, mosquitto_path, start_broker
from grid.roster import Roster, load_roster


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
