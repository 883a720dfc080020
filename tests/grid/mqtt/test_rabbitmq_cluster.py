"""A grid on a real three-member RabbitMQ cluster, and the refusals of RabbitMQ's MQTT quirks.

The cluster (``tests/rabbitmq.py``) comes up once for the module (about 25 s); the member-outage
test runs last, since it leaves the cluster with two members. Figures are reported, not asserted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from grid.app.cli import main
from grid.app.cluster import placement
from grid.app.inject import fetch_results, inject
from grid.app.run import RunOptions, run_grid, serve_grid
from grid.errors import ConfigError
from grid.mqtt.address import LOOPBACK, free_port
from grid.mqtt.broker import BrokerInfo
from grid.mqtt.rabbitmq import ClusterSession, UnsupportedOnBroker, check_ids, check_topic, parse_cluster_urls
from grid.mqtt.session import Session
from grid.mqtt.transport import Received
from grid.results.observed import Progress
from grid.wire import topics
from grid.wire.messages import Envelope, RunResults
from grid.world.roster import Roster
from grid.world.scenario import load_scenario
from tests.rabbitmq import Cluster, rabbitmq_available, rabbitmq_cluster

if TYPE_CHECKING:
    from tests.conftest import GridsimProcesses

needs_rabbitmq = pytest.mark.skipif(not rabbitmq_available(), reason="rabbitmq-server is not installed")
SPEED = 10.0
KILL_AT_S = 60.0


# ------------------------------------------------------------------------------- refusals


def test_dotted_ids_are_refused_by_name() -> None:
    """A swarm member's id ``<id>.<k>`` is refused, the message naming it."""
    with pytest.raises(UnsupportedOnBroker, match=r"'SW\.1'"):
        check_ids(["RO", "SW.1"])
    check_ids(["RO", "swarm-01"])


@pytest.mark.parametrize("topic", ["grid/v1/reports/SW.1", "grid/v1/reports/*", "grid/v1/results/a.b"])
def test_topics_rabbitmq_would_misroute_are_refused(topic: str) -> None:
    """A topic with ``.`` or ``*`` is refused before it reaches the broker."""
    with pytest.raises(UnsupportedOnBroker):
        check_topic(topic)
    assert check_topic("grid/v1/reports/+") == "grid/v1/reports/+"


async def test_qos_2_is_refused() -> None:
    """RabbitMQ downgrades QoS 2 to 1: a QoS 2 publish or subscription is refused, not downgraded."""
    session = ClusterSession([(LOOPBACK, free_port())], first=0, client_id="t-qos")
    with pytest.raises(UnsupportedOnBroker, match="QoS 2"):
        await session.publish(topics.TRACKS, b"x", qos=2)
    with pytest.raises(UnsupportedOnBroker, match="QoS 2"):
        await session.subscribe(topics.TRACKS, qos=2)


