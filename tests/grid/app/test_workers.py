"""``--workers N``: the nodes in N processes and the fusion centre in one more, the same run as in one.

End to end through real Mosquitto: the measurements of a run do not depend on how many workers
played it; Ctrl-C and SIGTERM stop gridsim and every child; a killed gridsim takes its children
with it; a child that cannot start, or dies mid-run, is a RunError quoting its log.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from grid.app.cli import main
from grid.app.run import RunOptions, run_grid
from grid.app.workers import WorkerSpec, plan_workers, worker_processes, worker_specs
from grid.cyber.taxii import TaxiiTarget
from grid.errors import ConfigError, GridError, RunError
from grid.mqtt.address import free_port
from grid.mqtt.broker import BrokerInfo
from grid.mqtt.session import Session
from grid.wire import topics
from grid.wire.messages import Envelope, RunAction, RunControl
from grid.world.roster import Roster
from grid.world.scenario import Scenario, load_scenario, scenario_from_dict
from tests.grid.app.up_outage import inject_outage_into_up
from tests.processes import alive, children

if TYPE_CHECKING:
    from tests.conftest import GridsimProcesses

SPEED = 5.0  # as tests/grid/app/test_run.py: timing-sensitive figures keep their headroom


def _scenario(duration_s: float = 40.0) -> Scenario:
    """The default drone scenario, cut short: the drone is detected in its first seconds."""
    return scenario_from_dict({**load_scenario().to_dict(), "duration_s": duration_s})


def _is_worker(pid: int) -> bool:
    try:
        return b"grid.app.workers" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


async def _run_announced(port: int) -> None:
    """Return once the retained control topic says a run started: every participant was online."""
    async with Session(host="127.0.0.1", port=port, client_id=f"test-workers-{os.getpid()}") as session:
        await session.subscribe(topics.CONTROL)
        async for received in session.messages():
            if not received.payload:
                continue
            body = Envelope.from_bytes(received.payload).body
            if isinstance(body, RunControl) and body.action is RunAction.START:
                return


def _logs(directory: Path) -> list[str]:
    """The log files gridsim wrote to ``directory``."""
    return sorted(p.name for p in directory.glob("*.log"))


def _grid_errors(exc: BaseException) -> list[GridError]:
    if isinstance(exc, GridError):
        return [exc]
    if isinstance(exc, BaseExceptionGroup):
        return [found for inner in exc.exceptions for found in _grid_errors(inner)]
    return []


# ------------------------------------------------------------------------------- no broker


def test_plan_is_round_robin_over_sorted_ids(roster: Roster) -> None:
    """Every node in exactly one worker, sizes within one of each other, never an empty worker."""
    for workers in (1, 2, 3, 4, 15, 40):
        plan = plan_workers(roster, workers)
        assert len(plan) == min(workers, len(roster))
        assert sorted(n for group in plan for n in group) == sorted(roster)
        sizes = [len(group) for group in plan]
        assert max(sizes) - min(sizes) <= 1
    assert plan_workers(["C", "A", "B"], 2) == [("A", "C"), ("B",)]
    with pytest.raises(ConfigError):
        plan_workers(roster, 0)


def test_spec_carries_the_roster_exactly(roster: Roster) -> None:
    """A child rebuilds the very roster (defaults left unset, so its validators agree) from the spec."""
    (fusion, *nodes) = worker_specs(roster, workers=2, host="127.0.0.1", port=1883, fuse_locally=True)
    assert fusion.fusion
    assert not fusion.nodes
    assert all(spec.fuse_locally and not spec.fusion for spec in nodes)
    spec, rebuilt = WorkerSpec.from_json(nodes[1].to_json(roster))
    assert spec == nodes[1]
    assert list(rebuilt) == list(roster)
    assert all(rebuilt[n] == roster[n] for n in roster)


def test_services_spec_carries_the_hub_options(roster: Roster) -> None:
    """The services' child runs the fusion centre, the hub and the JCC; the TAXII target (with its
    password) and the analysis delay reach it on stdin."""
    target = TaxiiTarget.parse("http://cert:s3cret@127.0.0.1:9/gridsim/collections/feed/")
    (services, *_) = worker_specs(
        roster, workers=1, host="127.0.0.1", port=1883, taxii=target, analysis_s=2.0
    )
    assert services.services == ("fusion", "hub", "jcc")
    spec, _ = WorkerSpec.from_json(services.to_json(roster))
    assert spec == services
    assert spec.taxii is not None
    assert spec.taxii.password == "s3cret"
    assert spec.analysis_s == 2.0


def test_negative_workers_is_a_config_error(roster: Roster) -> None:
    """RunOptions refuses a negative worker count before anything starts."""
    with pytest.raises(ConfigError, match="workers"):
        RunOptions(scenario=None, roster=roster, workers=-1)


# ------------------------------------------------------------------------------ end to end


async def _run(broker: BrokerInfo, roster: Roster, out: Path, workers: int) -> dict[str, Any]:
    options = RunOptions(
        scenario=_scenario(), roster=roster, speed=SPEED, broker_url=broker.url, out_dir=out, workers=workers
    )
    return await run_grid(options)


@pytest.mark.broker
@pytest.mark.timeout(300)
async def test_same_measurements_for_any_worker_count(
    mosquitto: BrokerInfo, roster: Roster, tmp_path: Path
) -> None:
    """One process, one worker and two workers make the very same measurements, node by node."""
    summaries = {n: await _run(mosquitto, roster, tmp_path / f"w{n}", n) for n in (0, 1, 2)}
    digests = {n: s["measurement_digest"] for n, s in summaries.items()}
    assert len(set(digests.values())) == 1, digests
    published = {n: {node: c["published"] for node, c in s["per_node"].items()} for n, s in summaries.items()}
    assert published[0] == published[1] == published[2]
    for n, summary in summaries.items():
        assert summary["workers"] == n
        assert summary["missing_accounts"] == []
        assert summary["messages"]["delivered"] == summary["messages"]["published"] > 0
        assert summary["threats"][0]["detected"] is True
    assert _logs(tmp_path / "w2") == [
        "fusion.log",
        "worker-0.log",
        "worker-1.log",
    ]  # the broker is the test's
    assert _logs(tmp_path / "w0") == []
    assert [pid for pid in children(os.getpid()) if _is_worker(pid)] == [], "every worker was reaped"


@pytest.mark.broker
@pytest.mark.timeout(180)
async def test_up_with_workers_rides_out_an_injected_broker_outage(roster: Roster, tmp_path: Path) -> None:
    """`up --workers 2` plays an injection; its broker restarts mid-run and every worker's node reconnects."""
    options = RunOptions(scenario=None, roster=roster, broker_kind="mosquitto", out_dir=tmp_path, workers=2)
    # As in test_inject: 10x.
    summary = await inject_outage_into_up(options, speed=2 * SPEED, ready_timeout_s=60)
    assert summary["workers"] == 2
    (outage,) = summary["events"]
    assert outage["applied"] is True
    assert outage["member_reconnects"] == len(roster)
    assert summary["messages"]["lost"] == 0
    assert summary["threats"][0]["time_to_locate_s"] is not None
    assert _logs(tmp_path) == ["broker.log", "fusion.log", "worker-0.log", "worker-1.log"]
    assert [pid for pid in children(os.getpid()) if _is_worker(pid)] == [], "every worker was reaped"


