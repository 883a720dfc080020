"""The ``gridsim`` commands. Thin: parse, call, print; a GridError becomes its message, no traceback.

Quick to start: the parser (:mod:`grid.app.parser`) imports only the standard library and
gridsim's root modules. Each command imports what it needs (rich, pydantic, numpy, aiomqtt, the
benchmarks) when it runs, so ``gridsim --help`` and every ``gridsim COMMAND --help`` return at once.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from grid.app.output import Output, failure_document, reset_documents
from grid.app.parser import build_parser
from grid.errors import ConfigError, GridError

if TYPE_CHECKING:
    from rich.console import Console

    from grid.app.cluster import Endpoint
    from grid.participants.service import GridService
    from grid.world.roster import Roster
    from grid.world.scenario import Scenario

__all__ = ["console_main", "main"]

log = logging.getLogger("grid")
_T = TypeVar("_T")

_EXIT_CONFIG = 2
_EXIT_ERROR = 1
_EXIT_INTERRUPTED = 130  # 128 + SIGINT


@functools.cache
def _stderr() -> Console:
    """The console for progress, status and errors (stderr), made on first use: rich loads lazily."""
    from rich.console import Console

    return Console(stderr=True)


def _stdout() -> Console:
    from rich.console import Console

    return Console()


def _load_roster(directory: Path | None) -> Roster:
    from grid.world.roster import load_roster

    return load_roster(directory)


def _check_speed(speed: float) -> None:
    from grid.clock import check_speed

    try:
        check_speed(speed)
    except ValueError as exc:
        raise ConfigError(f"--{exc}") from None


def _broker(args: argparse.Namespace, *, needed_by: str | None = None) -> str:
    """``--broker``, else ``GRID_BROKER_URL``; a ConfigError naming both when neither is given
    (``needed_by``: the option that needs it, e.g. ``--external``)."""
    from grid.app.env import BROKER_URL, from_env

    url = from_env(args.broker, flag="--broker", var=BROKER_URL, required=False)
    if url is None:
        what = f"{needed_by} needs a broker" if needed_by else "no broker"
        raise ConfigError(f"{what}: give --broker URL or set {BROKER_URL}")
    return url


def _optional_broker(args: argparse.Namespace) -> str | None:
    """``--broker``, else ``GRID_BROKER_URL``, else None (gridsim starts its own broker)."""
    from grid.app.env import BROKER_URL, from_env

    return from_env(args.broker, flag="--broker", var=BROKER_URL, required=False)


def _speed(args: argparse.Namespace) -> float:
    """``--speed``, else ``GRID_SPEED``, else 1; checked."""
    from grid.app.env import speed_from_env

    speed = speed_from_env(args.speed)
    _check_speed(speed)
    return speed


def _workers(args: argparse.Namespace) -> int:
    """``--workers``: given, or one per core; none with --external, where the nodes are elsewhere."""
    from grid.app.workers import default_workers

    if args.workers is not None and args.workers < 0:
        raise ConfigError(f"--workers must be 0 or more, got {args.workers}")
    if args.external:
        if args.workers:
            raise ConfigError("--workers starts the nodes here: it cannot be combined with --external")
        return 0
    return default_workers() if args.workers is None else int(args.workers)


def _not_with_external(args: argparse.Namespace, option: str, service: str, command: str) -> None:
    """A ConfigError when ``option``, which configures a ``service`` this command starts, comes with
    ``--external`` (the service is then another process: ``command``)."""
    if getattr(args, "external", False):
        raise ConfigError(f"{option} sets {service} started here; with --external, give it to `{command}`")


def _track_interval(args: argparse.Namespace) -> float:
    """``--track-interval``, checked; the fusion centre's default when not given."""
    from grid.participants.air_picture import DEFAULT_TRACK_INTERVAL_S, check_track_interval

    if args.track_interval is None:
        return DEFAULT_TRACK_INTERVAL_S
    _not_with_external(args, "--track-interval", "the fusion centre", "gridsim fusion")
    return check_track_interval(args.track_interval, what="--track-interval")