def test_a_cluster_needs_its_urls(roster: Roster) -> None:
    """``--broker-kind rabbitmq`` without ``--broker URL1,...`` (or with an empty one) is refused."""
    with pytest.raises(ConfigError, match="needs --broker"):
        RunOptions(scenario=None, roster=roster, broker_kind="rabbitmq")
    with pytest.raises(ConfigError, match="empty URL"):
        RunOptions(scenario=None, roster=roster, broker_kind="rabbitmq", broker_url="mqtt://a:1,,mqtt://b:2")
    assert parse_cluster_urls("mqtt://a:1, a:1,b:2") == [("a", 1), ("b", 2)]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "--quiet", "--broker-kind", "rabbitmq"], ["ConfigError", "needs --broker"]),
        (["node", "--id", "RO", "--broker", "mqtt://127.0.0.1:1,"], ["ConfigError", "empty URL"]),
        (["fusion", "--broker", ",mqtt://127.0.0.1:1"], ["ConfigError", "empty URL"]),
        (
            ["run", "--quiet", "--external", "--broker", "mqtt://127.0.0.1:1,mqtt://127.0.0.1:2"],
            ["ConfigError", "list of members", "--broker-kind rabbitmq"],
        ),
        (
            ["up", "--external", "--broker", "mqtt://127.0.0.1:1,mqtt://127.0.0.1:2"],
            ["ConfigError", "--broker-kind rabbitmq"],
        ),
    ],
)
def test_cli_refuses_a_cluster_without_members(
    argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``gridsim run --broker-kind rabbitmq`` needs the members; a list with a hole, or a list without
    ``--broker-kind rabbitmq``, is refused."""
    code = main(argv)
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err


def test_services_and_nodes_are_spread_round_robin(roster: Roster) -> None:
    """Fifteen nodes and three services over three members: six each."""
    placed = placement(roster, 3)
    assert sorted(placed) == sorted([*roster, "fusion", "hub", "jcc"])
    assert sorted(list(placed.values()).count(k) for k in range(3)) == [6, 6, 6]


async def test_a_session_skips_a_member_that_is_down(mosquitto: BrokerInfo) -> None:
    """A member down at start is skipped; the next one serves, and a failover is not counted."""
    dead = (LOOPBACK, free_port())
    session = Session(
        host=dead[0], port=dead[1], client_id="t-skip", fallbacks=[(mosquitto.host, mosquitto.port)]
    )
    async with session:
        assert session.url == mosquitto.url
        await session.publish(topics.TRACKS, b"x")
    assert session.failovers == 0


# ------------------------------------------------------------------------- on the cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A three-member cluster for this module; stopped and removed afterwards, even on failure."""
    if not rabbitmq_available():
        pytest.skip("rabbitmq-server is not installed")
    with rabbitmq_cluster() as up:
        print(f"RabbitMQ cluster up in {up.bring_up_s:.1f} s")
        yield up


def _options(cluster: Cluster, roster: Roster, out: Path) -> RunOptions:
    return RunOptions(
        scenario=load_scenario(),
        roster=roster,
        speed=SPEED,
        broker_kind="rabbitmq",
        broker_url=",".join(cluster.urls),
        out_dir=out,
        workers=2,
        join_timeout_s=120.0,
    )


def _figures(summary: dict[str, Any]) -> str:
    threat = summary["threats"][0]
    latency = summary["latency_ms"]
    return (
        f"located {threat['time_to_locate_s']} s, "
        f"latency p50 {latency['p50']:.1f} ms p99 {latency['p99']:.1f} ms, "
        f"messages {summary['messages']}, failovers {summary['cluster']['failovers']}"
    )


def _check_accounts(summary: dict[str, Any]) -> None:
    messages = summary["messages"]
    assert summary["missing_accounts"] == []
    assert all(t["time_to_locate_s"] is not None for t in summary["threats"]), summary["threats"]
    # Every report the broker acknowledged reached the fusion centre: nothing lost.
    assert messages["published"] > 0
    assert messages["delivered"] == messages["published"]
    assert messages["lost"] == 0
    assert messages["rejected"] == {}


@needs_rabbitmq
@pytest.mark.broker
@pytest.mark.timeout(600)
async def test_retained_messages_reach_every_member(cluster: Cluster) -> None:
    """A retained message published via one member is seen by a new subscriber on each other one."""
    members = parse_cluster_urls(cluster.urls)
    topic = topics.status_topic("retained-probe")
    async with ClusterSession(members, first=0, client_id="t-retain-pub") as pub:
        await pub.publish(topic, b"hello", retain=True)
    for k, (host, port) in enumerate(members):
        async with Session(host=host, port=port, client_id=f"t-retain-sub{k}", subscriptions=[topic]) as sub:
            first: Received = await asyncio.wait_for(anext(aiter(sub.messages())), 30)
            assert (first.payload, first.retain) == (b"hello", True)
    async with ClusterSession(members, first=0, client_id="t-retain-clear") as pub:
        await pub.publish(topic, b"", retain=True)


def _rotated(urls: list[str], first: int) -> str:
    """The member list with member ``first`` first: where a process started on its own connects."""
    return ",".join([*urls[first:], *urls[:first]])


@needs_rabbitmq
@pytest.mark.broker
@pytest.mark.timeout(300)
def test_results_without_a_run_id_on_the_cluster(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    """``gridsim results --broker M2,M3,M1`` (no ``--run``) prints the latest run a grid on M1 kept."""
    members = parse_cluster_urls(cluster.urls)
    run_id = f"probe-{os.urandom(4).hex()}"
    payload = Envelope(
        body=RunResults(run_id=run_id, summary={"run_id": run_id}), origin="controller"
    ).to_bytes()
    latest = (topics.results_topic(run_id), topics.LATEST_RESULTS)

    async def publish(body: bytes) -> None:  # as `gridsim up` does, via member 1
        async with ClusterSession(members, first=0, client_id="t-results-pub") as pub:
            for topic in latest:
                await pub.publish(topic, body, retain=True)

    asyncio.run(publish(payload))
    try:
        code = main(["results", "--broker", _rotated(cluster.urls, 1), "--json", "--timeout", "60"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert json.loads(out)["run_id"] == run_id
    finally:
        asyncio.run(publish(b""))


@needs_rabbitmq
@pytest.mark.broker
@pytest.mark.timeout(900)
async def test_external_grid_on_the_cluster(
    cluster: Cluster, roster: Roster, tmp_path: Path, gridsim: GridsimProcesses
) -> None:
    """``gridsim run --external`` and ``up --external`` on the cluster drive ``gridsim fusion``, ``hub``
    and ``node`` processes, each given the member list with its own member first."""
    placed = placement(roster, len(cluster.urls))
    commands = [["fusion"], ["hub"], *(["node", "--id", node_id] for node_id in sorted(roster))]
    firsts = [placed["fusion"], placed["hub"], *(placed[node_id] for node_id in sorted(roster))]
    procs = []
    for k, (command, first) in enumerate(zip(commands, firsts, strict=True)):
        with (tmp_path / f"process-{k}.log").open("wb") as log:
            procs.append(
                gridsim.start(*command, "--broker", _rotated(cluster.urls, first), stdout=log, stderr=log)
            )
    scenario = load_scenario().model_copy(update={"duration_s": 45.0})
    external = dataclasses.replace(
        _options(cluster, roster, tmp_path / "run"),
        scenario=scenario,
        local_services=False,
        workers=0,
        join_timeout_s=300.0,  # seventeen processes starting on a loaded 2-core machine beside the cluster
    )
    try:
        summary = await run_grid(external)
        print("run --external:", _figures(summary))
        _check_accounts(summary)
        assert set(summary["per_node"]) == set(roster)
        assert "placement" not in summary["cluster"]  # each process chose its own first member
        ready = asyncio.Event()
        up = dataclasses.replace(external, scenario=None, out_dir=tmp_path / "up")
        grid = asyncio.create_task(serve_grid(up, on_ready=lambda _: ready.set()), name="test.grid")
        try:
            await asyncio.wait_for(ready.wait(), 300)
            injected = await inject(scenario, broker_url=_rotated(cluster.urls, 2), speed=SPEED, wait=True)
            assert injected is not None
            print("up --external, injected:", _figures({**injected, "cluster": {"failovers": "-"}}))
            _check_accounts(injected)
            latest = await fetch_results(_rotated(cluster.urls, 1), run_id=None, timeout_s=60)
            assert latest["run_id"] == injected["run_id"]
        finally:
            grid.cancel()
            with pytest.raises(asyncio.CancelledError):
                await grid
    finally:
        codes = await gridsim.stop_async(*procs)
    assert codes == [130] * len(procs), "every process stopped cleanly on Ctrl-C"


@needs_rabbitmq
@pytest.mark.broker
@pytest.mark.timeout(600)
async def test_grid_spread_over_the_cluster(cluster: Cluster, roster: Roster, tmp_path: Path) -> None:
    """The default scenario with the grid spread over three members: located, nothing lost."""
    summary = await run_grid(_options(cluster, roster, tmp_path))
    print(_figures(summary))
    assert summary["broker"]["kind"] == "rabbitmq"
    assert [len(ids) for ids in summary["cluster"]["placement"].values()] == [6, 6, 6]
    _check_accounts(summary)
    assert summary["cluster"]["failovers"] == 0


@needs_rabbitmq
@pytest.mark.broker
@pytest.mark.timeout(600)
async def test_member_killed_mid_run(cluster: Cluster, roster: Roster, tmp_path: Path) -> None:
    """Member 3 killed at sim 60 s: its nodes fail over to the others, every report is accounted for.

    Runs last in this module: the cluster has two members afterwards.
    """
    victim = cluster.members[2]
    killed: list[asyncio.Future[None]] = []

    def on_progress(progress: Progress) -> None:
        if not killed and progress.sim_time_s >= KILL_AT_S:
            killed.append(asyncio.get_running_loop().run_in_executor(None, cluster.kill_member, victim))

    summary = await run_grid(_options(cluster, roster, tmp_path), on_progress=on_progress)
    print(_figures(summary))
    assert killed, "the run ended before the member was killed"
    await killed[0]
    assert not victim.running
    on_victim = set(summary["cluster"]["placement"][victim.url])
    # Every node and service that was on the killed member moved to another one; no other did.
    assert set(summary["cluster"]["failovers_by_node"]) == on_victim
    _check_accounts(summary)


@pytest.mark.broker
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("command", "says"),
    [(["node", "--id", "RO"], "RO connected"), (["fusion"], "fusion connected"), (["hub"], "jcc connected")],
)
def test_service_commands_take_a_list_of_members(
    command: list[str], says: str, mosquitto: BrokerInfo, gridsim: GridsimProcesses
) -> None:
    """``gridsim node|fusion|hub --broker DEAD,LIVE`` skips the member that is down and serves on the next."""
    dead = f"mqtt://{LOOPBACK}:{free_port()}"
    proc = gridsim.start(
        *command,
        "--broker",
        f"{dead},{mosquitto.url}",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    err_seen = ""
    while says not in err_seen and (line := proc.stderr.readline()):
        err_seen += line
    assert says in err_seen, err_seen
    (code,) = gridsim.stop(proc)
    assert code == 130


@pytest.mark.broker
@pytest.mark.timeout(120)
def test_the_member_list_may_come_from_the_environment(
    mosquitto: BrokerInfo, gridsim: GridsimProcesses
) -> None:
    """``GRID_BROKER_URL=DEAD,LIVE gridsim fusion`` serves on the live member."""
    dead = f"mqtt://{LOOPBACK}:{free_port()}"
    env = {**os.environ, "GRID_BROKER_URL": f"{dead},{mosquitto.url}"}
    proc = gridsim.start("fusion", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    err_seen = ""
    while "connected" not in err_seen and (line := proc.stderr.readline()):
        err_seen += line
    assert "fusion connected" in err_seen, err_seen
    (code,) = gridsim.stop(proc)
    assert code == 130
