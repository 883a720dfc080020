"""The services' worker SIGKILLed mid-campaign and restarted, on a real Mosquitto: the cyber hub's and
the Joint Cyber Centre's counts equal those of the same scenario and seed without the fault.

Verdicts are counts (indicators, sightings, flags, mitigations, acknowledgements, STIX ids), never
timings: the times that the outage delays are printed (``-s``), and the summary names each
indicator whose times it delayed (``cyber.recovery.late_keys``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from grid.app.run import RunOptions, run_grid
from grid.world.roster import Roster, load_roster
from grid.world.scenario import Scenario, load_scenario, scenario_from_dict

pytestmark = [pytest.mark.broker, pytest.mark.timeout(480)]

# The last CERT observation is at 150 s: 60 s more leave the JCC's 5 s analysis and the acks room
# even in a process that fell seconds behind the clock (load: the analysis counts from arrival).
DURATION_S = 210.0
SPEED = 10.0
DOWN_S = 10.0


def _phishing() -> Scenario:
    return scenario_from_dict(
        {**load_scenario("scenarios/cyber-phishing.yaml").to_dict(), "duration_s": DURATION_S}
    )


async def _run(roster: Roster, out: Path, kill_at_s: float | None) -> dict[str, Any]:
    options = RunOptions(
        scenario=_phishing(),
        roster=roster,
        speed=SPEED,
        out_dir=out,
        workers=2,
        kill_fusion_at_s=kill_at_s,
        fusion_down_s=DOWN_S,
    )
    summary = await run_grid(options)
    summary["objects"] = json.loads((out / "cyber-objects.json").read_text())
    return summary


@pytest.fixture(scope="module")
def unfaulted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The scenario without the fault (one run for the module's tests)."""
    return asyncio.run(_run(load_roster(), tmp_path_factory.mktemp("unfaulted"), None))


def _counts(summary: dict[str, Any]) -> dict[str, Any]:
    """What must not change: every cyber count of the summary, and the ids of the shared objects."""
    cyber = summary["cyber"]
    return {
        "indicators": [
            (i["key"], i["observed_by"], i["sightings"], i["time_to_flag_s"] is not None)
            for i in cyber["indicators"]
        ],
        "mitigated": [i["key"] for i in cyber["indicators"] if i["time_to_mitigate_s"] is not None],
        "duplicates_absorbed": cyber["duplicates_absorbed"],
        "analysis_saved": cyber["analysis_saved"],
        "warned": sorted(m for m, s in cyber["time_to_warning_s"].items() if s is not None),
        "rejected": cyber["rejected"],
        "nodes": {
            n: (c.get("cyber_reports"), c.get("mitigations_received"), c.get("mitigations_acked"))
            for n, c in sorted(summary["per_node"].items())
        },
        "jcc": {k: summary["per_service"]["jcc"].get(k) for k in ("indicators_received", "flags")},
        "object_ids": sorted(o["id"] for o in summary["objects"]),
        "missing_accounts": summary["missing_accounts"],
    }


def _times(summary: dict[str, Any]) -> str:
    cyber = summary["cyber"]
    flag = [round(i["time_to_flag_s"] or -1.0, 1) for i in cyber["indicators"]]
    mitigate = [round(i["time_to_mitigate_s"] or -1.0, 1) for i in cyber["indicators"]]
    warned = [s for s in cyber["time_to_warning_s"].values() if s is not None]
    return f"flag {flag} mitigate {mitigate} warning max {max(warned, default=-1.0):.1f} s"


class Kill(NamedTuple):
    """When the services' worker is killed; whether what came before is surely in by then."""

    at_s: float
    what: str
    held: bool


KILLS = [
    Kill(60.0, "between observations, with 3 indicators shared, flagged and acknowledged", held=True),
    # Whether RO's report at 20 s was in before the kill depends on the load: not asserted.
    Kill(22.0, "mid-analysis: the URL's is due at 25 s, while the process is down", held=False),
]


@pytest.mark.parametrize("kill", KILLS, ids=lambda k: f"kill-at-{k.at_s:g}s")
async def test_cyber_counts_survive_a_kill_of_the_hub_and_jcc(
    roster: Roster, tmp_path: Path, unfaulted: dict[str, Any], kill: Kill
) -> None:
    """The services' worker killed mid-campaign: the hub's and JCC's counts equal the unfaulted run's."""
    faulted = await _run(roster, tmp_path, kill.at_s)
    (fault,) = faulted["faults"]
    assert None not in fault["pids"]
    recovery = faulted["cyber"]["recovery"]
    jcc = faulted["per_service"]["jcc"]
    print(
        f"\nkill at {kill.at_s:g} s ({kill.what}), down {fault['down_interval_s']}:"
        f"\n  unfaulted {_times(unfaulted)}\n  faulted   {_times(faulted)}"
        f"\n  hub recovery {recovery}\n  jcc {jcc}"
    )
    assert _counts(faulted) == _counts(unfaulted)
    assert faulted["messages"]["lost"] == 0
    assert faulted["messages"]["delivered"] == faulted["messages"]["published"]
    # The restart replayed what was held before the kill (at 60 s: RO's URL of 20 s had 4 wall s
    # to reach the hub and the JCC). Which indicators the outage delayed depends on the load (a
    # report sent just before or after the restart): listed, and only checked to be real ones.
    assert "replayed" in recovery
    assert "replayed" in jcc
    if kill.held:
        assert recovery["replayed"] > 0
        assert jcc["replayed"] > 0
    assert set(recovery["late_keys"]) <= {i["key"] for i in faulted["cyber"]["indicators"]}
    # What the broker sent again after the kill was dropped by its id, not counted as rejected.
    assert faulted["cyber"]["rejected"] == {}
