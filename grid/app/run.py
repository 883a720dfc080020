"""``gridsim run`` and ``gridsim up``: a broker, fifteen nodes, the fusion centre, the cyber-exchange
hub and the Joint Cyber Centre.

``run`` announces one scenario on the retained control topic (scenario, seed, speed and the
wall-clock epoch of simulation time 0), follows it and writes ``summary.json``. ``up`` keeps the
grid running with no scripted threats; every scenario injected with ``gridsim inject`` is played
and its summary published on ``grid/v1/results/<run>`` and written under ``--out``.

The nodes and the fusion centre run in this process (``RunOptions.workers == 0``, the library's
default), in worker processes (:mod:`grid.app.workers`; the CLI's default, one per core), or are
other processes on the broker (``local_services=False``) that the controller waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from grid.app.cluster import Members, check_roster, is_cluster, members_of, placement, session_factory
from grid.app.controller import RunController
from grid.app.faults import play_faults
from grid.app.federation import RunBrokers, open_run_brokers
from grid.app.outsiders import play_outsiders
from grid.app.workers import WorkerPool, grid_services, worker_processes, worker_specs
from grid.cyber.taxii import TaxiiTarget
from grid.errors import ConfigError, CyberExportError, RunError
from grid.mqtt.broker import BrokerInfo
from grid.mqtt.federation import plan_federation
from grid.mqtt.rabbitmq import ClusterSession
from grid.mqtt.session import BrokerSession, Session
from grid.participants.air_picture import DEFAULT_TRACK_INTERVAL_S, check_track_interval
from grid.participants.jcc import DEFAULT_ANALYSIS_S, check_analysis
from grid.participants.node import MemberNode
from grid.participants.service import (
    CONTROLLER_ID,
    SERVICE_IDS,
    ActiveRun,
    GridService,
)
from grid.results.cyber_export import OBJECTS_FILE, export_bundle
from grid.results.observed import Observed, Progress
from grid.results.run_data import write_run_data
from grid.results.summary import federation_section
from grid.security.acl import render_acl
from grid.security.broker_tls import SecureSetup
from grid.security.certs import SERVICE_NAMES, CertsLayout, write_certs
from grid.security.signing import DEFAULT_REPLAY_WINDOW_S, SigningKeys, temporary_keys
from grid.security.tls import Credentials, active_credentials, use_credentials
from grid.wire import topics
from grid.wire.counters import CounterName
from grid.wire.messages import Envelope, RunAction, RunControl, RunResults
from grid.world.roster import Roster
from grid.world.scenario import Scenario

__all__ = ["Progress", "RunOptions", "new_start", "run_grid", "serve_grid"]

log = logging.getLogger(__name__)

_START_LEAD_S = 0.5  # wall seconds between announcing a run and its simulation time 0

BrokerKindOption = Literal["auto", "mosquitto", "amqtt", "rabbitmq"]


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """What ``gridsim run`` (or ``gridsim up``) was asked to do."""

    scenario: Scenario | None  # None for ``up``: scenarios are injected later
    roster: Roster
    speed: float = 1.0
    broker_url: str | None = None
    broker_kind: BrokerKindOption = "auto"
    broker_port: int | None = None
    out_dir: Path | None = None
    local_services: bool = True  # False: nodes and fusion are other processes on the broker
    join_timeout_s: float = 30.0
    fuse_locally: bool = False  # distributed mode: every node also fuses and scores its own picture
    # Local services in this many node processes, plus one for the fusion centre; 0: all in this
    # process (the library's default, so in-process callers and tests stay in one process).
    workers: int = 0
    track_interval_s: float = DEFAULT_TRACK_INTERVAL_S  # the fusion centre's air picture (0: every update)
    taxii: TaxiiTarget | None = None  # the hub pushes its feed to this TAXII 2.1 collection
    analysis_s: float = DEFAULT_ANALYSIS_S  # the Joint Cyber Centre's analysis delay, simulation s
    federated: bool = False  # a Mosquitto per grid and a core, bridged (grid.app.federation)
    dashboard_port: int | None = None  # serve the live map on 127.0.0.1:PORT (0: a free one) during the run
    # Mutual TLS and the roster's ACL; every participant presents its own certificate from
    # ``certs`` (made for the run in a temporary folder when None). ``certs`` implies ``secure``.
    secure: bool = False
    certs: Path | None = None
    # Signed reports: nodes sign with the keys in sign_keys (DIR/signing/<node>.key), or with fresh
    # keys in a temporary directory when only ``sign`` is set; the fusion centre, hub and nodes verify.
    sign: bool = False
    sign_keys: Path | None = None
    replay_window_s: float = DEFAULT_REPLAY_WINDOW_S
    # Fault injection: SIGKILL the fusion centre's worker at this simulation time, restart it
    # fusion_down_s simulation seconds later (it resumes its session and journal): grid.app.faults.
    kill_fusion_at_s: float | None = None
    fusion_down_s: float = 5.0

    def __post_init__(self) -> None:
        if self.certs is not None:
            object.__setattr__(self, "secure", True)
        if self.secure and self.broker_kind in ("amqtt", "rabbitmq"):
            raise ConfigError("secure mode runs on Mosquitto: not with amqtt/rabbitmq")
        if self.secure and self.broker_url is not None and self.certs is None:
            raise ConfigError(
                "secure mode on an external broker needs --certs DIR: the PKI that broker trusts"
            )
        if self.federated and not self.local_services:
            raise ConfigError("a federated grid starts its own brokers: its nodes and fusion run here")
        if self.workers < 0:
            raise ConfigError(f"workers must be 0 or more, got {self.workers}")
        if self.kill_fusion_at_s is not None:
            self._check_fusion_kill()
        check_track_interval(self.track_interval_s)
        check_analysis(self.analysis_s)
        if self.broker_url is not None and is_cluster(self.broker_url) and self.broker_kind != "rabbitmq":
            raise ConfigError(
                f"--broker {self.broker_url!r} is a list of members: a cluster needs --broker-kind rabbitmq"
            )
        if self.broker_kind == "rabbitmq":
            if self.broker_url is None:
                raise ConfigError(
                    "--broker-kind rabbitmq needs --broker URL1,URL2,...: the cluster's members"
                )
            members_of(self.broker_url)
            check_roster(self.roster)

    def _check_fusion_kill(self) -> None:
        at_s, down_s = self.kill_fusion_at_s, self.fusion_down_s
        if not self.local_services or self.workers < 1 or self.broker_kind == "rabbitmq" or self.federated:
            raise ConfigError(
                "--kill-fusion-at kills the fusion centre's worker process: it needs --workers N "
                "(N >= 1) on one broker (not --external, a cluster or --federated)"
            )
        if self.scenario is None:
            raise ConfigError("--kill-fusion-at needs a scenario (gridsim run)")
        if at_s is None or at_s < 0 or down_s <= 0 or at_s + down_s >= self.scenario.duration_s:
            raise ConfigError(
                f"--kill-fusion-at {at_s:g} s, down {down_s:g} s, must end before the scenario's "
                f"{self.scenario.duration_s:g} s"
            )

    @property
    def cluster(self) -> Members:
        """The RabbitMQ cluster's members; empty for one broker."""
        return members_of(self.broker_url) if self.broker_kind == "rabbitmq" and self.broker_url else ()


