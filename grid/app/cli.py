"""The ``gridsim`` command line. Thin: parse, call, print; a GridError becomes its message, no traceback.

Quick to start: building the parser imports only the standard library and gridsim's root modules.
Each command imports what it needs (rich, pydantic, numpy, aiomqtt, the benchmarks) when it runs,
so ``gridsim --help`` and every ``gridsim COMMAND --help`` return at once.
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

from grid.bundled import bundled_dir
from grid.errors import ConfigError, GridError

if TYPE_CHECKING:
    from rich.console import Console

    from grid.world.roster import Roster

__all__ = ["BENCH_FUSION_OUT_NAME", "add_fusion_parser", "main"]

BENCH_FUSION_OUT_NAME = "bench-fusion"  # DIR/bench-fusion.json and .md written by ``bench fusion --out DIR``

log = logging.getLogger("grid")
_T = TypeVar("_T")

_EXIT_CONFIG = 2
_EXIT_ERROR = 1
_EXIT_INTERRUPTED = 130


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


def add_fusion_parser(subparsers: Any) -> None:
    """Add the ``fusion`` benchmark to a ``bench`` command's subparsers.

    Used by ``gridsim bench`` and ``python -m grid.app.bench``; defined here, not in
    :mod:`grid.app.bench`, so that help loads no benchmark module.
    """
    fusion = subparsers.add_parser(
        "fusion",
        help="gridsim's tracker against Stone Soup's EKF and the Cramér-Rao bound",
        description=(
            "Record reports from gridsim's own sensors (no MQTT), then run gridsim's tracker, its EKF "
            "alone, Stone Soup's EKF (if installed: pip install 'gridsim[bench]') and the posterior "
            "Cramér-Rao bound on the same reports: a single drone, a swarm of 12 in clutter and a "
            "100-target stress case. Prints PASS/FAIL against the targets."
        ),
    )
    fusion.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"write DIR/{BENCH_FUSION_OUT_NAME}.json and .md",
    )
    fusion.add_argument("--quick", action="store_true", help="short runs: a smoke test of under 20 s")
    fusion.add_argument("--no-stonesoup", action="store_true", help="skip Stone Soup even when installed")
    fusion.add_argument(
        "--case", action="append", default=None, metavar="NAME", help="run only this case (repeatable)"
    )


def _add_bench_parser(subparsers: Any) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks", description="Benchmarks of gridsim's parts.")
    add_fusion_parser(bench.add_subparsers(dest="bench_command", required=True, metavar="BENCHMARK"))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gridsim",
        description=(
            "Simulate an allied intelligence grid: member-state sensor nodes share threat reports over MQTT, "
            "a fusion centre locates the threats, and the run reports how fast and how accurately."
        ),
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    p.add_argument(
        "--roster", type=Path, default=None, help=f"member-state folder (default: {bundled_dir('nodes')})"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_bench_parser(sub)

    run = sub.add_parser(
        "run",
        help="play a scenario on a whole grid (broker, 15 nodes, fusion) and report",
        description=(
            "Play a scenario on a whole grid in one process: start a broker on a free loopback port "
            "(Mosquitto if installed, else amqtt) unless --broker is given, run every member node and the "
            "fusion centre, then print per-threat and per-member results and write DIR/summary.json."
        ),
    )
    run.add_argument(
        "scenario", nargs="?", type=Path, help="scenario YAML (default: the bundled default scenario)"
    )
    run.add_argument(
        "--broker", metavar="URL", help="use this MQTT broker (mqtt://host:port) instead of starting one"
    )
    run.add_argument(
        "--speed", type=float, default=1.0, help="simulation seconds per wall second (default 1)"
    )
    run.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    run.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="output folder (default runs/<timestamp>)"
    )
    run.add_argument(
        "--broker-kind",
        choices=["auto", "mosquitto", "amqtt"],
        default="auto",
        help="which broker to start when --broker is not given (auto: Mosquitto if installed, else amqtt)",
    )
    run.add_argument(
        "--port", type=int, default=None, help="port for the broker gridsim starts (default: a free one)"
    )
    run.add_argument(
        "--external",
        action="store_true",
        help="start no nodes or fusion here; wait for `gridsim node`/`gridsim fusion` processes on --broker",
    )
    run.add_argument("--quiet", action="store_true", help="no live progress display")
    run.add_argument(
        "--distributed",
        action="store_true",
        help="every node also fuses its own picture; the summary compares each with the fusion centre's",
    )

    node = sub.add_parser(
        "node",
        help="run one member state's node in this process",
        description="Run one member state's node: it waits for runs announced on the broker and plays them.",
    )
    node.add_argument("--id", required=True, dest="node_id", help="member-state node id, e.g. RO")
    node.add_argument(
        "--broker", required=True, metavar="URL", help="MQTT broker URL, e.g. mqtt://127.0.0.1:1883"
    )

    fusion = sub.add_parser(
        "fusion",
        help="run the fusion centre in this process",
        description="Run the fusion centre: it fuses the reports of each announced run and publishes tracks.",
    )
    fusion.add_argument("--broker", required=True, metavar="URL", help="MQTT broker URL")

    up = sub.add_parser(
        "up",
        help="keep a grid running with no scripted threats; play scenarios injected into it",
        description=(
            "Start a grid (broker unless --broker, fusion and every node) and keep it running. Each scenario "
            "sent with `gridsim inject` is played; its summary is published on grid/v1/results/<run> "
            "(read it with `gridsim results`) and written to DIR/<run>/summary.json."
        ),
    )
    up.add_argument("--broker", metavar="URL", help="use this MQTT broker instead of starting one")
    up.add_argument(
        "--port", type=int, default=None, help="port for the broker gridsim starts (default 1883)"
    )
    up.add_argument("--broker-kind", choices=["auto", "mosquitto", "amqtt"], default="auto")
    up.add_argument(
        "--external", action="store_true", help="nodes and fusion are other processes on --broker"
    )
    up.add_argument(
        "--out", type=Path, default=Path("runs"), metavar="DIR", help="output folder (default runs/)"
    )

    inject = sub.add_parser(
        "inject",
        help="send a scenario to a running grid (gridsim up)",
        description=(
            "Send a scenario to a grid started with `gridsim up`: threats and events play with times "
            "relative to the injection. Prints the run id; `gridsim results` shows the outcome."
        ),
    )
    inject.add_argument("scenario", type=Path, help="scenario YAML")
    inject.add_argument("--broker", required=True, metavar="URL", help="the running grid's MQTT broker")
    inject.add_argument(
        "--speed", type=float, default=1.0, help="simulation seconds per wall second (default 1)"
    )
    inject.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    inject.add_argument("--wait", action="store_true", help="wait for the results and print them")

    results = sub.add_parser(
        "results",
        help="print the results of runs injected into a running grid",
        description="Print the summary of an injected run (default: the most recent one seen on the broker).",
    )
    results.add_argument("--broker", required=True, metavar="URL", help="the running grid's MQTT broker")
    results.add_argument("--run", dest="run_id", default=None, help="run id printed by `gridsim inject`")
    results.add_argument("--json", action="store_true", help="print the summary as JSON")
    results.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for results (default 5)")

    scenario = sub.add_parser(
        "scenario", help="work with scenario files", description="Work with scenario files."
    )
    scenario_sub = scenario.add_subparsers(dest="scenario_command", required=True, metavar="ACTION")
    validate = scenario_sub.add_parser(
        "validate", help="check scenario files without running them", description="Check scenario files."
    )
    validate.add_argument("files", nargs="+", type=Path)
    return p


def _check_speed(speed: float) -> None:
    from grid.clock import check_speed

    try:
        check_speed(speed)
    except ValueError as exc:
        raise ConfigError(f"--{exc}") from None


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
    host, port = parse_broker_url(args.broker)
    _run_async(_serve_forever(lambda: MemberNode(member, roster=roster, host=host, port=port), member.id))
    return 0


def _cmd_fusion(args: argparse.Namespace) -> int:
    from grid.mqtt.address import parse_broker_url
    from grid.participants.centre import FusionCentre

    roster = _load_roster(args.roster)
    host, port = parse_broker_url(args.broker)
    _run_async(_serve_forever(lambda: FusionCentre(roster=roster, host=host, port=port), "fusion"))
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


def _cmd_bench(args: argparse.Namespace) -> int:
    from grid.app.bench import run_bench

    return run_bench(args)


def _run_async(coro: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run``, with asyncio loaded only by the commands that run something."""
    import asyncio

    return asyncio.run(coro)


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
    args = _parser().parse_args(argv)
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
        "scenario": _cmd_scenario,
        "bench": _cmd_bench,
    }
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]: stopped by Ctrl-C; broker and nodes shut down")
        return _EXIT_INTERRUPTED
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
