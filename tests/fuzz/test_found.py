"""Inputs the fuzzer found that broke a contract, kept as regression tests (the rest are in test_limits
and tests/grid/world/test_broken_files.py).

``found/<target>-<hash>.bin`` are crash inputs as ``scripts/fuzz --minimize`` left them: each is fed
again to its target, within the contract now (its ``.txt`` names the cause it had).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from grid.clock import VirtualClock
from grid.errors import MessageRejected
from grid.participants.service import ActiveRun
from grid.wire.messages import RunAction, RunControl, ThreatReport
from grid.world.scenario import load_scenario
from grid.world.schema_errors import field_path
from tests.fuzz.corpus import load_corpus
from tests.fuzz.feed import feed_one
from tests.fuzz.targets import Target, make_targets

_FOUND = sorted(Path(__file__).with_name("found").glob("*.bin"))


@cache
def _target(name: str) -> Target:
    (target,) = make_targets(load_corpus(), [name])
    return target


@pytest.mark.parametrize("file", _FOUND, ids=[f.stem for f in _FOUND])
def test_a_found_input_is_within_the_contract(file: Path) -> None:
    """A crash the fuzzer found is now accepted or refused with a typed, counted error."""
    outcome = feed_one(_target(file.name.partition("-")[0]), file.read_bytes())
    assert outcome.partition(":")[0] in {"accepted", "rejected", "counted", "error"}


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


def test_a_key_that_is_not_a_plain_name_is_quoted_in_its_field_path() -> None:
    """A key written with a newline (the atheris run's finding) or a dot stays one path on one line."""
    assert field_path(("threats", 0, "path", 0, "l\n0")) == "threats[0].path[0]['l\\n0']"
    assert field_path(("a.b", 1, "member-kind")) == "['a.b'][1].member-kind"


@pytest.mark.parametrize("tiny", [0.0, 4.9e-310, 0.5])
def test_a_report_of_no_range_is_refused(tiny: float) -> None:
    """A range of 0 (the atheris run's 4.9e-310) seeded a track at the sensor and divided by zero."""
    with pytest.raises(MessageRejected, match="out_of_range"):
        ThreatReport(
            run_id="r",
            sensor_id="RO-RAD-CAPE-MIDIA",
            sensor_kind="radar",
            sensor_lat=44.355,
            sensor_lon=28.68,
            sensor_alt_m=30.0,
            time_s=1.0,
            bearing_deg=10.0,
            sigma_bearing_deg=0.4,
            range_m=tiny,
            sigma_range_m=30.0,
            max_range_m=150_000.0,
        )