def _slug(name: str) -> str:
    """A scenario name cut down to what a topic segment allows (no ``.``: RabbitMQ splits on it)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_")[:24] or "run"


def new_start(scenario: Scenario, *, speed: float, lead_s: float = _START_LEAD_S) -> RunControl:
    """A start message for ``scenario`` whose simulation time 0 is ``lead_s`` from now."""
    return RunControl(
        action=RunAction.START,
        run_id=f"{_slug(scenario.name)}-{os.urandom(4).hex()}",
        epoch_ns=time.time_ns() + int(lead_s * 1e9),
        speed=speed,
        seed=scenario.seed,
        scenario=scenario.to_dict(),
    )


async def _run_service(service: GridService) -> None:
    async with service:
        await service.serve()


@contextlib.asynccontextmanager
async def _participants(
    options: RunOptions, brokers: RunBrokers, signing: SigningKeys | None
) -> AsyncIterator[WorkerPool | None]:
    """The fusion centre and every member node (each on its home broker when federated), serving
    here or in worker processes (their pool)."""
    broker = brokers.core
    if not options.local_services:
        yield None
        return
    if options.workers:
        # The fusion centre journals its reports only when it is to be killed: it then resumes.
        journal = (
            None if options.kill_fusion_at_s is None else Path(tempfile.mkdtemp(prefix="gridsim-journal-"))
        )
        specs = worker_specs(
            options.roster,
            workers=options.workers,
            host=broker.host,
            port=broker.port,
            fuse_locally=options.fuse_locally,
            track_interval_s=options.track_interval_s,
            taxii=options.taxii,
            analysis_s=options.analysis_s,
            homes=brokers.homes(options.roster),
            cluster=options.cluster,
            signing=signing,
            journal_dir=journal,
        )
        if (credentials := active_credentials()) is not None:
            specs = [dataclasses.replace(spec, certs=str(credentials.certs)) for spec in specs]
        try:
            async with worker_processes(specs, options.roster, log_dir=options.out_dir) as pool:
                yield pool
        finally:
            if journal is not None:
                shutil.rmtree(journal, ignore_errors=True)
        return
    services: list[GridService] = grid_services(
        options.roster,
        broker.host,
        broker.port,
        cluster=options.cluster,
        track_interval_s=options.track_interval_s,
        taxii=options.taxii,
        analysis_s=options.analysis_s,
        signing=signing,
    )
    services += [
        MemberNode(
            member,
            roster=options.roster,
            host=brokers.home(member.id)[0],
            port=brokers.home(member.id)[1],
            fuse_locally=options.fuse_locally,
            session_factory=session_factory(options.cluster, member.id, options.roster),
            signing=signing,
        )
        for member in options.roster.values()
    ]
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(_run_service(s), name=f"grid[{s.service_id}].serve") for s in services]
        try:
            # A service that fails to connect fails the group, which cancels this wait.
            async with asyncio.timeout(15):
                for service in services:
                    await service.ready.wait()
            yield None
        finally:
            for task in tasks:
                task.cancel()


async def _await_workers(controller: RunController, pool: WorkerPool, timeout_s: float) -> None:
    """Wait for the workers' services; a worker that exits meanwhile fails the pool, which cancels this."""
    try:
        await controller.await_online(timeout_s)
    except RunError:
        raise pool.not_online({*SERVICE_IDS, *controller.roster} - controller.online, timeout_s) from None