def _taxii(args: argparse.Namespace) -> Any:
    """``--taxii``, parsed into its target (a bad URL is a ConfigError before anything starts)."""
    from grid.cyber.taxii import TaxiiTarget

    if args.taxii is None:
        return None
    _not_with_external(args, "--taxii", "the hub", "gridsim hub")
    return TaxiiTarget.parse(args.taxii)


def _analysis(args: argparse.Namespace) -> float:
    """``--analysis``, checked; the Joint Cyber Centre's default when it is not given."""
    from grid.participants.jcc import DEFAULT_ANALYSIS_S, check_analysis

    if args.analysis is None:
        return DEFAULT_ANALYSIS_S
    _not_with_external(args, "--analysis", "the Joint Cyber Centre", "gridsim hub")
    return check_analysis(args.analysis, what="--analysis")


def _federated_alone(args: argparse.Namespace) -> None:
    if args.federated and (args.external or args.broker is not None):
        raise ConfigError(
            "--federated starts its own brokers: it cannot be combined with --broker or --external"
        )


def _writable(out: Path) -> Path:
    """``out``, created and known to be writable now, not after a whole run."""
    import os
    import tempfile

    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise ConfigError(
            f"cannot write to {out}: {exc.strerror or exc} (this process runs as uid {os.getuid()}; "
            "in docker compose set GRID_UID and GRID_GID to the owner of ./runs)"
        ) from None
    return out


def _signing(args: argparse.Namespace) -> dict[str, Any]:
    """``--sign``, ``--sign-keys`` and ``--replay-window`` as RunOptions fields (checked when loaded)."""
    # Secure mode signs too, with the signing keys of its certificates folder (DIR/signing).
    certs = _certs(args)
    secure = args.secure or certs is not None
    sign_keys = args.sign_keys if args.sign_keys is not None or not secure else certs
    sign = args.sign or sign_keys is not None or secure
    if args.replay_window is not None and not sign:
        raise ConfigError("--replay-window needs --sign, --sign-keys or --secure")
    if args.sign and args.external and sign_keys is None:
        raise ConfigError(
            "--sign makes keys for the nodes started here: with --external, give --sign-keys DIR"
        )
    fields: dict[str, Any] = {"sign": sign, "sign_keys": sign_keys}
    if args.replay_window is not None:
        fields["replay_window_s"] = args.replay_window
    return fields


def _service_signing(args: argparse.Namespace, roster: Roster) -> Any:
    """``--sign-keys`` of ``gridsim node``, ``fusion`` and ``hub``: the grid's keys, loaded, or None."""
    if args.sign_keys is None:
        if args.replay_window is not None:
            raise ConfigError("--replay-window needs --sign-keys")
        return None
    from grid.security.signing import DEFAULT_REPLAY_WINDOW_S, SigningKeys

    window = DEFAULT_REPLAY_WINDOW_S if args.replay_window is None else args.replay_window
    return SigningKeys.load(args.sign_keys, roster, replay_window_s=window)


def _cmd_run(args: argparse.Namespace) -> int:
    from grid.world.scenario import load_scenario

    args.speed = _speed(args)
    if args.external:
        args.broker = _broker(args, needed_by="--external")
    if args.port is not None and not 0 < args.port < 65536:
        raise ConfigError(f"--port must be 1-65535, got {args.port}")
    if args.distributed and args.external:
        raise ConfigError("--distributed runs the nodes here: it cannot be combined with --external")
    _federated_alone(args)
    roster = _load_roster(args.roster)
    scenario = load_scenario(args.scenario, roster=roster).with_seed(args.seed)
    out = args.out or Path("runs") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    made = not out.exists()
    _writable(out)
    with _dropped_if_empty(out, made):
        return _play_run(args, roster, scenario, out)


