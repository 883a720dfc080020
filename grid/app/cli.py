"""The ``gridsim`` commands. Thin: parse, call, print; a GridError becomes its message, no traceback.

Quick to start: the parser (:mod:`grid.app.parser`) imports only the standard library and
gridsim's root modules. Each command imports what it needs (rich, pydantic, numpy, aiomqtt, the
benchmarks) when it runs, so ``gridsim --help`` and every ``gridsim COMMAND --help`` return at once.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from grid.app.parser import build_parser
from grid.errors import ConfigError, GridError

if TYPE_CHECKING:
    from rich.console import Console

    from grid.world.roster import Roster

__all__ = ["main"]

log = logging.getLogger("grid")
_T = TypeVar("_T")

_EXIT_CONFIG = 2
_EXIT_ERROR = 1
_EXIT_INTERRUPTED = 130
_EXIT_TERMINATED = 143  # 128 + SIGTERM


class _Terminated(Exception):
    """SIGTERM arrived: the command was cancelled and has shut down in order."""


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


def _cmd_run(args: argparse.Namespace) -> int:
    from grid.app.report import print_summary, progress_display
    from grid.app.run import RunOptions, run_grid
    from grid.world.scenario import load_scenario

    _check_speed(args.speed)
    if args.external and args.broker is None:
        raise ConfigError("--external needs --broker URL: the broker the node and fusion processes use")
    if args.port is not None and not 0 < args.port < 65536:
        raise ConfigError(f"--port must be 1-65535, got {args.port}")
    if args.distributed and args.external:
        raise ConfigError("--distributed runs the nodes here: it cannot be combined with --external")
    roster = _load_roster(args.roster)
    scenario = load_scenario(args.scenario, roster=roster).with_seed(args.seed)
    out = args.out or Path("runs") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
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
    )
    if args.quiet:
        summary = _run_async(run_grid(options))
    else:
        with progress_display(_stderr(), scenario) as update:
            summary = _run_async(run_grid(options, on_progress=update))
    print_summary(_stdout(), summary)
    _stdout().print(f"summary written to [bold]{out / 'summary.json'}[/bold]")
    return 0


async def _serve_forever(make: Callable[[], Any], what: str) -> None:
    """Serve, reconnecting with backoff whenever the broker is unavailable."""
    import asyncio

    from rich.markup import escape

    from grid.errors import BrokerUnavailable

    console = _stderr()
    backoff = 1.0
    while True:
        try:
            async with make() as service:
                console.print(f"{what} connected; waiting for runs (Ctrl-C to stop)")
                backoff = 1.0
                await service.serve()
        except* BrokerUnavailable as group:
            console.print(
                f"[yellow]{what}:[/yellow] {escape(str(group.exceptions[0]))}; retrying in {backoff:.0f} s"
            )
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 30.0)


def _cmd_node(args: argparse.Namespace) -> int:
    from grid.mqtt.address import parse_broker_url
    from grid.participants.node import MemberNode

    roster = _load_roster(args.roster)
    member = roster.member(args.node_id)
    if "," in args.broker:  # a cluster's members: this one first, the others to fail over to
        from grid.mqtt.rabbitmq import check_ids, cluster_sessions, parse_cluster_urls

        check_ids([member.id])
        members = parse_cluster_urls(args.broker)
        factory = cluster_sessions(members, first=0)
        host, port = members[0]
        _run_async(
            _serve_forever(
                lambda: MemberNode(member, roster=roster, host=host, port=port, session_factory=factory),
                member.id,
            )
        )
        return 0
    host, port = parse_broker_url(args.broker)
    _run_async(_serve_forever(lambda: MemberNode(member, roster=roster, host=host, port=port), member.id))
    return 0


def _cmd_fusion(args: argparse.Namespace) -> int:
    from grid.mqtt.address import parse_broker_url
    from grid.participants.centre import FusionCentre

    roster = _load_roster(args.roster)
    host, port = parse_broker_url(args.broker)
    interval = _track_interval(args)
    _run_async(
        _serve_forever(
            lambda: FusionCentre(roster=roster, host=host, port=port, track_interval_s=interval), "fusion"
        )
    )
    return 0


def _cmd_hub(args: argparse.Namespace) -> int:
    import asyncio

    from grid.mqtt.address import parse_broker_url
    from grid.participants.hub import CyberHub
    from grid.participants.jcc import JointCyberCentre

    roster = _load_roster(args.roster)
    host, port = parse_broker_url(args.broker)
    taxii = _taxii(args)
    analysis_s = _analysis(args)

    async def serve_both() -> None:
        await asyncio.gather(
            _serve_forever(lambda: CyberHub(roster=roster, host=host, port=port, taxii=taxii), "hub"),
            _serve_forever(
                lambda: JointCyberCentre(roster=roster, host=host, port=port, analysis_s=analysis_s), "jcc"
            ),
        )

    _run_async(serve_both())
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    from grid.app.report import print_summary
    from grid.app.run import RunOptions, serve_grid

    if args.external and args.broker is None:
        raise ConfigError("--external needs --broker URL")
    options = RunOptions(
        scenario=None,
        roster=_load_roster(args.roster),
        broker_url=args.broker,
        broker_kind=args.broker_kind,
        broker_port=args.port if args.port is not None else (None if args.broker else 1883),
        out_dir=args.out,
        local_services=not args.external,
        workers=_workers(args),
        track_interval_s=_track_interval(args),
        taxii=_taxii(args),
        analysis_s=_analysis(args),
    )
    out = _stdout()

    def ready(broker: Any) -> None:
        out.print(
            f"grid up on [bold]{broker.url}[/bold] ({broker.kind}); inject with "
            f"`gridsim inject FILE --broker {broker.url}`; Ctrl-C to stop"
        )

    def finished(summary: dict[str, Any]) -> None:
        print_summary(out, summary)
        out.print(f"results: {args.out / summary['run_id'] / 'summary.json'}")

    _run_async(serve_grid(options, on_ready=ready, on_summary=finished))
    return 0


def _cmd_inject(args: argparse.Namespace) -> int:
    from grid.app.inject import inject
    from grid.app.report import print_summary
    from grid.world.scenario import load_scenario

    _check_speed(args.speed)
    scenario = load_scenario(args.scenario, roster=_load_roster(args.roster)).with_seed(args.seed)
    summary = _run_async(inject(scenario, broker_url=args.broker, speed=args.speed, wait=args.wait))
    if summary is not None:
        print_summary(_stdout(), summary)
    return 0


def _cmd_results(args: argparse.Namespace) -> int:
    import json

    from grid.app.inject import fetch_results
    from grid.app.report import print_summary

    summary = _run_async(fetch_results(args.broker, run_id=args.run_id, timeout_s=args.timeout))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(_stdout(), summary)
    return 0


def _cmd_scenario(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from grid.world.scenario import validate_paths

    roster = _load_roster(args.roster)
    out = _stdout()
    results = validate_paths(args.files, roster)
    for file, error in results:
        if error is not None:
            _stderr().print(f"[red]invalid[/red] {escape(str(error))}", soft_wrap=True)
        else:
            out.print(f"[green]ok[/green] {file}")
    return _EXIT_CONFIG if any(error is not None for _, error in results) else 0


def _cmd_cyber(args: argparse.Namespace) -> int:
    from grid.app.report import print_export
    from grid.results.cyber_export import export_bundle

    report = export_bundle(args.run_dir)
    print_export(_stdout(), report)
    return 0 if report.valid else _EXIT_ERROR


def _cmd_bench(args: argparse.Namespace) -> int:
    from grid.app.bench import run_bench

    return run_bench(args)


def _run_async(coro: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run``, with asyncio loaded only by the commands that run something.

    SIGTERM cancels the command as Ctrl-C does, so that it stops its broker and children in order.
    """
    import asyncio
    import signal

    async def cancelled_by_sigterm() -> _T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        terminated = False

        def terminate() -> None:
            nonlocal terminated
            terminated = True
            task.cancel()

        loop.add_signal_handler(signal.SIGTERM, terminate)
        try:
            return await coro
        except asyncio.CancelledError:
            if terminated:
                raise _Terminated from None
            raise
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    return asyncio.run(cancelled_by_sigterm())


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
    """Entry point of the ``gridsim`` console script."""
    args = build_parser().parse_args(argv)
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
    }
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]: stopped by Ctrl-C; broker and nodes shut down")
        return _EXIT_INTERRUPTED
    except _Terminated:
        console.print("[yellow]terminated[/yellow]: stopped by SIGTERM; broker and nodes shut down")
        return _EXIT_TERMINATED
    except BaseException as exc:
        error = _first_grid_error(exc)
        if error is None:
            raise
        # One line per problem, never wrapped; escaped, since messages quote user input like ``[lat, lon]``.
        console.print(f"[red]{type(error).__name__}[/red]: {escape(str(error))}", soft_wrap=True)
        return _EXIT_CONFIG if isinstance(error, ConfigError) else _EXIT_ERROR


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
