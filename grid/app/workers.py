"""Worker processes: the member nodes spread over N child processes, the fusion centre in one more
(with the cyber-exchange hub and the Joint Cyber Centre, which cost little beside it).

One Python process caps the grid at one core (the GIL). With ``gridsim run --workers N`` the
parent keeps the controller and the broker it started; each child runs its share of the grid's
services in one asyncio loop. The parent starts every child at once (each spends about a second
importing numpy, scipy and pydantic), hands it its part as JSON on stdin (the roster included, so
a roster built in code works too), fails with a :class:`~grid.errors.RunError` quoting the tail
of a child's log if the child exits while the grid is up, and on exit stops them all: SIGTERM, a
grace, SIGKILL, reap. A child stops on SIGTERM (saying offline first) and gets SIGTERM when the
parent dies, however it died (PDEATHSIG).

The child's entry is ``python -m grid.app.workers``: internal, its spec arrives on stdin.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from grid.app.cluster import Members, session_factory
from grid.app.signals import Stopped, run_async, stop_signals
from grid.cyber.taxii import TaxiiTarget
from grid.errors import ConfigError, GridError, RunError
from grid.mqtt.process import die_with_parent_hook, stop_process
from grid.mqtt.session import SessionFactory, broker_sessions
from grid.participants.air_picture import DEFAULT_TRACK_INTERVAL_S
from grid.participants.centre import FusionCentre
from grid.participants.hub import CyberHub
from grid.participants.jcc import DEFAULT_ANALYSIS_S, JointCyberCentre
from grid.participants.node import MemberNode
from grid.participants.service import FUSION_ID, HUB_ID, JCC_ID, SERVICE_IDS, GridService
from grid.security.signing import DEFAULT_REPLAY_WINDOW_S, SigningKeys
from grid.security.tls import Credentials, use_credentials
from grid.world.roster import MemberState, Roster

__all__ = [
    "WorkerPool",
    "WorkerSpec",
    "default_workers",
    "grid_services",
    "plan_workers",
    "worker_processes",
    "worker_specs",
]

log = logging.getLogger(__name__)

_ENTRY = ("-m", "grid.app.workers")
_LOG_TAIL_BYTES = 4000
_LOG_TAIL_LINES = 15


def default_workers() -> int:
    """The cores this process may run on (its affinity mask, which cgroups and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def plan_workers(node_ids: Iterable[str], workers: int) -> list[tuple[str, ...]]:
    """Round-robin over the sorted ids: ``workers`` groups (fewer if fewer nodes), sizes within one.

    Not by expected load: that depends on the scenario (which threats pass which sensors), and
    ``gridsim up`` starts its workers before any scenario is known.
    """
    ids = sorted(node_ids)
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    count = min(workers, len(ids))
    return [tuple(ids[k::count]) for k in range(count)]


@dataclass(frozen=True, kw_only=True)
class WorkerSpec:
    """What one child process runs: some member nodes, or the grid's services (the fusion centre,
    the cyber-exchange hub and the Joint Cyber Centre), on one broker."""

    name: str  # worker-<k> or fusion: its log file's name
    host: str
    port: int
    nodes: tuple[str, ...] = ()
    fusion: bool = False
    fuse_locally: bool = False
    track_interval_s: float = DEFAULT_TRACK_INTERVAL_S
    taxii: TaxiiTarget | None = None  # the hub's TAXII collection
    analysis_s: float = DEFAULT_ANALYSIS_S  # the Joint Cyber Centre's analysis delay
    log_level: int = logging.WARNING
    # (node, host, port) of nodes on a broker of their own (federated grids), not host:port
    homes: tuple[tuple[str, str, int], ...] = ()
    cluster: Members = ()  # a RabbitMQ cluster's members (host, port): each service on its own
    certs: str | None = None  # secure mode: the certificates folder; each service presents its own
    sign_keys: str | None = None  # key directory: nodes sign their reports, the receivers verify them
    replay_window_s: float = DEFAULT_REPLAY_WINDOW_S
    journal_dir: str | None = None  # the services journal what they receive here (grid.participants.journal)
    resume: bool = False  # a restart: the services resume their sessions and their journals

    def __post_init__(self) -> None:
        if not self.nodes and not self.fusion:
            raise ValueError(f"{self.name}: a worker needs nodes or the fusion centre")

    def home(self, node_id: str) -> tuple[str, int]:
        """The broker ``node_id`` connects to: its own home, else the spec's."""
        for node, host, port in self.homes:
            if node == node_id:
                return host, port
        return self.host, self.port

    @property
    def services(self) -> tuple[str, ...]:
        """The service ids this child should bring online."""
        return (SERVICE_IDS if self.fusion else ()) + self.nodes

    def to_json(self, roster: Roster) -> bytes:
        """The spec and the roster, as the child reads them from stdin."""
        # exclude_unset: the validators read which fields a file set (a default is not "given").
        members = [m.model_dump(mode="json", exclude_unset=True) for m in roster.values()]
        spec = {
            "name": self.name,
            "host": self.host,
            "port": self.port,
            "nodes": list(self.nodes),
            "fusion": self.fusion,
            "fuse_locally": self.fuse_locally,
            "track_interval_s": self.track_interval_s,
            # Credentials travel on the child's stdin, never on its command line.
            "taxii": None if self.taxii is None else dataclasses.asdict(self.taxii),
            "analysis_s": self.analysis_s,
            "log_level": self.log_level,
            "homes": [list(h) for h in self.homes],
            "cluster": [list(m) for m in self.cluster],
            "certs": self.certs,
            "sign_keys": self.sign_keys,
            "replay_window_s": self.replay_window_s,
            "journal_dir": self.journal_dir,
            "resume": self.resume,
        }
        return json.dumps({"spec": spec, "roster": members}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> tuple[WorkerSpec, Roster]:
        """Inverse of :meth:`to_json`."""
        loaded: dict[str, Any] = json.loads(data)
        spec = loaded["spec"]
        roster = Roster([MemberState.model_validate(m) for m in loaded["roster"]])
        taxii = None if spec.get("taxii") is None else TaxiiTarget(**spec["taxii"])
        homes = tuple((str(n), str(h), int(p)) for n, h, p in spec.get("homes", ()))
        cluster = tuple((str(h), int(p)) for h, p in spec.get("cluster", ()))
        fields = {"nodes": tuple(spec["nodes"]), "taxii": taxii, "homes": homes, "cluster": cluster}
        return cls(**{**spec, **fields}), roster


def worker_specs(
    roster: Roster,
    *,
    workers: int,
    host: str,
    port: int,
    fuse_locally: bool = False,
    track_interval_s: float = DEFAULT_TRACK_INTERVAL_S,
    taxii: TaxiiTarget | None = None,
    analysis_s: float = DEFAULT_ANALYSIS_S,
    homes: Mapping[str, tuple[str, int]] | None = None,
    cluster: Members = (),
    signing: SigningKeys | None = None,
    journal_dir: Path | None = None,
) -> list[WorkerSpec]:
    """The services' process (fusion, hub, JCC) and ``workers`` node processes for a grid on ``host:port``
    (each node on ``homes[node]`` instead, when given: federated grids)."""
    level = logging.getLogger("grid").getEffectiveLevel()
    keys: dict[str, Any] = (
        {}
        if signing is None
        else {"sign_keys": str(signing.directory), "replay_window_s": signing.replay_window_s}
    )
    fusion = WorkerSpec(
        name="fusion",
        host=host,
        port=port,
        fusion=True,
        track_interval_s=track_interval_s,
        taxii=taxii,
        analysis_s=analysis_s,
        log_level=level,
        cluster=cluster,
        **keys,
        journal_dir=None if journal_dir is None else str(journal_dir),
    )
    specs = [fusion]
    specs += [
        WorkerSpec(
            name=f"worker-{k}",
            host=host,
            port=port,
            nodes=nodes,
            fuse_locally=fuse_locally,
            log_level=level,
            homes=() if homes is None else tuple((n, *homes[n]) for n in nodes),
            cluster=cluster,
            **keys,
        )
        for k, nodes in enumerate(plan_workers(roster, workers))
    ]
    return specs


@dataclass(eq=False)
class _Child:
    spec: WorkerSpec
    log_file: IO[bytes]
    log_path: Path | None
    proc: asyncio.subprocess.Process | None = None
    expected_exit: bool = False  # killed on purpose (fault injection): its exit is not a failure

    def describe(self) -> str:
        where = f" (log {self.log_path})" if self.log_path is not None else ""
        return f"{self.spec.name} [{', '.join(self.spec.services)}]{where}"

    def log_tail(self) -> str:
        """The end of the child's output; read without moving the offset the child writes at."""
        fd = self.log_file.fileno()
        size = os.fstat(fd).st_size
        start = max(0, size - _LOG_TAIL_BYTES)
        text = os.pread(fd, size - start, start).decode("utf-8", errors="replace")
        lines = text.strip().splitlines()[-_LOG_TAIL_LINES:]
        return (
            f"; {self.spec.name} log:\n" + "\n".join(lines) if lines else f"; {self.spec.name} log is empty"
        )


@dataclass(eq=False)
class WorkerPool:
    """The running children; :func:`worker_processes` owns them."""

    children: list[_Child] = field(default_factory=list)
    stopping: bool = False
    _group: asyncio.TaskGroup | None = None  # the watchers' (a restarted child gets one there)

    @property
    def pids(self) -> list[int]:
        """Process ids of the children that were started."""
        return [c.proc.pid for c in self.children if c.proc is not None]

    def not_online(self, missing: Iterable[str], timeout_s: float) -> RunError:
        """The error for services still offline after ``timeout_s``, with their workers' logs."""
        gone = set(missing)
        late = [c for c in self.children if gone & set(c.spec.services)]
        tails = "".join(c.log_tail() for c in late)
        return RunError(
            f"not online after {timeout_s:.0f} s: {', '.join(sorted(gone))} "
            f"(in {', '.join(c.spec.name for c in late)}){tails}"
        )

    async def _watch(self, child: _Child) -> None:
        """Fail the pool (and so the grid) when a child exits while the grid is up."""
        assert child.proc is not None
        code = await child.proc.wait()
        if self.stopping or child.expected_exit:
            return
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        raise RunError(f"{child.describe()} {how}{child.log_tail()}")

    async def kill(self, name: str) -> None:
        """SIGKILL the child ``name`` (a crash: no goodbye, the broker sends its last will) and reap it."""
        child = self._child(name)
        assert child.proc is not None
        child.expected_exit = True
        with contextlib.suppress(ProcessLookupError):
            child.proc.kill()
        await child.proc.wait()

    async def restart(self, name: str, roster: Roster, python: Sequence[str] = (sys.executable,)) -> None:
        """Start the killed child ``name`` again, resuming (its session, the fusion centre's journal)."""
        child = self._child(name)
        child.spec = dataclasses.replace(child.spec, resume=True)
        child.expected_exit = False
        await _start(child, roster, python)
        assert self._group is not None
        self._group.create_task(self._watch(child), name=f"grid[{name}].watch")

    def _child(self, name: str) -> _Child:
        for child in self.children:
            if child.spec.name == name:
                return child
        raise RunError(f"no worker named {name!r}")

    async def _stop(self) -> None:
        """Stop every child at once (SIGTERM, grace, SIGKILL, reap); finished even if cancelled meanwhile."""
        self.stopping = True
        procs = [c.proc for c in self.children if c.proc is not None]
        stopping = asyncio.gather(*(stop_process(p) for p in procs))
        cancelled: asyncio.CancelledError | None = None
        while not stopping.done():
            try:
                await asyncio.shield(stopping)
            except asyncio.CancelledError as exc:
                cancelled = exc
        stopping.result()
        if cancelled is not None:
            raise cancelled


def _open_log(spec: WorkerSpec, log_dir: Path | None, files: contextlib.ExitStack) -> _Child:
    """The child's log file: ``log_dir/<name>.log``, or an anonymous temporary file (nothing left behind)."""
    if log_dir is None:
        return _Child(spec, files.enter_context(tempfile.TemporaryFile()), None)
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{spec.name}.log"
    return _Child(spec, files.enter_context(path.open("w+b")), path)  # w+: read back for the tail


async def _start(child: _Child, roster: Roster, python: Sequence[str]) -> None:
    argv = [*python, *_ENTRY]
    try:
        child.proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.PIPE,
            stdout=child.log_file,
            stderr=subprocess.STDOUT,
            # Own session: Ctrl-C reaches gridsim only, which then stops its children in order.
            start_new_session=True,
            preexec_fn=die_with_parent_hook(),
        )
    except OSError as exc:
        raise RunError(f"cannot start {child.describe()}: {' '.join(argv)}: {exc}") from exc
    assert child.proc.stdin is not None
    try:
        child.proc.stdin.write(child.spec.to_json(roster))
        # A child that died at once closed its end: its exit is reported by the watcher, with its log.
        with contextlib.suppress(ConnectionError):
            await child.proc.stdin.drain()
    finally:
        # Also when cancelled (a stop signal) mid-drain: the child's wait() ends only once every
        # pipe to it is closed, and a child still reading its spec sees the end of it.
        child.proc.stdin.close()


@contextlib.asynccontextmanager
async def worker_processes(
    specs: Sequence[WorkerSpec],
    roster: Roster,
    *,
    log_dir: Path | None = None,
    python: Sequence[str] = (sys.executable,),
) -> AsyncIterator[WorkerPool]:
    """Start one child per spec, all at once; watched while inside, stopped and reaped on exit.

    Args:
        specs: what each child runs (:func:`worker_specs`).
        roster: the member states, sent to every child.
        log_dir: where ``<name>.log`` of each child goes; anonymous temporary files when None.
        python: the interpreter command the children run with.

    Raises:
        RunError: a child could not be started, or exited while the grid was up (with its log's tail).
    """
    with contextlib.ExitStack() as files:
        pool = WorkerPool([_open_log(spec, log_dir, files) for spec in specs])
        try:
            started = await asyncio.gather(
                *(_start(c, roster, python) for c in pool.children), return_exceptions=True
            )
            for outcome in started:
                if isinstance(outcome, BaseException):
                    raise outcome
            async with asyncio.TaskGroup() as group:
                pool._group = group
                for child in pool.children:
                    group.create_task(pool._watch(child), name=f"grid[{child.spec.name}].watch")
                try:
                    yield pool
                finally:
                    await pool._stop()  # before the group waits for the watchers: they end as the children do
        finally:
            await pool._stop()  # also when starting failed part-way


# ------------------------------------------------------------------------------------ the child


async def _serve(service: GridService) -> None:
    async with service:
        await service.serve()


def grid_services(
    roster: Roster,
    host: str,
    port: int,
    *,
    cluster: Members = (),
    track_interval_s: float = DEFAULT_TRACK_INTERVAL_S,
    taxii: TaxiiTarget | None = None,
    analysis_s: float = DEFAULT_ANALYSIS_S,
    signing: SigningKeys | None = None,
    journal_dir: Path | None = None,
    resume: bool = False,
) -> list[GridService]:
    """The grid's services on ``host:port`` (or their cluster members): fusion centre, hub, JCC.

    With ``journal_dir`` each service journals what it receives (the hub and the JCC in a folder
    of their own there) and acknowledges each message only once journaled; with ``resume`` too (a
    restart) each takes up its session and journal where they were.
    """

    def sessions(service_id: str) -> SessionFactory | None:
        made = session_factory(cluster, service_id, roster)
        if journal_dir is not None and made is None:
            made = broker_sessions(host, port, resume=resume, manual_ack=True)
        return made

    def journal(service_id: str) -> Path | None:
        return None if journal_dir is None else journal_dir / service_id

    return [
        FusionCentre(
            roster=roster,
            host=host,
            port=port,
            track_interval_s=track_interval_s,
            session_factory=sessions(FUSION_ID),
            signing=signing,
            journal_dir=journal_dir,
        ),
        CyberHub(
            roster=roster,
            host=host,
            port=port,
            taxii=taxii,
            session_factory=sessions(HUB_ID),
            signing=signing,
            journal_dir=journal(HUB_ID),
        ),
        JointCyberCentre(
            roster=roster,
            host=host,
            port=port,
            analysis_s=analysis_s,
            session_factory=sessions(JCC_ID),
            journal_dir=journal(JCC_ID),
        ),
    ]


async def _serve_spec(spec: WorkerSpec, roster: Roster) -> None:
    """Run the spec's services in one TaskGroup until SIGTERM or SIGINT."""
    services: list[GridService] = []
    signing = (
        None
        if spec.sign_keys is None
        else SigningKeys.load(Path(spec.sign_keys), roster, replay_window_s=spec.replay_window_s)
    )
    if spec.fusion:
        services += grid_services(
            roster,
            spec.host,
            spec.port,
            cluster=spec.cluster,
            track_interval_s=spec.track_interval_s,
            taxii=spec.taxii,
            analysis_s=spec.analysis_s,
            signing=signing,
            journal_dir=None if spec.journal_dir is None else Path(spec.journal_dir),
            resume=spec.resume,
        )
    services += [
        MemberNode(
            roster.member(node_id),
            roster=roster,
            host=spec.home(node_id)[0],
            port=spec.home(node_id)[1],
            fuse_locally=spec.fuse_locally,
            session_factory=session_factory(spec.cluster, node_id, roster),
            signing=signing,
        )
        for node_id in spec.nodes
    ]
    credentials = None if spec.certs is None else Credentials(Path(spec.certs))
    try:
        with use_credentials(credentials):  # the services' tasks inherit it
            async with asyncio.TaskGroup() as group:
                for service in services:
                    group.create_task(_serve(service), name=f"grid[{service.service_id}].serve")
                log.info("%s: serving %s", spec.name, ", ".join(spec.services))
    except asyncio.CancelledError:
        log.info("%s: stopped", spec.name)  # by the parent: every service said offline
        raise


def _first_grid_error(exc: BaseException) -> GridError | None:
    if isinstance(exc, GridError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := _first_grid_error(inner)) is not None:
                return found
    return None


def main() -> int:
    """The child: read the spec from stdin, serve it until SIGTERM or SIGINT (exit 143 or 130); a
    GridError becomes one line on stderr."""
    with stop_signals():
        try:
            return _main()
        except Stopped as stop:  # before serving (reading the spec) or after
            return stop.exit_code


def _main() -> int:
    spec, roster = WorkerSpec.from_json(sys.stdin.buffer.read())
    logging.basicConfig(level=spec.log_level, format=f"%(asctime)s {spec.name} %(levelname)s %(message)s")
    began = time.monotonic()
    code = 0
    try:
        run_async(_serve_spec(spec, roster))
    except Stopped as stop:
        code = stop.exit_code
    except BaseException as exc:
        error = _first_grid_error(exc)
        if error is None:
            raise
        print(f"{type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return 2 if isinstance(error, ConfigError) else 1
    # One line on how the load was spread: compare the workers' logs.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"{spec.name} [{', '.join(spec.services)}] stopped: {usage.ru_utime + usage.ru_stime:.1f} CPU s "
        f"in {time.monotonic() - began:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    return code


if __name__ == "__main__":
    # Like gridsim's console script: no interpreter teardown (module GC) once the services stopped.
    exit_code = main()
    sys.stderr.flush()
    os._exit(exit_code)