@contextlib.contextmanager
def _run_credentials(options: RunOptions) -> Iterator[Credentials | None]:
    """Secure mode's certificates: ``options.certs``, else a new test PKI removed at exit."""
    if not options.secure:
        yield None
        return
    if options.certs is not None:
        CertsLayout(options.certs).check(*SERVICE_NAMES, *options.roster)
        yield Credentials(options.certs)
        return
    folder = Path(tempfile.mkdtemp(prefix="gridsim-certs-"))
    bridges = [b.identity for b in plan_federation(options.roster).bridges] if options.federated else []
    try:
        yield Credentials(write_certs(folder / "certs", options.roster, bridges=bridges).root)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _signing_section(options: RunOptions) -> dict[str, Any]:
    """Whether the run's reports were signed, with which keys, and the replay window."""
    if options.sign_keys is None and not (options.sign and options.local_services):
        return {"signed": False}
    keys = "temporary" if options.sign_keys is None else str(options.sign_keys)
    return {"signed": True, "keys": keys, "replay_window_s": options.replay_window_s}


@contextlib.asynccontextmanager
async def _signing(options: RunOptions) -> AsyncIterator[SigningKeys | None]:
    """The run's signing keys: from ``sign_keys``, fresh ones (removed on exit) for ``sign``, or none."""
    with contextlib.ExitStack() as stack:
        directory = options.sign_keys
        if directory is None and options.sign and options.local_services:
            directory = stack.enter_context(temporary_keys(options.roster))
        if directory is None:
            yield None
        else:
            yield SigningKeys.load(directory, options.roster, replay_window_s=options.replay_window_s)


@contextlib.asynccontextmanager
async def _dashboard(
    options: RunOptions, broker: BrokerInfo, on_dashboard: Callable[[str], None] | None
) -> AsyncIterator[None]:
    """The live map on the core broker, when asked for: up before the nodes, so it sees them come online."""
    if options.dashboard_port is None:
        yield
        return
    from grid.app.dashboard.server import Dashboard  # aiohttp loads only for a run that serves the map

    async with Dashboard(
        roster=options.roster, broker=(broker.host, broker.port), port=options.dashboard_port
    ) as dash:
        if on_dashboard is not None:
            on_dashboard(dash.url)
        yield


@contextlib.asynccontextmanager
async def _grid(
    options: RunOptions,
    on_dashboard: Callable[[str], None] | None = None,
    pools: list[WorkerPool] | None = None,
) -> AsyncIterator[tuple[RunController, RunBrokers]]:
    """Broker(s), the live map if asked for, participants and a watching controller, all torn down on
    exit (the worker pool, if any, appended to ``pools``)."""
    cluster = options.cluster
    url = options.broker_url if not cluster else f"mqtt://{cluster[0][0]}:{cluster[0][1]}"
    kind = "auto" if options.broker_kind == "rabbitmq" else options.broker_kind
    with _run_credentials(options) as credentials, use_credentials(credentials):
        secure = None if credentials is None else SecureSetup(credentials.certs, render_acl(options.roster))
        async with _grid_on(options, url, kind, secure, on_dashboard=on_dashboard, pools=pools) as grid:
            yield grid


