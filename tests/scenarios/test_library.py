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
# Measured (docs: "Test speeds"): a scenario needs about 0.06 CPU seconds per simulated second
# (swarm-12: 0.18), broker included. 3x headroom on one core would mean 5x (swarm 1.8x) and over
# ten minutes for the library, so these runs are about completeness, not timing: played fast, an
# overloaded one-process grid is late but complete (the accounts are awaited while messages keep
# arriving), and its summary says so in its overload warning.
SPEED = {"swarm-12": 10.0}
DEFAULT_SPEED = 25.0
OWN_BROKER = {"broker-outage", "broker-kill"}


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
@pytest.mark.timeout(600)  # loaded two-core machine: under 90 s each (swarm-12: 150 s)
@pytest.mark.parametrize("path", [p for p in LIBRARY if p.stem not in HEAVY], ids=lambda p: p.stem)
async def test_plays_to_completion(path: Path, roster: Roster, mosquitto: BrokerInfo, tmp_path: Path) -> None:
    """Each scenario plays at high speed with every report accounted for and its threats seen."""
    scenario = load_scenario(path, roster=roster)
    speed = SPEED.get(path.stem, DEFAULT_SPEED)
    # A broker outage is played only on a broker gridsim starts itself.
    url = None if path.stem in OWN_BROKER else mosquitto.url
    summary = await run_grid(
        RunOptions(scenario=scenario, roster=roster, speed=speed, broker_url=url, out_dir=tmp_path)
    )
    assert summary["missing_accounts"] == []
    messages = summary["messages"]
    # An outsider's forgeries (unsigned grid: its unsigned and stale scans are taken) come on top.
    forged = [e for e in summary["events"] if e["kind"] == "forgery"]
    taken = sum(e["outsider"]["published"].get(f, 0) for e in forged for f in ("unsigned", "stale"))
    assert messages["delivered"] == messages["published"] + taken > 0
    if not forged:
        assert messages["rejected"] == {}
    assert any(t["detected"] for t in summary["threats"])
    assert len(summary["events"]) == len(scenario.events)
    # Complete, so the only warning a run may carry is its own overload warning, given exactly
    # when too many reports came too late to be fused.
    tracker = summary["tracker"]
    overloaded = tracker.get("too_late", 0) > 0.05 * tracker["detections"]
    late = [w for w in summary["warnings"] if "too late to be fused" in w]
    assert len(late) == (1 if overloaded else 0), summary["warnings"]
    assert summary["warnings"] == late
