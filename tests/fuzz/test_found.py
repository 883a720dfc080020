"""Inputs the fuzzer found that broke a contract, kept as regression tests (the rest are in test_limits
and tests/grid/world/test_broken_files.py)."""

from __future__ import annotations

import pytest

from grid.clock import VirtualClock
from grid.errors import MessageRejected
from grid.participants.service import ActiveRun
from grid.wire.messages import RunAction, RunControl
from grid.world.scenario import load_scenario


def test_a_start_with_a_seed_the_scenario_refuses_is_a_bad_scenario() -> None:
    """A negative seed in a start message is ``bad_scenario``, not a ScenarioError out of the handler."""
    control = RunControl(
        action=RunAction.START, run_id="r", epoch_ns=0, speed=1.0, seed=-5, scenario=load_scenario().to_dict()
    )
    with pytest.raises(MessageRejected, match=r"bad_scenario: .*seed"):
        ActiveRun.from_control(control, clock_factory=lambda _: VirtualClock())