@contextlib.asynccontextmanager
async def _grid_on(
    options: RunOptions,
    url: str | None,
    kind: Literal["auto", "mosquitto", "amqtt"],
    secure: SecureSetup | None,
    *,
    on_dashboard: Callable[[str], None] | None,
    pools: list[WorkerPool] | None,
) -> AsyncIterator[tuple[RunController, RunBrokers]]:
    cluster = options.cluster
    # Keys are loaded (and a bad key file refused) before any broker or worker starts.
    async with (
        _signing(options) as signing,
        open_run_brokers(
            roster=options.roster,
            federated=options.federated,
            url=url,
            kind=kind,
            port=options.broker_port,
            log_dir=options.out_dir,
            secure=secure,
        ) as brokers,
    ):
        broker = dataclasses.replace(brokers.core, kind="rabbitmq") if cluster else brokers.core
        client_id = f"gridsim-controller-{os.getpid()}"
        session: BrokerSession = (
            ClusterSession(cluster, first=0, client_id=client_id)
            if cluster
            else Session(host=broker.host, port=broker.port, client_id=client_id)
        )
        controller = RunController(roster=options.roster, broker=broker, transport=session, signing=signing)
        # The controller connects first: an unreachable broker fails at once, before any worker starts.
        async with (
            session,
            _dashboard(options, broker, on_dashboard),
            _participants(options, brokers, signing) as pool,
            asyncio.TaskGroup() as group,
        ):
            if pool is not None and pools is not None:
                pools.append(pool)
            await controller.subscribe()
            if cluster:
                # RabbitMQ serves retained messages to exact filters only: after a failover the
                # controller reads every status again by name.
                await session.subscribe(*(topics.status_topic(i) for i in [*SERVICE_IDS, *options.roster]))
            watcher = group.create_task(controller.watch(), name="grid[controller].watch")
            if pool is not None:
                await _await_workers(controller, pool, options.join_timeout_s)
            elif not options.local_services:
                await controller.await_online(options.join_timeout_s)
            try:
                yield controller, brokers
            finally:
                # Clear the retained control message; a broker that is down meanwhile is not waited for.
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2.0):
                        await session.publish(topics.CONTROL, b"", retain=True)
                watcher.cancel()


def _add_federation(summary: dict[str, Any], brokers: RunBrokers) -> None:
    """A federated run's summary says which brokers and bridges it had, and the duplicates dropped."""
    if brokers.federation is not None:
        summary["federation"] = federation_section(brokers.federation.to_dict(), summary)


def _worker_count(options: RunOptions) -> int:
    """The node processes the run used: 0 when the nodes ran in this process (or elsewhere)."""
    return min(options.workers, len(options.roster)) if options.local_services else 0


def _write(
    out_dir: Path | None,
    summary: dict[str, Any],
    cyber_objects: list[Any],
    *,
    scenario: Scenario,
    roster: Roster,
    seen: Observed | None,
) -> None:
    """The run report's data files (:mod:`grid.results.run_data`), ``summary.json``,
    ``cyber-objects.json`` (every object the hub shared, a JSON list of STIX 2.1
    objects in bundle order; ``[]`` for a run without indicators or without the hub's account) and,
    when the hub shared anything, ``cyber-bundle.json``: the STIX bundle, checked, its report in
    ``summary["cyber"]["export"]``."""
    if out_dir is None:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    if seen is not None:
        write_run_data(out_dir, scenario=scenario, roster=roster, seen=seen)
    (out_dir / OBJECTS_FILE).write_text(json.dumps(cyber_objects, indent=2) + "\n", encoding="utf-8")
    if cyber_objects and isinstance(cyber := summary.get("cyber"), dict):
        try:
            cyber["export"] = export_bundle(out_dir).as_dict()
        except CyberExportError as exc:  # the run's result stands; the export says what failed
            log.warning("%s", exc)
            cyber["export"] = {"error": str(exc)}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