@contextlib.contextmanager
def _dropped_if_empty(out: Path, made: bool) -> Iterator[None]:
    """A run that fails before writing anything leaves no empty folder behind (a folder that was
    there before, or one holding logs of the failure, stays)."""
    try:
        yield
    except BaseException:
        if made:
            with contextlib.suppress(OSError):
                out.rmdir()  # only when empty
        raise


def _play_run(args: argparse.Namespace, roster: Roster, scenario: Scenario, out: Path) -> int:
    import json

    from grid.app.report import partial_summary, print_partial, print_summary, progress_display
    from grid.app.run import Progress, RunOptions, run_grid
    from grid.app.signals import Stopped

    options = RunOptions(
        scenario=scenario,
        roster=roster,
        speed=args.speed,
        broker_url=args.broker,
        broker_kind=args.broker_kind,
        broker_port=args.port,
        out_dir=out,
        local_services=not args.external,
        fuse_locally=args.distributed,
        workers=_workers(args),
        track_interval_s=_track_interval(args),
        taxii=_taxii(args),
        analysis_s=_analysis(args),
        federated=args.federated,
        dashboard_port=_dashboard_port(args.dashboard_port) if args.dashboard else None,
        secure=args.secure,
        certs=_certs(args),
        **_signing(args),
        kill_fusion_at_s=args.kill_fusion_at,
        fusion_down_s=args.fusion_down,
    )
    last: list[Progress] = []  # the run's live figures (one object, updated): the partial summary's

    def seen(progress: Progress) -> None:
        last[:] = [progress]

    try:
        if not Output.from_args(args).human:
            summary = _run_async(run_grid(options, on_progress=seen, on_dashboard=_say_dashboard))
        else:
            with progress_display(_stderr(), scenario) as update:

                def shown(progress: Progress) -> None:
                    seen(progress)
                    update(progress)

                summary = _run_async(run_grid(options, on_progress=shown, on_dashboard=_say_dashboard))
    except Stopped as stop:
        partial = partial_summary(last[0] if last else None, stopped_by=stop.name)
        o = Output.from_args(args)
        if o.human:
            print_partial(_stdout(), partial)
        with contextlib.suppress(OSError):
            out.mkdir(parents=True, exist_ok=True)
            (out / "partial.json").write_text(json.dumps(partial, indent=2) + "\n", encoding="utf-8")
        o.result({"partial": partial, "partial_path": str(out / "partial.json")})
        raise
    o = Output.from_args(args)
    if o.human:
        print_summary(_stdout(), summary)
    o.say(f"summary written to [bold]{out / 'summary.json'}[/bold]")
    report = None if args.no_report else _build_report(out, o if o.human else Output(quiet=True))
    o.result({"summary": summary, "summary_path": str(out / "summary.json"), "report": report})
    return 0


def _build_report(run_dir: Path, o: Output) -> dict[str, Any]:
    from grid.results.report import build_report

    with o.status(f"building the report of {run_dir}"):
        info = build_report(run_dir)
    o.say(
        f"report written to [bold]{info.path}[/bold] "
        f"({len(info.files) - 1} figures, built in {info.build_s:.2f} s)"
    )
    return {"path": str(info.path), "files": [str(f) for f in info.files], "build_s": info.build_s}


def _cmd_report(args: argparse.Namespace) -> int:
    o = Output.from_args(args)
    info = _build_report(args.run_dir, o if o.human else Output(quiet=True))
    o.result(info)
    return 0


def _dashboard_port(port: int) -> int:
    if not 0 <= port < 65536:
        raise ConfigError(f"dashboard port must be 0-65535, got {port}")
    return port


def _say_dashboard(url: str) -> None:
    """The live map's address, on stderr (stdout keeps the results), flushed for whoever reads it."""
    _stderr().print(f"live map on [bold]{url}[/bold]", soft_wrap=True)
    sys.stderr.flush()


