"""The soak bench: RSS read from /proc, its growth judged, and a tiny soak of the whole grid."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from grid.app.bench.__main__ import main
from grid.app.bench.rss import descendants, process_name, rss_mb, sample_tree
from grid.app.bench.soak import SoakConfig, soak_scenario
from grid.errors import ConfigError
from grid.world.roster import Roster

PROCESS = {"first_mb", "warm_mb", "end_mb", "peak_mb", "growth_mb", "growth_share", "limit_mb", "passed"}


def test_rss_of_this_process() -> None:
    """This process has an RSS, is the tree's root ("controller"), and a gone pid has none."""
    mine = rss_mb(os.getpid())
    assert mine is not None
    assert mine > 1.0
    assert process_name(os.getpid(), os.getpid()) == "controller"
    assert os.getpid() not in descendants(os.getpid())
    names: dict[int, str] = {}
    (me, *_) = sample_tree(os.getpid(), names)
    assert (me.pid, me.name) == (os.getpid(), "controller")
    assert rss_mb(2**22 + 1) is None  # above the kernel's pid_max ceiling: never a process


def test_soak_scenario_streams_drones(roster: Roster) -> None:
    """One drone every period, over the soak's simulated length (duration x speed)."""
    scenario = soak_scenario(SoakConfig(duration_s=600.0, speed=2.0, period_s=60.0), roster)
    assert scenario.duration_s == 1200.0
    assert [t.start_s for t in scenario.threats] == [5.0 + 60.0 * k for k in range(20)]
    assert len({t.id for t in scenario.threats}) == 20


def test_soak_config_is_checked() -> None:
    """A warm-up as long as the soak, or no speed, is refused with a clear error."""
    with pytest.raises(ConfigError, match="warmup_s"):
        SoakConfig(duration_s=10.0, warmup_s=10.0)
    with pytest.raises(ConfigError, match="speed"):
        SoakConfig(speed=0.0)


@pytest.mark.broker
@pytest.mark.timeout(300)  # about 15 s of wall time: worker start-up, 4 s of scenario, the accounts
def test_tiny_soak_writes_its_results(tmp_path: Path) -> None:
    """`bench soak --duration 4`: every process sampled and judged, nothing lost, JSON and plot written."""
    code = main(["soak", "--duration", "4", "--warmup", "1", "--interval", "0.5", "--out", str(tmp_path)])
    results = json.loads((tmp_path / "bench-soak.json").read_text())
    assert (tmp_path / "bench-soak.png").stat().st_size > 0
    assert (tmp_path / "run" / "summary.json").is_file()
    assert {"config", "machine", "messages", "processes", "samples", "passed", "reports_per_wall_s"} <= set(
        results
    )
    assert {"broker", "controller", "fusion", "worker-0", "worker-1"} <= set(results["processes"])
    for name, process in results["processes"].items():
        if process["passed"] is not None:
            assert set(process) >= PROCESS, name
    assert results["messages"]["published"] > 0
    assert results["messages"]["lost"] == 0
    assert results["passed"]["nothing_lost"] is True
    # Memory after 3 s says little on a loaded machine: the verdict is printed, the code follows it.
    assert code == (0 if results["passed"]["all"] else 1)