async def run_grid(
    options: RunOptions,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    on_dashboard: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Play ``options.scenario`` on a grid and return the summary (also written to ``out_dir``);
    ``on_dashboard`` is told the live map's URL once it serves (``options.dashboard_port``)."""
    assert options.scenario is not None
    wall_start = time.monotonic()
    pools: list[WorkerPool] = []
    async with _grid(options, on_dashboard, pools) as (controller, brokers):
        start = new_start(options.scenario, speed=options.speed)
        async with (
            play_faults(options, start, pools, controller) as faults,
            play_outsiders(options, start, brokers, controller) as outsiders,
        ):
            summary = await controller.conduct(
                start,
                announce=True,
                on_progress=on_progress,
                before_end=outsiders.settled_after(faults.settled),
            )
        outsiders.add_accounts(summary)
        if faults.played:
            summary["faults"] = [f.to_dict() for f in faults.played]
        objects = controller.cyber_objects.pop(start.run_id, [])
        seen = controller.observations.pop(start.run_id, None)
        _add_federation(summary, brokers)
    summary["wall_time_s"] = round(time.monotonic() - wall_start, 2)
    summary["workers"] = _worker_count(options)
    summary["signing"] = _signing_section(options)
    if options.secure:
        summary["security"] = security_section(options)
    if options.cluster:
        summary["cluster"] = cluster_account(options, summary)
    _write(options.out_dir, summary, objects, scenario=options.scenario, roster=options.roster, seen=seen)
    return summary


def security_section(options: RunOptions) -> dict[str, Any]:
    """A secure run's part of a summary: how its participants (and a federation's bridges) connected,
    and whose certificates."""
    section = {
        "transport": "mqtts: mutual TLS 1.2+, broker and client certificates verified",
        "acl": "generated from the roster (grid.security.acl); anonymous access off",
        "certs": str(options.certs) if options.certs is not None else "temporary test PKI, removed at exit",
    }
    if options.federated:
        section["acl"] = "one per broker, for its own clients (grid.mqtt.secure_federation); anonymous off"
        section["bridges"] = (
            "mutual TLS 1.2+, host name checked; a certificate per bridge, reading its topics"
        )
    return section


def cluster_account(options: RunOptions, summary: dict[str, Any]) -> dict[str, Any]:
    """The RabbitMQ cluster's part of a summary: members, who started where, failovers."""
    members = options.cluster
    counters: dict[str, dict[str, int]] = {**summary.get("per_node", {}), **summary.get("per_service", {})}
    failovers = {n: c.get(CounterName.FAILOVERS, 0) for n, c in counters.items()}
    account: dict[str, Any] = {"members": [f"mqtt://{h}:{p}" for h, p in members]}
    if options.local_services:  # with --external each process chose its own first member
        placed = placement(options.roster, len(members))
        account["placement"] = {
            f"mqtt://{h}:{p}": sorted(i for i, k in placed.items() if k == m)
            for m, (h, p) in enumerate(members)
        }
    account["failovers"] = sum(failovers.values())
    account["failovers_by_node"] = {n: v for n, v in sorted(failovers.items()) if v}
    return account


async def serve_grid(
    options: RunOptions,
    *,
    on_ready: Callable[[BrokerInfo], None] | None = None,
    on_summary: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Keep a grid up and play every injected scenario, one at a time, until cancelled."""
    async with _grid(options) as (controller, brokers):
        if on_ready is not None:
            on_ready(controller.broker)
        while True:
            start = await controller.injected.get()
            try:
                if ActiveRun.from_control(start).is_over():
                    continue  # a retained start of a run that is over
                summary = await controller.conduct(start, announce=False)
                summary["workers"] = _worker_count(options)
                _add_federation(summary, brokers)
            except Exception:
                log.exception("run %s could not be conducted", start.run_id)
                continue
            results = RunResults(run_id=start.run_id, summary=summary)
            payload = Envelope(body=results, origin=CONTROLLER_ID).to_bytes()
            # Also on one exact topic for `gridsim results` without --run: on RabbitMQ a wildcard
            # subscription is never sent retained messages.
            for topic in (topics.results_topic(start.run_id), topics.LATEST_RESULTS):
                await controller.transport.publish(topic, payload, retain=True)
            objects = controller.cyber_objects.pop(start.run_id, [])
            seen = controller.observations.pop(start.run_id, None)
            out_dir = None if options.out_dir is None else options.out_dir / start.run_id
            scenario = ActiveRun.from_control(start).scenario
            _write(out_dir, summary, objects, scenario=scenario, roster=options.roster, seen=seen)
            if on_summary is not None:
                on_summary(summary)