def _cmd_dashboard(args: argparse.Namespace) -> int:
    import asyncio

    from grid.app.dashboard.server import Dashboard
    from grid.mqtt.address import parse_broker_url

    broker = parse_broker_url(_broker(args))
    port = _dashboard_port(args.port)
    roster = _load_roster(args.roster)

    o = Output.from_args(args)
    counts: dict[str, Any] = {"command": "dashboard", "url": None}

    async def serve() -> None:
        async with Dashboard(roster=roster, broker=broker, port=port) as dash:
            counts["url"] = dash.url
            _say_dashboard(dash.url)  # on stderr in every mode: the address is what it is for
            if o.human:
                _stderr().print("Ctrl-C to stop")
            try:
                await asyncio.Event().wait()  # until a stop signal cancels it
            finally:  # messages received and rejected, tracks; pages served, events dropped
                counts.update(dash.feed.stats(), pages_served=dash.pages_served, dropped=dash.fanout.dropped)

    with o.final_counts(counts):
        _run_async(serve())
    return 0


async def _serve_forever(
    make: Callable[[], GridService],
    what: str,
    o: Output | None = None,
    counts: dict[str, Any] | None = None,
) -> None:
    """Serve, reconnecting with backoff whenever the broker is unavailable; ``counts`` (the final JSON
    line's) gets this service's connections, broker outages, runs and counters summed over its runs."""
    import asyncio
    from collections import Counter

    from rich.markup import escape

    from grid.errors import BrokerUnavailable

    console = _stderr()
    o = o or Output()
    mine = (counts if counts is not None else {}).setdefault(
        what, {"connections": 0, "outages": 0, "runs": 0, "counters": {}}
    )
    backoff = 1.0
    while True:
        try:
            async with make() as service:
                mine["connections"] += 1
                if o.human:
                    console.print(f"{what} connected; waiting for runs (Ctrl-C to stop)")
                backoff = 1.0
                try:
                    await service.serve()
                finally:  # a new service object after an outage: add this one's counts
                    mine["runs"] += service.runs_started
                    total = Counter(mine["counters"])
                    total.update(service.lifetime_counters())
                    mine["counters"] = dict(sorted(total.items()))
        except* BrokerUnavailable as group:
            mine["outages"] += 1
            console.print(
                f"[yellow]{what}:[/yellow] {escape(str(group.exceptions[0]))}; retrying in {backoff:.0f} s"
            )
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 30.0)


def _endpoint(args: argparse.Namespace, *ids: str) -> Endpoint:
    """``--broker`` (else ``GRID_BROKER_URL``) as an :class:`~grid.app.cluster.Endpoint`: one broker,
    or a cluster's members (``URL1,URL2,...``, the first tried first) failed over in turn."""
    from grid.app.cluster import endpoint

    return endpoint(_broker(args), ids=ids)


def _cmd_node(args: argparse.Namespace) -> int:
    from grid.app.env import NODE_ID, from_env

    roster = _load_roster(args.roster)
    member = roster.member(from_env(args.node_id, flag="--id", var=NODE_ID) or "")
    at = _endpoint(args, member.id)
    signing = _service_signing(args, roster)
    if signing is not None:
        signing.signer(member.id)  # a bad private key fails here, before connecting
    o = Output.from_args(args)
    with o.final_counts({"command": "node"}) as counts:
        _run_async(_serve_forever(lambda: _node(member, roster, at, signing), member.id, o, counts))
    return 0


def _node(member: Any, roster: Roster, at: Endpoint, signing: Any) -> Any:
    from grid.participants.node import MemberNode

    return MemberNode(
        member, roster=roster, host=at.host, port=at.port, session_factory=at.sessions, signing=signing
    )


def _cmd_fusion(args: argparse.Namespace) -> int:
    roster = _load_roster(args.roster)
    at = _endpoint(args)
    interval = _track_interval(args)
    signing = _service_signing(args, roster)
    o = Output.from_args(args)
    with o.final_counts({"command": "fusion"}) as counts:
        _run_async(_serve_forever(lambda: _fusion(roster, at, interval, signing), "fusion", o, counts))
    return 0


