"""The ``gridsim`` command line. Thin: parse, call, print; every GridError becomes one line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler

from grid.app.bench import add_bench_parser, run_bench
from grid.app.report import print_summary, progress_display
from grid.clock import check_speed
from grid.errors import ConfigError, GridError
from grid.world.roster import default_roster_dir, load_roster
from grid.world.scenario import load_scenario

__all__ = ["main"]

console = Console(stderr=True)
log = logging.getLogger("grid")

_EXIT_CONFIG = 2
_EXIT_ERROR = 1
_EXIT_INTERRUPTED = 130


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
        "--roster", type=Path, default=None, help=f"member-state folder (default: {default_roster_dir()})"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_bench_parser(sub)

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
    try:
        check_speed(speed)
    except ValueError as exc:
        raise ConfigError(f"--{exc}") from None


def _cmd_run(args: argparse.Namespace) -> int:
    from grid.app.run import RunOptions, run_grid

    _check_speed(args.speed)
    if args.external and args.broker is None:
        raise ConfigError("--external needs --broker URL: the broker the node and fusion processes use")
    if args.port is not None and not 0 < args.port < 65536:
        raise ConfigError(f"--port must be 1-65535, got {args.port}")
    if args.distributed and args.external:
        raise ConfigError("--distributed runs the nodes here: it cannot be combined with --external")
    roster = load_roster(args.roster)
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
        summary = asyncio.run(run_grid(options))
    else:
        with progress_display(console, scenario) as update:
            summary = asyncio.run(run_grid(options, on_progress=update))
    print_summary(Console(), summary)
    Console().print(f"summary written to [bold]{out / 'summary.json'}[/bold]")
    return 0


async def _serve_forever(make: Callable[[], Any], what: str) -> None:
    """Serve, reconnecting with backoff whenever the broker is unavailable."""
    from grid.errors import BrokerUnavailable

    backoff = 1.0
    while True:
        try:
            async with make() as service:
                console.print(f"{what} connected; waiting for runs (Ctrl-C to stop)")
                backoff = 1.0
                await service.serve()
        except* BrokerUnavailable as group:
            console.print(f"[yellow]{what}:[/yellow] {group.exceptions[0]}; retrying in {backoff:.0f} s")
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 30.0)


def _cmd_node(args: argparse.Namespace) -> int:
    from grid.mqtt.address import parse_broker_url
    from grid.participants.node import MemberNode

    roster = load_roster(args.roster)
    member = roster.member(args.node_id)
    host, port = parse_broker_url(args.broker)
    return _run_async(
        _serve_forever(lambda: MemberNode(member, roster=roster, host=host, port=port), member.id)
    )


def _cmd_fusion(args: argparse.Namespace) -> int:
    from grid.mqtt.address import parse_broker_url
    from grid.participants.centre import FusionCentre

    roster = load_roster(args.roster)
    host, port = parse_broker_url(args.broker)
    return _run_async(_serve_forever(lambda: FusionCentre(roster=roster, host=host, port=port), "fusion"))


def _cmd_up(args: argparse.Namespace) -> int:
    from grid.app.run import RunOptions, serve_grid

    if args.external and args.broker is None:
        raise ConfigError("--external needs --broker URL")
    options = RunOptions(
        scenario=None,
        roster=load_roster(args.roster),
        broker_url=args.broker,
        broker_kind=args.broker_kind,
        broker_port=args.port if args.port is not None else (None if args.broker else 1883),
        out_dir=args.out,
        local_services=not args.external,
    )
    out = Console()

    def ready(broker: Any) -> None:
        out.print(
            f"grid up on [bold]{broker.url}[/bold] ({broker.kind}); inject with "
            f"`gridsim inject FILE --broker {broker.url}`; Ctrl-C to stop"
        )

    def finished(summary: dict[str, Any]) -> None:
        print_summary(out, summary)
        out.print(f"results: {args.out / summary['run_id'] / 'summary.json'}")

    return _run_async(serve_grid(options, on_ready=ready, on_summary=finished))


def _cmd_inject(args: argparse.Namespace) -> int:
    from grid.app.inject import inject

    _check_speed(args.speed)
    scenario = load_scenario(args.scenario, roster=load_roster(args.roster)).with_seed(args.seed)
    summary = asyncio.run(inject(scenario, broker_url=args.broker, speed=args.speed, wait=args.wait))
    if summary is not None:
        print_summary(Console(), summary)
    return 0


def _cmd_results(args: argparse.Namespace) -> int:
    import json

    from grid.app.inject import fetch_results

    summary = asyncio.run(fetch_results(args.broker, run_id=args.run_id, timeout_s=args.timeout))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(Console(), summary)
    return 0


def _cmd_scenario(args: argparse.Namespace) -> int:
    from grid.world.scenario import validate_paths

    roster = load_roster(args.roster)
    out = Console()
    results = validate_paths(args.files, roster)
    for file, error in results:
        if error is not None:
            console.print(f"[red]invalid[/red] {error}")
        else:
            out.print(f"[green]ok[/green] {file}")
    return _EXIT_CONFIG if any(error is not None for _, error in results) else 0


def _run_async(coro: Coroutine[Any, Any, None]) -> int:
    asyncio.run(coro)
    return 0


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
        "bench": run_bench,
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
        console.print(f"[red]{type(error).__name__}[/red]: {error}")
        return _EXIT_CONFIG if isinstance(error, ConfigError) else _EXIT_ERROR


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
