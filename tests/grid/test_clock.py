"""Tests of the injected clocks in :mod:`grid.clock` (no timing assertions)."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from grid.clock import MAX_SPEED, MIN_SPEED, Clock, ScaledClock, VirtualClock

EPOCH_NS = 1_700_000_000_000_000_000


async def test_virtual_clock_wakes_sleepers_in_time_order() -> None:
    """Sleepers until 5 and 2 wake in time order, each seeing its own wake time."""
    clock = VirtualClock()
    log: list[float] = []

    async def sleeper(t: float) -> None:
        await clock.sleep_until(t)
        log.append(clock.now())

    tasks = [asyncio.create_task(sleeper(5.0)), asyncio.create_task(sleeper(2.0))]
    await asyncio.sleep(0)
    assert log == []
    await clock.advance_to(10.0)
    await asyncio.gather(*tasks)
    assert log == [2.0, 5.0]
    assert clock.now() == 10.0


async def test_virtual_clock_periodic_task() -> None:
    """A task sleeping every 3 s wakes at 3, 6 and 9 during one advance to 10."""
    clock = VirtualClock()
    log: list[float] = []

    async def ticker() -> None:
        t = 3.0
        while t <= 12.0:
            await clock.sleep_until(t)
            log.append(clock.now())
            t += 3.0

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await clock.advance_to(10.0)
    assert log == [3.0, 6.0, 9.0]
    assert not task.done()
    await clock.advance_to(12.0)
    await task
    assert log == [3.0, 6.0, 9.0, 12.0]


async def test_virtual_clock_leaves_later_sleepers_asleep() -> None:
    """A sleeper past the advance target stays asleep; one exactly at it wakes."""
    clock = VirtualClock()
    at = asyncio.create_task(clock.sleep_until(10.0))
    later = asyncio.create_task(clock.sleep_until(10.5))
    await asyncio.sleep(0)
    await clock.advance_to(10.0)
    assert at.done()
    assert not later.done()
    await clock.advance_to(11.0)
    await later


async def test_virtual_clock_sleep_until_past_returns_at_once() -> None:
    """sleep_until a time already reached returns without any advance, time unchanged."""
    clock = VirtualClock(start=5.0)
    await asyncio.wait_for(clock.sleep_until(3.0), timeout=5.0)
    await asyncio.wait_for(clock.sleep_until(5.0), timeout=5.0)
    assert clock.now() == 5.0


async def test_virtual_clock_never_goes_back() -> None:
    """Advancing to an earlier time leaves the clock where it is."""
    clock = VirtualClock(start=5.0)
    await clock.advance_to(3.0)
    assert clock.now() == 5.0
    await clock.advance_to(7.5)
    assert clock.now() == 7.5


def test_scaled_clock_wall_ns_at_arithmetic() -> None:
    """wall_ns_at(t) = epoch + t / speed seconds, exactly in ns."""
    clock = ScaledClock(epoch_ns=EPOCH_NS, speed=50.0)
    assert clock.wall_ns_at(0.0) == EPOCH_NS
    assert clock.wall_ns_at(100.0) == EPOCH_NS + 2_000_000_000
    assert clock.wall_ns_at(-50.0) == EPOCH_NS - 1_000_000_000
    assert clock.wall_ns_at(0.05) == EPOCH_NS + 1_000_000
    assert ScaledClock(epoch_ns=EPOCH_NS).wall_ns_at(1.5) == EPOCH_NS + 1_500_000_000


def test_scaled_clock_now_is_scaled(monkeypatch: pytest.MonkeyPatch) -> None:
    """now() = (wall - epoch) x speed, from the wall clock it reads."""
    clock = ScaledClock(epoch_ns=EPOCH_NS, speed=50.0)
    monkeypatch.setattr(time, "time_ns", lambda: EPOCH_NS + 2_000_000_000)
    assert clock.now() == pytest.approx(100.0, abs=1e-9)
    monkeypatch.setattr(time, "time_ns", lambda: EPOCH_NS - 100_000_000)
    assert clock.now() == pytest.approx(-5.0, abs=1e-9)


def test_scaled_clock_negative_before_epoch() -> None:
    """Before its epoch the simulation time is negative."""
    clock = ScaledClock(epoch_ns=time.time_ns() + 3_600 * 10**9, speed=50.0)
    assert clock.now() < 0


def test_scaled_clock_inverse_of_wall_ns_at(monkeypatch: pytest.MonkeyPatch) -> None:
    """At the wall time wall_ns_at(t), now() reads t."""
    clock = ScaledClock(epoch_ns=EPOCH_NS, speed=7.0)
    for t in (0.0, 1.0, 123.456, 3_600.0):
        monkeypatch.setattr(time, "time_ns", lambda t=t: clock.wall_ns_at(t))
        assert clock.now() == pytest.approx(t, abs=1e-6)


async def test_scaled_clock_sleep_until() -> None:
    """After sleep_until(t) the clock reads at least t; a past time returns at once."""
    clock = ScaledClock(epoch_ns=time.time_ns(), speed=MAX_SPEED)
    await asyncio.wait_for(clock.sleep_until(-1.0), timeout=5.0)
    await asyncio.wait_for(clock.sleep_until(2.0), timeout=5.0)
    assert clock.now() >= 2.0


@pytest.mark.parametrize("speed", [0.0, -1.0, MIN_SPEED / 2, MAX_SPEED * 2, math.nan])
def test_scaled_clock_rejects_speed_out_of_range(speed: float) -> None:
    """A speed outside the one range (zero, negative, too slow, too fast, NaN) raises ValueError."""
    with pytest.raises(ValueError, match="speed must be between"):
        ScaledClock(epoch_ns=EPOCH_NS, speed=speed)


def test_clocks_satisfy_protocol() -> None:
    """Both clocks can be used where a Clock is expected."""
    clocks: list[Clock] = [ScaledClock(epoch_ns=EPOCH_NS), VirtualClock()]
    assert all(callable(c.now) and callable(c.sleep_until) for c in clocks)