def _fusion(roster: Roster, at: Endpoint, interval: float, signing: Any) -> Any:
    from grid.participants.centre import FusionCentre

    return FusionCentre(
        roster=roster,
        host=at.host,
        port=at.port,
        track_interval_s=interval,
        session_factory=at.sessions,
        signing=signing,
    )


def _cmd_hub(args: argparse.Namespace) -> int:
    import asyncio

    from grid.participants.hub import CyberHub
    from grid.participants.jcc import JointCyberCentre

    roster = _load_roster(args.roster)
    at = _endpoint(args)
    taxii = _taxii(args)
    analysis_s = _analysis(args)
    signing = _service_signing(args, roster)
    o = Output.from_args(args)
    counts: dict[str, Any] = {"command": "hub"}

    async def serve_both() -> None:
        await asyncio.gather(
            _serve_forever(
                lambda: CyberHub(
                    roster=roster,
                    host=at.host,
                    port=at.port,
                    taxii=taxii,
                    session_factory=at.sessions,
                    signing=signing,
                ),
                "hub",
                o,
                counts,
            ),
            _serve_forever(
                lambda: JointCyberCentre(
                    roster=roster,
                    host=at.host,
                    port=at.port,
                    analysis_s=analysis_s,
                    session_factory=at.sessions,
                ),
                "jcc",
                o,
                counts,
            ),
        )

    with o.final_counts(counts):
        _run_async(serve_both())
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    from grid.app.background_reports import BackgroundReports
    from grid.app.report import print_summary
    from grid.app.run import RunOptions, serve_grid

    args.broker = _broker(args, needed_by="--external") if args.external else _optional_broker(args)
    _federated_alone(args)
    options = RunOptions(
        scenario=None,
        roster=_load_roster(args.roster),
        broker_url=args.broker,
        broker_kind=args.broker_kind,
        broker_port=args.port if args.port is not None else (None if args.broker else 1883),
        out_dir=_writable(args.out),
        local_services=not args.external,
        workers=_workers(args),
        track_interval_s=_track_interval(args),
        taxii=_taxii(args),
        analysis_s=_analysis(args),
        federated=args.federated,
        secure=args.secure,
        certs=_certs(args),
        **_signing(args),
    )
    if args.secure and options.certs is None:
        raise ConfigError(
            "gridsim up --secure needs --certs DIR: `gridsim inject` presents its operator certificate"
        )
    out = _stdout()
    o = Output.from_args(args)
    runs: list[dict[str, Any]] = []

    def ready(broker: Any) -> None:
        url = args.broker if args.broker_kind == "rabbitmq" else broker.url  # a cluster: every member
        certs = ""
        if options.certs is not None:
            url, certs = url.replace("mqtt://", "mqtts://", 1), f" --certs {options.certs}"
        o.say(
            f"grid up on [bold]{url}[/bold] ({broker.kind}); inject with "
            f"`gridsim inject FILE --broker {url}{certs}`; Ctrl-C to stop"
        )
        if not o.human:  # the address is still needed to inject: on stderr
            print(f"grid up on {url} ({broker.kind})", file=sys.stderr, flush=True)

    reports = BackgroundReports()

    def say_reports() -> None:
        for run_dir, error in reports.done():
            if error is None:
                o.say(f"report written to [bold]{run_dir / 'report.html'}[/bold]")
            else:
                print(f"gridsim: the report of {run_dir} was not built: {error}", file=sys.stderr, flush=True)

    def finished(summary: dict[str, Any]) -> None:
        run_dir = args.out / summary["run_id"]
        runs.append({"run_id": summary["run_id"], "summary": str(run_dir / "summary.json")})
        if o.human:
            print_summary(out, summary)
        o.say(f"results: {run_dir / 'summary.json'}")
        say_reports()
        if not args.no_report:
            runs[-1]["report"] = str(run_dir / "report.html")
            reports.start(run_dir)

    with o.final_counts({"command": "up", "runs": runs}), reports:
        _run_async(serve_grid(options, on_ready=ready, on_summary=finished))
    say_reports()
    return 0