@pytest.mark.broker
@pytest.mark.timeout(180)
async def test_a_worker_killed_mid_run_is_a_run_error(
    mosquitto: BrokerInfo, roster: Roster, tmp_path: Path
) -> None:
    """A worker that dies during the run ends it with a RunError naming the worker; no child is left."""
    run = asyncio.create_task(_run(mosquitto, roster, tmp_path, 2))
    await _run_announced(mosquitto.port)
    workers = [pid for pid in children(os.getpid()) if _is_worker(pid)]
    assert len(workers) == 3  # the fusion centre's and two node workers
    os.kill(workers[-1], signal.SIGKILL)
    with pytest.raises(BaseException) as info:  # noqa: PT011 - the RunError is in the TaskGroup's group
        await run
    (error,) = _grid_errors(info.value)
    assert isinstance(error, RunError)
    assert "killed by signal 9" in str(error)
    assert str(error).startswith(("fusion [fusion]", "worker-0 [", "worker-1 ["))
    assert not [pid for pid in workers if alive(pid)], "a worker process was left behind"


async def _serve_forever(
    specs: list[WorkerSpec],
    roster: Roster,
    *,
    log_dir: Path | None = None,
    python: tuple[str, ...] = (sys.executable,),
    pids: list[int] | None = None,
) -> None:
    """Keep the workers up until the pool fails (its watcher cancels the wait when a child exits)."""
    async with worker_processes(specs, roster, log_dir=log_dir, python=python) as pool:
        if pids is not None:
            pids += pool.pids
        await asyncio.Event().wait()


