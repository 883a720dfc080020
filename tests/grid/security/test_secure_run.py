"""``gridsim run --secure``: the grid on Mosquitto with mutual TLS and the roster's ACL, every participant
with its own certificate, locates the drone and loses nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from grid.app.run import RunOptions, run_grid
from grid.errors import ConfigError
from grid.mqtt.process import mosquitto_path
from grid.security.certs import CertsLayout
from grid.world.roster import Roster
from grid.world.scenario import Scenario, load_scenario, scenario_from_dict

pytestmark = [
    pytest.mark.broker,
    pytest.mark.timeout(300),
    pytest.mark.skipif(mosquitto_path() is None, reason="secure mode needs Mosquitto"),
]


def _short() -> Scenario:
    return scenario_from_dict({**load_scenario().to_dict(), "duration_s": 60.0})


def _assert_located_and_nothing_lost(summary: dict[str, Any], roster: Roster) -> None:
    (threat,) = summary["threats"]
    assert threat["time_to_locate_s"] is not None
    messages = summary["messages"]
    assert messages["rejected"] == {}
    assert messages["published"] > 0
    assert messages["delivered"] == messages["published"], "every report reached the fusion centre"
    assert summary["missing_accounts"] == []
    assert set(summary["awareness"]) == set(roster)
    assert summary["security"]["transport"].startswith("mqtts")


def _temp_certs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("gridsim-certs-*")}


async def test_a_secure_run_locates_the_drone_and_removes_its_certificates(
    roster: Roster, tmp_path: Path
) -> None:
    """In one process, on certificates made for the run: located, nothing lost, the PKI gone afterwards."""
    before = _temp_certs()
    options = RunOptions(scenario=_short(), roster=roster, speed=5.0, out_dir=tmp_path, secure=True)
    summary = await run_grid(options)
    _assert_located_and_nothing_lost(summary, roster)
    assert summary["security"]["certs"].startswith("temporary")
    assert _temp_certs() <= before, "the run's temporary certificates were removed"


async def test_a_secure_run_in_worker_processes_on_given_certificates(
    roster: Roster, pki: CertsLayout, tmp_path: Path
) -> None:
    """With --certs and two node processes: each worker's participants present their own certificates."""
    options = RunOptions(
        scenario=_short(), roster=roster, speed=5.0, out_dir=tmp_path, certs=pki.root, workers=2
    )
    assert options.secure, "--certs implies --secure"
    summary = await run_grid(options)
    _assert_located_and_nothing_lost(summary, roster)
    assert summary["workers"] == 2


async def test_secure_mode_refuses_what_it_cannot_secure(roster: Roster, tmp_path: Path) -> None:
    """Not with amqtt (no client certificates); a certificates folder without the roster's
    certificates is refused before anything starts."""
    with pytest.raises(ConfigError, match="secure mode"):
        RunOptions(scenario=_short(), roster=roster, secure=True, broker_kind="amqtt")
    with pytest.raises(ConfigError, match="missing"):
        await run_grid(RunOptions(scenario=_short(), roster=roster, certs=tmp_path / "none"))
