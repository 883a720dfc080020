"""The bundled scenario library: every file validates, and every one plays to completion."""

from __future__ import annotations

from pathlib import Path

import pytest

from grid.app.run import RunOptions, run_grid
from grid.mqtt.broker import BrokerInfo
from grid.world.roster import Roster
from grid.world.scenario import load_scenario, validate_paths

LIBRARY = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))
# ~30,000 reports over 900 s: validated here, played by hand (`gridsim run ... --speed 5`);
# combined-exercise is the combined exercise CI plays.
HEAVY = {"western-black-sea-mixed-raid"}
# One process carries every node; a swarm's track updates fan out to all of them, so it is
# played slower to stay under the process's delivery ceiling (docs/benchmarks.md).
SPEED = {"swarm-12": 10.0}
OWN_BROKER = {"broker-outage"}


def test_library_is_complete() -> None:
    """The library holds the scenarios the README promises."""
    names = {p.stem for p in LIBRARY}
    assert {
        "western-black-sea-drone",
        "drone-crossing",
        "swarm-12",
        "low-altitude-drone",
        "node-outage",
        "degraded-links",
        "spoofing",
        "jamming",
        "cyber-phishing",
        "combined-exercise",
        "broker-outage",
        "western-black-sea-mixed-raid",
    } <= names


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_validates(path: Path, roster: Roster) -> None:
    """Each file validates against the roster and opens with a comment saying what it shows."""
    ((checked, error),) = validate_paths([path], roster)
    assert error is None, str(error)
    assert checked == path
    assert path.read_text(encoding="utf-8").startswith("#")


@pytest.mark.broker
@pytest.mark.parametrize("path", [p for p in LIBRARY if p.stem not in HEAVY], ids=lambda p: p.stem)
async def test_plays_to_completion(path: Path, roster: Roster, mosquitto: BrokerInfo, tmp_path: Path) -> None:
    """Each scenario plays at high speed with every report accounted for and its threats seen."""
    scenario = load_scenario(path, roster=roster)
    speed = SPEED.get(path.stem, 25.0)
    # A broker outage is played only on a broker gridsim starts itself.
    url = None if path.stem in OWN_BROKER else mosquitto.url
    summary = await run_grid(
        RunOptions(scenario=scenario, roster=roster, speed=speed, broker_url=url, out_dir=tmp_path)
    )
    assert summary["missing_accounts"] == []
    assert summary["messages"]["rejected"] == {}
    assert summary["messages"]["delivered"] == summary["messages"]["published"] > 0
    assert any(t["detected"] for t in summary["threats"])
    assert len(summary["events"]) == len(scenario.events)
