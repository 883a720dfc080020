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


def test_a_yaml_alias_bomb_is_refused_at_once() -> None:
    """Nine lines of aliases expand to 10**9 nodes if walked naively; aliases are refused outright."""
    from grid.errors import GridError
    from grid.world.scenario import scenario_from_yaml

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(GridError, match="aliases"):
        scenario_from_yaml("\n".join(lines).encode(), source="bomb.yaml")