@pytest.mark.broker
@pytest.mark.timeout(60)
async def test_a_worker_with_an_unknown_node_is_a_run_error(
    mosquitto: BrokerInfo, roster: Roster, tmp_path: Path
) -> None:
    """A child that exits at start (a node id not in the roster) is a RunError quoting its log's error."""
    spec = WorkerSpec(name="worker-0", host=mosquitto.host, port=mosquitto.port, nodes=("RO", "XX"))
    pids: list[int] = []
    with pytest.raises(BaseException) as info:  # noqa: PT011 - the RunError is in the TaskGroup's group
        await _serve_forever([spec], roster, log_dir=tmp_path, pids=pids)
    (error,) = _grid_errors(info.value)
    assert isinstance(error, RunError)
    text = str(error)
    assert "worker-0 [RO, XX]" in text
    assert "exited with code 2" in text
    assert "UnknownNodeError: unknown node id 'XX'" in text
    assert "UnknownNodeError" in (tmp_path / "worker-0.log").read_text()
    assert len(pids) == 1
    assert not alive(pids[0]), "the worker was reaped"


@pytest.mark.parametrize(
    ("python", "expected"),
    [
        (("/nonexistent/python3",), "cannot start worker-0"),
        ((sys.executable, "--no-such-option"), "unknown option --no-such-option"),
    ],
    ids=["missing-interpreter", "bad-interpreter-option"],
)
@pytest.mark.timeout(60)
async def test_a_worker_that_cannot_start_is_a_run_error(
    roster: Roster, python: tuple[str, ...], expected: str
) -> None:
    """A child whose interpreter cannot run, or refuses its arguments, is a RunError saying why."""
    spec = WorkerSpec(name="worker-0", host="127.0.0.1", port=free_port(), nodes=("RO",))
    with pytest.raises(BaseException) as info:  # noqa: PT011 - a RunError, alone or in the TaskGroup's group
        await _serve_forever([spec], roster, python=python)
    (error,) = _grid_errors(info.value)
    assert isinstance(error, RunError)
    assert expected in str(error)


# ----------------------------------------------------------------------- the command line


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "--workers", "-1", "--quiet"], ["ConfigError", "--workers must be 0 or more, got -1"]),
        (
            ["run", "--external", "--broker", "mqtt://127.0.0.1:1", "--workers", "2", "--quiet"],
            ["ConfigError", "cannot be combined with --external"],
        ),
        (["up", "--workers", "-3"], ["ConfigError", "--workers must be 0 or more, got -3"]),
    ],
    ids=["run-negative", "run-external", "up-negative"],
)
def test_bad_workers_option_is_refused(
    argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A negative --workers, or --workers with --external, is one line and exit 2; nothing starts."""
    code = main(argv)
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2, err
    for word in words:
        assert word in err
    assert "Traceback" not in err


def _start_run(gridsim: GridsimProcesses, port: int, out: Path) -> subprocess.Popen[str]:
    return gridsim.start(
        "run",
        *("--speed", "1", "--port", str(port), "--out", str(out), "--quiet", "--workers", "2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def _announced_children(proc: subprocess.Popen[str], port: int) -> list[int]:
    """Wait until the run is under way (every participant online); gridsim's child processes then."""
    while not children(proc.pid):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    while True:
        assert proc.poll() is None, proc.communicate()
        try:
            asyncio.run(_run_announced(port))
            break
        except GridError:  # its broker is not listening yet
            time.sleep(0.2)
    return children(proc.pid)


@pytest.mark.broker
@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["SIGINT", "SIGTERM"],
)
def test_signal_stops_gridsim_and_every_child(
    tmp_path: Path, gridsim: GridsimProcesses, signum: int, code: int, word: str
) -> None:
    """Ctrl-C or SIGTERM mid-run: gridsim says so, exits 130 or 143, and its broker and workers are gone."""
    port = free_port()
    proc = _start_run(gridsim, port, tmp_path)
    children = _announced_children(proc, port)
    assert len([pid for pid in children if _is_worker(pid)]) == 3, children
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert word in err
    assert "Traceback" not in err
    assert not [pid for pid in children if alive(pid)], "a child process was left behind"


@pytest.mark.broker
@pytest.mark.timeout(180)
def test_killed_gridsim_takes_its_workers_with_it(tmp_path: Path, gridsim: GridsimProcesses) -> None:
    """SIGKILL of gridsim (no cleanup possible): its workers get SIGTERM from the kernel and exit."""
    port = free_port()
    proc = _start_run(gridsim, port, tmp_path)
    children = _announced_children(proc, port)
    assert len([pid for pid in children if _is_worker(pid)]) == 3
    proc.kill()
    proc.wait()
    # The broker and the workers: each goes once it has stopped; the test's timeout bounds the wait.
    while [pid for pid in children if alive(pid)]:
        time.sleep(0.1)
