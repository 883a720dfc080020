"""Federated grids from the command line: ``gridsim run --federated`` end to end (a core and one
Mosquitto per grid, bridged), and ``gridsim federation configs`` for docker compose."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from grid.app.cli import main
from grid.app.workers import WorkerSpec, worker_specs
from grid.bundled import bundled_dir
from grid.mqtt.federation import CORE, plan_federation
from grid.world.roster import Roster
from tests.processes import alive, children

if TYPE_CHECKING:
    from tests.conftest import GridsimProcesses

# The default scenario at 20x: about 30 s of wall time here, on a loaded two-core machine far more.
_RUN_BOUND_S = 400
_COMMITTED = bundled_dir("broker") / "federated"


def play_federated(
    gridsim: GridsimProcesses, tmp_path: Path, *flags: str
) -> tuple[dict[str, Any], Path, Path]:
    """`run --federated FLAGS` at 20x in a process of its own: its summary, once the drone was
    located and every report delivered, none lost or rejected, every account in; its output
    folder and its TMPDIR."""
    out, tmp = tmp_path / "run", tmp_path / "tmp"
    tmp.mkdir()
    with (tmp_path / "gridsim.log").open("wb") as log:
        proc = gridsim.start(
            "run", "--federated", *flags, "--speed", "20", "--quiet", "--out", str(out),
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": str(tmp)},
        )  # fmt: skip
        code = proc.wait(timeout=_RUN_BOUND_S - 30)
    assert code == 0, (tmp_path / "gridsim.log").read_text()
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    (threat,) = summary["threats"]
    assert threat["time_to_locate_s"] is not None, "the drone was located"
    messages = summary["messages"]
    assert messages["published"] > 0
    assert messages["delivered"] == messages["published"]
    assert messages["lost"] == 0
    assert messages["rejected"] == {}, "the fusion centre accepted (and, signed, verified) every report"
    assert summary["missing_accounts"] == []
    return summary, out, tmp


@pytest.mark.broker
@pytest.mark.timeout(_RUN_BOUND_S)
def test_run_federated_locates_and_accounts_for_every_report(
    gridsim: GridsimProcesses, roster: Roster, tmp_path: Path
) -> None:
    """`run --federated` at 20x: located, every report delivered, duplicates counted, TMPDIR left empty."""
    summary, out, tmp = play_federated(gridsim, tmp_path)
    messages = summary["messages"]
    federation = summary["federation"]
    plan = plan_federation(roster)
    assert list(federation["brokers"]) == list(plan.brokers)
    for grid in plan.grids:
        assert federation["brokers"][grid]["nodes"] == list(plan.home_nodes(grid))
    assert len(federation["bridges"]) == len(plan.bridges)
    dups = federation["duplicates"]
    assert dups["at_fusion"] == messages["duplicates"]
    assert dups["at_nodes"] == sum(c.get("duplicates", 0) for c in summary["per_node"].values())
    assert dups["seen"] == dups["dropped"] == dups["at_fusion"] + dups["at_nodes"]
    assert list(tmp.iterdir()) == [], "the brokers' temporary folders were removed"
    assert {p.name for p in out.glob("broker-*.log")} == {f"broker-{b}.log" for b in plan.brokers}


@pytest.mark.broker
@pytest.mark.timeout(180)
def test_sigterm_stops_every_broker_and_worker(gridsim: GridsimProcesses, tmp_path: Path) -> None:
    """SIGTERM mid-run: exit 143 saying so; its five Mosquittos and its workers are gone, TMPDIR empty."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = gridsim.start(
        "run", "--federated", "--workers", "2", "--quiet", "--out", str(tmp_path / "run"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(tmp), "COLUMNS": "200"},
    )  # fmt: skip
    # Five brokers first, then the fusion process and two node workers once every bridge is up.
    while len(spawned := children(proc.pid)) < 8:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated" in err
    assert "Traceback" not in err
    assert not [pid for pid in spawned if alive(pid)], "a child process was left behind"
    assert list(tmp.iterdir()) == []


def test_configs_for_compose(tmp_path: Path, roster: Roster) -> None:
    """`federation configs` writes one config per broker, bridged one way, and each node's broker."""
    assert main(["federation", "configs", str(tmp_path)]) == 0
    plan = plan_federation(roster)
    names = {"mosquitto.conf", *(f"broker-{g}.conf" for g in plan.grids), "homes.json", "compose.env"}
    assert {p.name for p in tmp_path.iterdir()} == names
    core = (tmp_path / "mosquitto.conf").read_text()
    for setting in ("listener 1883", "allow_anonymous true", "set_tcp_nodelay true", "persistence true"):
        assert setting in core.splitlines()
    assert "address broker-air-policing:1883" in core
    assert 'topic grid/v1/reports/DE in 1 "" ""' in core
    southern = (tmp_path / "broker-southern.conf").read_text()
    assert "address mosquitto:1883" in southern
    bridged = [line for line in southern.splitlines() if line.startswith("topic ")]
    assert all(" in 1 " in line for line in bridged), "bridges pull only"
    homes = json.loads((tmp_path / "homes.json").read_text())
    assert homes["core"] == "mqtt://mosquitto:1883"
    assert homes["nodes"]["ES"] == {"grid": "southern", "broker": "mqtt://broker-southern:1883"}
    assert plan.homes == {n: h["grid"] for n, h in homes["nodes"].items()}
    assert CORE in plan.brokers


def test_committed_compose_configs_are_current(tmp_path: Path) -> None:
    """broker/federated/ is what `gridsim federation configs broker/federated` writes today."""
    written = tmp_path / _COMMITTED.name  # compose.env names the core's configuration by its folder
    assert main(["federation", "configs", str(written)]) == 0
    assert sorted(p.name for p in written.iterdir()) == sorted(
        p.name for p in _COMMITTED.iterdir() if p.name != "README.md"
    )
    for path in written.iterdir():
        assert (_COMMITTED / path.name).read_text() == path.read_text(), path.name


def test_bad_grid_address(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A grid address without {grid} is a one-line ConfigError (exit 2)."""
    assert main(["federation", "configs", str(tmp_path), "--grid-address", "broker:1883"]) == 2
    assert "ConfigError" in capsys.readouterr().err


def test_federated_refuses_an_external_broker(capsys: pytest.CaptureFixture[str]) -> None:
    """--federated with --broker is a ConfigError: it starts its own brokers."""
    assert main(["run", "--federated", "--broker", "mqtt://127.0.0.1:1883", "--quiet"]) == 2
    assert "--federated" in capsys.readouterr().err


def test_worker_specs_carry_each_nodes_home(roster: Roster) -> None:
    """Federated workers: each node's home broker travels with its spec; the fusion's stays the core."""
    homes = {n: ("127.0.0.1", 2000 + k) for k, n in enumerate(roster)}
    specs = worker_specs(roster, workers=2, host="127.0.0.1", port=1883, homes=homes)
    fusion, *nodes = specs
    assert fusion.homes == ()
    assert fusion.home("DE") == ("127.0.0.1", 1883)
    for spec in nodes:
        again, _ = WorkerSpec.from_json(spec.to_json(roster))
        assert again == spec
        assert all(again.home(n) == homes[n] for n in spec.nodes)
