"""Stale periods measured per track, and the outbox that keeps one waiting event per track."""

from __future__ import annotations

import pytest

from grid.cot.outbox import Outbox
from grid.cot.stale import StaleTimes
from grid.errors import ConfigError

pytestmark = pytest.mark.asyncio


async def test_stale_is_periods_times_the_gap_with_a_floor() -> None:
    """First update: the floor; then three times the gap since the track's last update."""
    stale = StaleTimes(periods=3.0, floor_s=5.0)
    assert stale.after("a", 100.0) == 5.0
    assert stale.after("a", 104.0) == pytest.approx(12.0)
    assert stale.after("a", 104.5) == 5.0  # 1.5 s is under the floor
    assert stale.after("b", 104.5) == 5.0  # each track its own period
    stale.forget("a")
    assert stale.after("a", 200.0) == 5.0


async def test_fixed_stale_and_bad_settings() -> None:
    """``--stale S`` fixes the period; a period that is not positive is a ConfigError."""
    assert StaleTimes(fixed_s=30.0).after("a", 0.0) == 30.0
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ConfigError):
            StaleTimes(fixed_s=bad)


async def test_outbox_keeps_the_newest_per_track_in_first_queued_order() -> None:
    """A newer update replaces the waiting one (counted); tracks leave in the order they queued."""
    box: Outbox[str] = Outbox()
    box.put("t1", "t1 update 1")
    box.put("t2", "t2 update 1")
    box.put("t1", "t1 drop")
    assert box.superseded == 1
    assert await box.get() == ("t1", "t1 drop")
    box.put_back("t1", "t1 drop")  # sending failed: back in the box
    box.put("t2", "t2 update 2")
    box.put_back("t2", "t2 update 1")  # a newer one already waits: the old one is superseded
    assert box.superseded == 3
    assert [await box.get(), await box.get()] == [("t2", "t2 update 2"), ("t1", "t1 drop")]
    assert len(box) == 0