def _cmd_inject(args: argparse.Namespace) -> int:
    from grid.app.inject import inject
    from grid.app.report import print_summary
    from grid.world.scenario import load_scenario

    speed = _speed(args)
    broker = _broker(args)
    scenario = load_scenario(args.scenario, roster=_load_roster(args.roster)).with_seed(args.seed)
    o = Output.from_args(args)
    with o.status(f"injecting {args.scenario}"):
        summary = _run_async(inject(scenario, broker_url=broker, speed=speed, wait=args.wait))
    if summary is not None and o.human:
        print_summary(_stdout(), summary)
    o.result({"summary": summary})
    return 0


def _cmd_results(args: argparse.Namespace) -> int:
    from grid.app.inject import fetch_results
    from grid.app.report import print_summary

    summary = _run_async(fetch_results(_broker(args), run_id=args.run_id, timeout_s=args.timeout))
    o = Output.from_args(args)
    if o.human:
        print_summary(_stdout(), summary)
    o.result(summary)  # the summary itself, as before the output modes
    return 0


def _cmd_scenario(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from grid.world.scenario import validate_paths

    roster = _load_roster(args.roster)
    o = Output.from_args(args)
    results = validate_paths(args.files, roster)
    for file, error in results:
        if error is not None:
            _stderr().print(f"[red]invalid[/red] {escape(str(error))}", soft_wrap=True)
        else:
            o.say(f"[green]ok[/green] {file}")
    o.result(
        {
            "files": [
                {"file": str(file), "ok": error is None, "error": None if error is None else str(error)}
                for file, error in results
            ]
        }
    )
    return _EXIT_CONFIG if any(error is not None for _, error in results) else 0


def _cmd_cyber(args: argparse.Namespace) -> int:
    from grid.app.report import print_export
    from grid.results.cyber_export import export_bundle

    o = Output.from_args(args)
    with o.status(f"exporting the STIX bundle of {args.run_dir}"):
        report = export_bundle(args.run_dir)
    if o.human:
        print_export(_stdout(), report)
    o.result(report.as_dict())
    return 0 if report.valid else _EXIT_ERROR


def _cmd_health(args: argparse.Namespace) -> int:
    """One line; exit 0 healthy, 1 not (broker down included), 2 for bad arguments."""
    from grid.app.env import NODE_ID, from_env
    from grid.app.health import check_health

    node = None if args.service else from_env(args.node, flag="--node", var=NODE_ID, required=False)
    health = _run_async(check_health(_broker(args), node=node, service=args.service, timeout_s=args.timeout))
    o = Output.from_args(args)
    if not health.ok:  # a failure: on stderr in every mode
        print(health.line, file=sys.stderr, flush=True)
    elif o.human:
        print(health.line, flush=True)
    o.result({"ok": health.ok, "line": health.line})
    return 0 if health.ok else _EXIT_ERROR


def _cmd_federation(args: argparse.Namespace) -> int:
    from grid.app.federation import write_compose_configs

    if args.broker_certs is not None and not args.secure:
        raise ConfigError("--certs says where the brokers find their certificates: it needs --secure")
    secure: dict[str, Any] = {"secure": args.secure}
    if args.broker_certs is not None:
        secure["certs"] = args.broker_certs
    plan = write_compose_configs(
        _load_roster(args.roster), args.dir, core=args.core, grid_address=args.grid_address, **secure
    )
    o = Output.from_args(args)
    for grid in plan.grids:
        o.say(f"{grid}: {' '.join(plan.home_nodes(grid))}")
    o.result(
        {
            "dir": str(args.dir),
            "grids": {grid: list(plan.home_nodes(grid)) for grid in plan.grids},
            "brokers": len(plan.brokers),
            "bridges": len(plan.bridges),
            "secure": args.secure,
        },
        f"{len(plan.brokers)} brokers, {len(plan.bridges)} bridges written to [bold]{args.dir}[/bold]",
    )
    return 0


def _cmd_certs(args: argparse.Namespace) -> int:
    from grid.app.federation import federation_identities
    from grid.security.certs import CertsLayout, expired, is_complete, write_certs

    roster = _load_roster(args.roster)
    bridges, hosts = federation_identities(roster)  # so the same folder serves --federated too
    o = Output.from_args(args)
    if args.keep and args.force:
        raise ConfigError("--keep and --force contradict each other: give one")
    if args.keep and is_complete(CertsLayout(args.dir), roster):
        if (stale := expired(CertsLayout(args.dir))) is not None:
            raise ConfigError(
                f"{stale} has expired: remove {args.dir} (docker compose: `down -v`) or give --force"
            )
        o.result({"dir": str(args.dir), "kept": True}, f"kept the complete PKI in [bold]{args.dir}[/bold]")
        return 0
    with o.status(f"writing certificates to {args.dir}"):
        layout = write_certs(
            args.dir, roster, days=args.days, force=args.force, bridges=bridges, broker_hosts=hosts
        )
    o.result(
        {
            "dir": str(layout.root),
            "kept": False,
            "files": sorted(str(p) for p in layout.root.rglob("*") if p.is_file()),
        },
        f"test CA, broker, {len(roster)} member states, 5 services' and {len(bridges)} federation bridges' "
        f"certificates, {len(roster)} signing keys written to [bold]{layout.root}[/bold]",
    )
    return 0


def _certs(args: argparse.Namespace) -> Path | None:
    """``--certs``, else ``GRID_CERTS``."""
    from grid.app.env import CERTS, from_env

    given = from_env(
        None if args.certs is None else str(args.certs), flag="--certs", var=CERTS, required=False
    )
    return None if given is None else Path(given)


def _client_credentials(args: argparse.Namespace) -> contextlib.AbstractContextManager[None]:
    """``--certs DIR`` of a participant or tool: its connections go over TLS with its certificate.
    (``run`` and ``up`` take theirs through :class:`~grid.app.run.RunOptions`.)"""
    if not hasattr(args, "certs") or args.command in ("run", "up"):
        return contextlib.nullcontext()
    certs = _certs(args)
    if certs is None:
        return contextlib.nullcontext()
    from grid.security.tls import Credentials, use_credentials

    return use_credentials(Credentials(certs, name=args.cert_name))


def _cmd_bench(args: argparse.Namespace) -> int:
    from grid.app.bench.cli import run_bench_output

    return run_bench_output(args)


def _cmd_cot(args: argparse.Namespace) -> int:
    """Until stopped; then the counts: one line on stderr, or JSON on stdout with ``--json`` (in the
    error document when an error ended it)."""
    from grid.app.cot import CotStats, run_cot

    stats = CotStats()
    o = Output.from_args(args)
    with o.final_counts({"command": "cot"}) as counts:
        try:
            retry, classify = not args.no_retry, args.classify == "truth"
            coro = run_cot(
                _broker(args), args.tak, stale_s=args.stale, retry=retry, classify=classify, stats=stats
            )
            _run_async(coro)
        finally:
            counts.update(stats.as_dict())
            if o.human:
                print(stats.line(), file=sys.stderr, flush=True)
    return 0


def _run_async(coro: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run``, with asyncio loaded only by the commands that run something; a stop signal
    cancels the command, which stops its broker and children in order (:mod:`grid.app.signals`)."""
    from grid.app.signals import run_async

    return run_async(coro)


def _first_grid_error(exc: BaseException) -> GridError | None:
    if isinstance(exc, GridError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first_grid_error(inner)
            if found is not None:
                return found
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``gridsim`` command; its exit code (130 after SIGINT, 143 after SIGTERM)."""
    from grid.app.signals import Stopped, stop_signals

    def announce(line: str) -> None:  # through rich, which keeps a live progress display intact
        _stderr().print(line, markup=False, highlight=False, soft_wrap=True)

    reset_documents()
    with stop_signals(announce):
        try:
            return _main(argv)
        except Stopped as stop:  # outside a command's own handling: while starting, or printing
            return stop.exit_code
        except BrokenPipeError:  # stdout's reader left (``gridsim ... --json | head``): no traceback
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nor at the exit's flush
            return _EXIT_ERROR


def console_main() -> NoReturn:
    """The ``gridsim`` console script: :func:`main`, then exit without the interpreter's teardown.

    Collecting the modules a node loaded costs about 0.25 CPU s after it has stopped; everything
    that matters at exit (atexit hooks, buffered output) is done here first.
    """
    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; a usage error exits 2 as argparse does, after ``--json``'s error document."""
    import io

    said = io.StringIO()  # argparse's usage and error lines, passed on to stderr as they are
    try:
        with contextlib.redirect_stderr(said):
            return build_parser().parse_args(argv)
    except SystemExit as exc:
        words = sys.argv[1:] if argv is None else argv
        if exc.code not in (0, None) and "--json" in words:
            message = said.getvalue().rstrip().rpartition("error: ")[2]
            failure_document("error", {"type": "UsageError", "message": message, "exit_code": exc.code})
        raise
    finally:
        sys.stderr.write(said.getvalue())
        sys.stderr.flush()


def _main(argv: Sequence[str] | None) -> int:
    from grid.app.signals import Stopped

    args = _parse(argv)
    from rich.logging import RichHandler
    from rich.markup import escape

    console = _stderr()
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(
        level=level, format="%(message)s", handlers=[RichHandler(console=console, show_path=False)]
    )
    logging.getLogger("amqtt").setLevel(logging.ERROR)
    commands = {
        "run": _cmd_run,
        "up": _cmd_up,
        "inject": _cmd_inject,
        "results": _cmd_results,
        "node": _cmd_node,
        "fusion": _cmd_fusion,
        "hub": _cmd_hub,
        "scenario": _cmd_scenario,
        "bench": _cmd_bench,
        "cyber": _cmd_cyber,
        "report": _cmd_report,
        "health": _cmd_health,
        "cot": _cmd_cot,
        "federation": _cmd_federation,
        "dashboard": _cmd_dashboard,
        "certs": _cmd_certs,
    }
    as_json = Output.from_args(args).json
    try:
        with _client_credentials(args):
            return commands[args.command](args)
    except KeyboardInterrupt:  # raised by code that ran its own SIGINT handling (asyncio.run in a bench)
        console.print("[yellow]interrupted[/yellow]: stopped by Ctrl-C; shut down cleanly")
        if as_json:
            failure_document("stopped", {"signal": "SIGINT", "exit_code": _EXIT_INTERRUPTED})
        return _EXIT_INTERRUPTED
    except Stopped as stop:  # the handler said so on stderr when the signal came
        if as_json:
            failure_document("stopped", {"signal": stop.name, "exit_code": stop.exit_code})
        return stop.exit_code
    except BaseException as exc:
        error = _first_grid_error(exc)
        if error is None:
            raise
        # One line per problem, never wrapped; escaped, since messages quote user input like ``[lat, lon]``.
        console.print(f"[red]{type(error).__name__}[/red]: {escape(str(error))}", soft_wrap=True)
        code = _EXIT_CONFIG if isinstance(error, ConfigError) else _EXIT_ERROR
        if as_json:  # stdout still carries one document: what failed
            failure_document(
                "error", {"type": type(error).__name__, "message": str(error), "exit_code": code}
            )
        return code


if __name__ == "__main__":
    console_main()
