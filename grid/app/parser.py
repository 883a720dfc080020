"""The ``gridsim`` command line's grammar: every command, its arguments and their help.

Building it imports only the standard library and gridsim's root modules, so ``gridsim --help``
returns at once; :mod:`grid.app.cli` carries the commands out.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from grid.app.env import env_epilog
from grid.app.output import add_output_flags_everywhere
from grid.bundled import bundled_dir

__all__ = [
    "BENCH_CODEC_OUT_NAME",
    "BENCH_FUSION_OUT_NAME",
    "BENCH_LATENCY_OUT_NAME",
    "BENCH_SCALE_OUT_NAME",
    "BENCH_SOAK_OUT_NAME",
    "add_certs_options",
    "add_codec_parser",
    "add_fusion_parser",
    "add_latency_parser",
    "add_scale_parser",
    "add_soak_parser",
    "build_parser",
]

BENCH_CODEC_OUT_NAME = "bench-codec"  # DIR/bench-codec.json written by ``bench codec --out DIR``
BENCH_FUSION_OUT_NAME = "bench-fusion"  # DIR/bench-fusion.json and .md written by ``bench fusion --out DIR``
BENCH_LATENCY_OUT_NAME = "bench-latency"  # DIR/bench-latency.json and .png written by ``bench latency``
BENCH_SOAK_OUT_NAME = "bench-soak"  # DIR/bench-soak.json and .png written by ``bench soak --out DIR``
BENCH_SCALE_OUT_NAME = "bench-scale"  # DIR/bench-scale.json, .png and -load.png written by ``bench scale``


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


def add_latency_parser(subparsers: Any) -> None:
    """Add the ``latency`` benchmark (the grid's data path against raw MQTT) to ``bench``'s subparsers."""
    latency = subparsers.add_parser(
        "latency",
        help="one-way report latency through the grid against bare MQTT clients, on one broker",
        description=(
            "Publish threat reports from N nodes at a fixed rate through the grid's encode, session, "
            "broker and fusion-centre decode (no simulation, no tracker), then the same-size payloads "
            "from bare MQTT clients on the same broker and topology. Prints one-way latency "
            "percentiles, throughput and loss of both, their ratios, and PASS/FAIL against the target "
            "(grid p50 <= 1.5x and p99 <= 2x the baseline at 15 nodes, 10 Hz, QoS 1 on Mosquitto)."
        ),
    )
    latency.add_argument("--nodes", type=int, default=15, help="publishing nodes (default 15: the roster)")
    latency.add_argument(
        "--rate", type=float, default=10.0, metavar="HZ", help="reports/s per node (default 10)"
    )
    latency.add_argument("--qos", type=int, choices=[0, 1, 2], default=1, help="publish QoS (default 1)")
    latency.add_argument("--duration", type=float, default=10.0, metavar="S", help="measured s (default 10)")
    latency.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        metavar="S",
        help="s before the measured window, left out (default 2)",
    )
    _add_bench_broker(latency)
    latency.add_argument(
        "--secure",
        action="store_true",
        help="also run the grid half on a second Mosquitto with mutual TLS and the ACL "
        "(the cost of secure mode)",
    )
    latency.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"write DIR/{BENCH_LATENCY_OUT_NAME}.json and .png",
    )
    latency.add_argument("--quiet", action="store_true", help="no progress display")


def _add_bench_broker(bench: argparse.ArgumentParser) -> None:
    """The broker and seed options every MQTT bench takes."""
    bench.add_argument("--broker", metavar="URL", help="use this MQTT broker instead of starting one")
    bench.add_argument(
        "--broker-kind", choices=["auto", "mosquitto", "amqtt"], default="auto", help="broker to start"
    )
    bench.add_argument("--seed", type=int, default=0, help="seed of the nodes' publish phases (default 0)")


def add_scale_parser(subparsers: Any) -> None:
    """Add the ``scale`` benchmark (the knee of report rate against roster size) to ``bench``'s subparsers."""
    scale = subparsers.add_parser(
        "scale",
        help="highest report rate the grid sustains against bare MQTT clients, per roster size",
        description=(
            "For each roster size, generated rosters (grids of at most 10 nodes, overlapping by half; the "
            "real roster at 15) publish reports once per node to every peer and the fusion centre, and the "
            "aggregate rate is stepped up (geometric steps, then bisection) until p99 one-way latency at "
            "any subscriber exceeds 50 ms, anything is lost, or publishers fall behind; the knee is the "
            "highest rate that passed. The grid's path (sessions, envelopes, decode) and bare MQTT clients "
            "with same-size payloads are searched on the same broker. Target: grid knee >= 0.8x the "
            "baseline's in one process, >= 1.5x with --workers."
        ),
    )
    scale.add_argument(
        "--nodes",
        default=None,
        metavar="N,N,...",
        help="roster sizes, comma-separated (default 15,50,100,200,500; with --quick 15,50,100)",
    )
    scale.add_argument("--qos", type=int, choices=[0, 1, 2], default=1, help="publish QoS (default 1)")
    scale.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes holding the grid's nodes (default 1: everything in this process)",
    )
    scale.add_argument(
        "--warmup", type=float, default=None, metavar="S", help="s left out of each phase (default 1)"
    )
    scale.add_argument(
        "--duration", type=float, default=None, metavar="S", help="measured s per phase (default 3)"
    )
    scale.add_argument(
        "--start-rate", type=float, default=None, metavar="HZ", help="first aggregate rate (default 50)"
    )
    scale.add_argument(
        "--min-rate", type=float, default=None, metavar="HZ", help="lowest rate tried (default 5)"
    )
    scale.add_argument(
        "--max-rate", type=float, default=None, metavar="HZ", help="highest rate tried (default 20000)"
    )
    scale.add_argument(
        "--bisections",
        type=int,
        default=None,
        help="bisection steps after the first failure (default 2; quick 1)",
    )
    scale.add_argument(
        "--attempts",
        type=int,
        default=None,
        help="measurements of a rate before it counts as failed (default 2: one stall is not a knee)",
    )
    scale.add_argument(
        "--repeats",
        type=int,
        default=None,
        metavar="R",
        help="knee searches per kind and size, grid and baseline interleaved; the ratio compares "
        "the median knees (default 1; 3 for recorded figures)",
    )
    _add_bench_broker(scale)
    scale.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"write DIR/{BENCH_SCALE_OUT_NAME}.json, .png (knee per size) and -load.png (p99 per rate)",
    )
    scale.add_argument("--quick", action="store_true", help="3 sizes, 0.5 + 1.5 s phases, one bisection")
    scale.add_argument("--quiet", action="store_true", help="no progress display")


def add_codec_parser(subparsers: Any) -> None:
    """Add the ``codec`` benchmark (wire encode/decode/validate) to a ``bench`` command's subparsers."""
    codec = subparsers.add_parser(
        "codec",
        help="µs to encode, decode and validate a report and a track envelope",
        description=(
            "Time the wire codec on one report and one fused-track envelope: production (msgspec Structs, "
            "validated on decode) against plain msgpack without validation and stdlib json of the same map. "
            "Prints PASS/FAIL against the 5 µs report target."
        ),
    )
    codec.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help=f"write DIR/{BENCH_CODEC_OUT_NAME}.json"
    )
    codec.add_argument("--repeats", type=int, default=2000, help="timed samples per operation (default 2000)")
    codec.add_argument("--inner", type=int, default=20, help="calls per timed sample (default 20)")
    codec.add_argument("--seed", type=int, default=0, help="seed of the messages' values (default 0)")
    codec.add_argument(
        "--signed", action="store_true", help="add a signed column: production plus an Ed25519 signature"
    )


def add_soak_parser(subparsers: Any) -> None:
    """Add the ``soak`` benchmark (the grid for minutes, its memory watched) to ``bench``'s subparsers."""
    soak = subparsers.add_parser(
        "soak",
        help="the whole grid for 10 minutes: RSS of every process, bounded growth, nothing lost",
        description=(
            "Play a stream of drones (one every --period simulation s) on the whole grid (its own "
            "Mosquitto, the fusion centre's worker and --workers node workers) for --duration wall s "
            "at --speed; sample every process's RSS (/proc/PID/status VmRSS) every --interval s. "
            "PASS when each process grew after --warmup by at most 20 MB, 20 %% of its RSS or 1.5 kB "
            "per report (whichever is largest: a run's accounts keep about 1 kB a report) and no report "
            "was lost. Exit code 1 on FAIL."
        ),
    )
    soak.add_argument("--duration", type=float, default=600.0, metavar="S", help="wall s (default 600)")
    soak.add_argument(
        "--speed", type=float, default=2.0, help="simulation speed, the grid's rate (default 2: sustainable)"
    )
    soak.add_argument("--workers", type=int, default=2, metavar="N", help="node processes (default 2)")
    soak.add_argument(
        "--period", type=float, default=60.0, metavar="S", help="simulation s between drones (default 60)"
    )
    soak.add_argument(
        "--warmup", type=float, default=None, metavar="S", help="wall s before growth counts (default 60)"
    )
    soak.add_argument(
        "--interval", type=float, default=None, metavar="S", help="wall s between samples (default 10)"
    )
    soak.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help=f"write DIR/{BENCH_SOAK_OUT_NAME}.json and .png, and the run (DIR/run)",
    )


def _add_fault_options(run: argparse.ArgumentParser) -> None:
    """``gridsim run``'s fault injection (grid.app.faults), then the service options."""
    run.add_argument(
        "--kill-fusion-at",
        type=float,
        default=None,
        metavar="S",
        help="fault injection: SIGKILL the fusion centre's worker at simulation second S and restart it "
        "--fusion-down s later (with the cyber hub and the JCC); each resumes its session and journal "
        "(needs --workers N >= 1)",
    )
    run.add_argument(
        "--fusion-down",
        type=float,
        default=5.0,
        metavar="S",
        help="simulation s the killed fusion stays down",
    )
    _add_service_options(run)


def _add_workers_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help=(
            "spread the nodes over N processes, with the fusion centre in one more (default: one per "
            "core); 0 runs everything in this process"
        ),
    )


def _add_bench_parser(subparsers: Any) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks", description="Benchmarks of gridsim's parts.")
    benchmarks = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCHMARK")
    add_fusion_parser(benchmarks)
    add_latency_parser(benchmarks)
    add_scale_parser(benchmarks)
    add_codec_parser(benchmarks)
    add_soak_parser(benchmarks)


def _add_cyber_parser(subparsers: Any) -> None:
    cyber = subparsers.add_parser(
        "cyber", help="work with a run's cyber exchange", description="Work with a run's cyber exchange."
    )
    actions = cyber.add_subparsers(dest="cyber_command", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="write a run's shared STIX objects as a STIX 2.1 bundle and check it",
        description=(
            "Read RUN_DIR/cyber-objects.json (what the run's cyber-exchange hub shared), write "
            "RUN_DIR/cyber-bundle.json, a STIX 2.1 bundle, then check it: stix2 parses it back with no "
            "custom content, and stix2-validator (when installed) reports its errors and warnings. "
            "Exit 0 when it is valid, 1 when the validator finds errors, 2 when the objects file is "
            "missing or not STIX."
        ),
    )
    export.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run's output folder")


# The fusion centre's default (grid.participants.air_picture.DEFAULT_TRACK_INTERVAL_S, which
# imports numpy: this module must not). tests/grid/app/test_cli.py checks the two agree.
TRACK_INTERVAL_HELP_DEFAULT = 1.0


def _add_track_interval(p: Any) -> None:
    p.add_argument(
        "--track-interval",
        type=float,
        default=None,
        metavar="S",
        help=(
            "the fusion centre publishes each track at most once per S simulation seconds, its "
            "confirmation and deletion at once (0: every tracker update; default "
            f"{TRACK_INTERVAL_HELP_DEFAULT:g})"
        ),
    )


def _add_taxii(p: Any) -> None:
    p.add_argument(
        "--taxii",
        metavar="URL",
        default=None,
        help=(
            "the cyber-exchange hub also pushes its shared indicators and sightings to this TAXII 2.1 "
            "collection: http[s]://[user:password@]host[:port]/api-root/collections/<id or title>/ "
            "(credentials also from GRIDSIM_TAXII_USER and GRIDSIM_TAXII_PASSWORD)"
        ),
    )


# The Joint Cyber Centre's default (grid.participants.jcc.DEFAULT_ANALYSIS_S; that module imports
# aiomqtt). tests/grid/app/test_cli.py checks the two agree.
ANALYSIS_HELP_DEFAULT = 5.0


def _add_analysis(p: Any) -> None:
    p.add_argument(
        "--analysis",
        type=float,
        default=None,
        metavar="S",
        help=(
            "the Joint Cyber Centre flags each new shared indicator S simulation seconds after it "
            f"arrives (default {ANALYSIS_HELP_DEFAULT:g})"
        ),
    )


def _add_service_options(p: Any) -> None:
    """The options of the services ``run`` and ``up`` start: workers, air picture, cyber exchange, signing."""
    _add_workers_argument(p)
    _add_track_interval(p)
    _add_taxii(p)
    _add_analysis(p)
    _add_signing(p)


_CLUSTER_BROKER_HELP = (
    "MQTT broker URL, e.g. mqtt://127.0.0.1:1883 (default: $GRID_BROKER_URL); URL1,URL2,...: a "
    "cluster's members, failed over in turn"
)


def _add_hub_parser(sub: Any) -> None:
    hub = sub.add_parser(
        "hub",
        help="run the cyber-exchange hub and the Joint Cyber Centre in this process",
        description=(
            "Run the cyber-exchange hub and the Joint Cyber Centre: the hub shares each CERT indicator of "
            "an announced run once, the centre flags it, and the hub sends its mitigation to the members."
        ),
    )
    _add_service_broker(hub)
    _add_taxii(hub)
    _add_analysis(hub)


_SPEED_HELP = "simulation seconds per wall second (default: $GRID_SPEED, else 1)"
# The commands whose options have environment defaults: their help ends with the variables.
_ENV_COMMANDS = ("run", "up", "node", "fusion", "hub", "inject", "results", "health", "cot", "dashboard")


class _Formatter(argparse.HelpFormatter):
    """Wraps descriptions as usual; keeps the environment table of the epilog as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("environment variables"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _add_env_epilogs(p: argparse.ArgumentParser, sub: Any) -> None:
    p.epilog, p.formatter_class = env_epilog(), _Formatter
    for name in _ENV_COMMANDS:
        if (command := sub.choices.get(name)) is not None:
            command.epilog, command.formatter_class = env_epilog(), _Formatter


def _add_health_parser(sub: Any) -> None:
    health = sub.add_parser(
        "health",
        help="container healthcheck: a node's or service's retained status, or just the broker",
        description=(
            "Check a participant's retained status on the broker: exit 0 when it says online (or "
            "running), 1 when it says offline, has none, or the broker does not answer; one line either "
            "way. With neither --node nor --service (nor GRID_NODE_ID), check only that the broker answers."
        ),
    )
    health.add_argument("--broker", metavar="URL", help="MQTT broker URL (default: $GRID_BROKER_URL)")
    which = health.add_mutually_exclusive_group()
    which.add_argument("--node", metavar="ID", help="member-state node id (default: $GRID_NODE_ID)")
    which.add_argument(
        "--service",
        choices=["fusion", "hub"],
        help="the fusion centre, or the hub (with the Joint Cyber Centre)",
    )
    health.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="give up after S seconds (default 5)"
    )


def _add_cot_parser(sub: Any) -> None:
    cot = sub.add_parser(
        "cot",
        help="send the fused tracks to a TAK endpoint as Cursor-on-Target events",
        description=(
            "Until stopped (Ctrl-C, SIGTERM), send each fused track update to a TAK endpoint as a CoT "
            "event (a drop event when the track is deleted), then print the counts. A TAK endpoint "
            "that is down is retried with a doubling back-off up to 30 s."
        ),
    )
    cot.add_argument("--broker", metavar="URL", help="MQTT broker URL (default: $GRID_BROKER_URL)")
    cot.add_argument(
        "--tak", required=True, metavar="URL", help="tcp://host:port, or udp://239.2.3.1:6969 (ATAK mesh)"
    )
    cot.add_argument(
        "--stale",
        type=float,
        default=None,
        metavar="S",
        help="an event goes stale S s after its update arrives (default: 3 of its track's periods, >= 5 s)",
    )
    cot.add_argument(
        "--classify",
        choices=("none", "truth"),
        default="none",
        help=(
            "none: every track is unknown air (a-u-A); truth: a confirmed track gets the hostile code "
            "of the scenario threat it follows (a stand-in classifier)"
        ),
    )
    cot.add_argument("--no-retry", action="store_true", help="a TAK endpoint that is down is an error")
    cot.add_argument("--json", action="store_true", help="print the counts as JSON on stdout at the end")
    cot.add_argument("--quiet", action="store_true", help="no counts line at the end")


def _add_federated(run: argparse.ArgumentParser, up: argparse.ArgumentParser) -> None:
    for command in (run, up):
        command.add_argument(
            "--federated",
            action="store_true",
            help=(
                "one Mosquitto per grid plus a core (--port: the core's), joined by one-way bridges; "
                "each node on its grid's broker, fusion and hub on the core"
            ),
        )


def _add_federation_parser(sub: Any) -> None:
    federation = sub.add_parser(
        "federation",
        help="federated grids: write the bridged Mosquitto configurations for docker compose",
        description="Federated grids: one Mosquitto per grid plus a core, joined by one-way pulling bridges.",
    )
    actions = federation.add_subparsers(dest="action", required=True, metavar="ACTION")
    configs = actions.add_parser(
        "configs",
        help="write mosquitto.conf (core), broker-<grid>.conf per grid, homes.json and compose.env",
        description=(
            "Write the federation's Mosquitto configurations into DIR: mosquitto.conf for the core "
            "(the fusion centre, hub and controller), broker-<grid>.conf for each grid's broker, and "
            "each node's broker in homes.json and compose.env."
        ),
    )
    configs.add_argument("dir", type=Path, metavar="DIR", help="output folder (created if missing)")
    configs.add_argument(
        "--core",
        default=None,
        metavar="HOST:PORT",
        help="the core broker (default mosquitto:1883; with --secure mosquitto:8883)",
    )
    configs.add_argument(
        "--grid-address",
        default=None,
        metavar="TEMPLATE",
        help="a grid's broker, {grid} standing for its name (default broker-{grid}:1883; with --secure 8883)",
    )
    configs.add_argument(
        "--secure",
        action="store_true",
        help="mutual TLS on 8883, an ACL per broker (<name>.acl, mount it at /mosquitto/config/acl) "
        "and bridges over TLS with their own certificates (gridsim certs)",
    )
    # Not dest "certs": that one makes a command connect over TLS (grid.app.cli._client_credentials).
    configs.add_argument(
        "--certs",
        dest="broker_certs",
        default=None,
        metavar="PATH",
        help="with --secure: the gridsim certs folder as the brokers see it (default /mosquitto/certs)",
    )


def _add_sign_keys(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument("--sign-keys", type=Path, default=None, metavar="DIR", help=help_text)
    p.add_argument(
        "--replay-window",
        type=float,
        default=None,
        metavar="S",
        help="with signing: refuse a report sent more than S wall seconds from now (default 300)",
    )


def _add_service_broker(p: argparse.ArgumentParser) -> None:
    """A lone service's (node, fusion, hub) broker and signing keys."""
    p.add_argument("--broker", metavar="URL", help=_CLUSTER_BROKER_HELP)
    _add_sign_keys(
        p,
        "signed reports, with the keys in DIR/signing/<node>.key and .pub (as `gridsim certs DIR` writes "
        "them): a node signs its reports, every report received must be signed by its topic's node",
    )


def _add_signing(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sign",
        action="store_true",
        help="signed reports: nodes sign with Ed25519, the fusion centre, hub and nodes refuse unsigned, "
        "forged, wrong-signer and replayed ones (fresh keys in a temporary folder unless --sign-keys)",
    )
    _add_sign_keys(
        p,
        "sign with the keys in DIR/signing/<node>.key and .pub (as `gridsim certs DIR` writes them); "
        "implies --sign (with --external: the controller checks the reports it observes with them)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole ``gridsim`` command line: every command, its arguments and their help."""
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
            "Play a scenario on a whole grid: start a broker on a free loopback port "
            "(Mosquitto if installed, else amqtt) unless --broker is given, run every member node (in "
            "--workers processes) and the fusion centre, then print per-threat and per-member results "
            "and write DIR/summary.json."
        ),
    )
    run.add_argument(
        "scenario", nargs="?", type=Path, help="scenario YAML (default: the bundled default scenario)"
    )
    run.add_argument(
        "--broker",
        metavar="URL",
        help="use this MQTT broker (mqtt://host:port) instead of starting one (with --external, default: "
        "$GRID_BROKER_URL)",
    )
    run.add_argument("--speed", type=float, default=None, help=_SPEED_HELP)
    run.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    run.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="output folder (default runs/<timestamp>)"
    )
    run.add_argument(
        "--broker-kind",
        choices=["auto", "mosquitto", "amqtt", "rabbitmq"],
        default="auto",
        help="which broker to start when --broker is not given (auto: Mosquitto if installed, else amqtt); "
        "rabbitmq: --broker URL1,URL2,... is a RabbitMQ cluster, the grid spread over its members",
    )
    run.add_argument(
        "--port", type=int, default=None, help="port for the broker gridsim starts (default: a free one)"
    )
    run.add_argument(
        "--external",
        action="store_true",
        help="start no nodes or fusion here; wait for `gridsim node`/`gridsim fusion` processes on --broker",
    )
    _add_run_output(run)
    run.add_argument(
        "--distributed",
        action="store_true",
        help="every node also fuses its own picture; the summary compares each with the fusion centre's",
    )
    _add_fault_options(run)  # and the service options

    node = sub.add_parser(
        "node",
        help="run one member state's node in this process",
        description="Run one member state's node: it waits for runs announced on the broker and plays them.",
    )
    node.add_argument("--id", dest="node_id", help="member-state node id, e.g. RO (default: $GRID_NODE_ID)")
    _add_service_broker(node)

    fusion = sub.add_parser(
        "fusion",
        help="run the fusion centre in this process",
        description="Run the fusion centre: it fuses the reports of each announced run and publishes tracks.",
    )
    _add_service_broker(fusion)
    _add_track_interval(fusion)

    _add_hub_parser(sub)

    up = sub.add_parser(
        "up",
        help="keep a grid running with no scripted threats; play scenarios injected into it",
        description=(
            "Start a grid (broker unless --broker, fusion and every node) and keep it running. Each scenario "
            "sent with `gridsim inject` is played; its summary is published on grid/v1/results/<run> "
            "(read it with `gridsim results`) and written to DIR/<run>/summary.json."
        ),
    )
    up.add_argument(
        "--broker",
        metavar="URL",
        help="use this MQTT broker instead of starting one (default: $GRID_BROKER_URL)",
    )
    up.add_argument(
        "--port", type=int, default=None, help="port for the broker gridsim starts (default 1883)"
    )
    up.add_argument(
        "--broker-kind",
        choices=["auto", "mosquitto", "amqtt", "rabbitmq"],
        default="auto",
        help="rabbitmq: --broker URL1,URL2,... is a RabbitMQ cluster, the grid spread over its members",
    )
    up.add_argument(
        "--external", action="store_true", help="nodes and fusion are other processes on --broker"
    )
    _add_up_output(up)
    _add_service_options(up)
    _add_federated(run, up)

    inject = sub.add_parser(
        "inject",
        help="send a scenario to a running grid (gridsim up)",
        description=(
            "Send a scenario to a grid started with `gridsim up`: threats and events play with times "
            "relative to the injection. Prints the run id; `gridsim results` shows the outcome."
        ),
    )
    inject.add_argument("scenario", type=Path, help="scenario YAML")
    inject.add_argument(
        "--broker",
        metavar="URL",
        help="the running grid's MQTT broker (default: $GRID_BROKER_URL); URL1,URL2,...: a cluster's members",
    )
    inject.add_argument("--speed", type=float, default=None, help=_SPEED_HELP)
    inject.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    inject.add_argument("--wait", action="store_true", help="wait for the results and print them")

    results = sub.add_parser(
        "results",
        help="print the results of runs injected into a running grid",
        description="Print the summary of an injected run (default: the most recent one seen on the broker).",
    )
    results.add_argument(
        "--broker",
        metavar="URL",
        help="the running grid's MQTT broker (default: $GRID_BROKER_URL); URL1,URL2,...: a cluster's members",
    )
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
    _add_tool_parsers(sub)
    _finish(p, sub)
    return p


def _finish(p: argparse.ArgumentParser, sub: Any) -> None:
    _add_env_epilogs(p, sub)
    add_output_flags_everywhere(p)  # --quiet / --json on every command, one mechanism (grid.app.output)


def _add_dashboard_parsers(sub: Any) -> None:
    """``run --dashboard`` and ``gridsim dashboard``: the live map on 127.0.0.1."""
    run = sub.choices["run"]
    run.add_argument(
        "--dashboard",
        action="store_true",
        help="serve the live map on http://127.0.0.1:PORT/ while the run plays (see --dashboard-port)",
    )
    run.add_argument(
        "--dashboard-port",
        type=int,
        default=8765,
        metavar="PORT",
        help="the live map's port (default 8765; 0: a free one)",
    )
    dashboard = sub.add_parser(
        "dashboard",
        help="serve the live map of a grid on 127.0.0.1",
        description=(
            "Serve the live map of the grid on --broker at http://127.0.0.1:PORT/: node sites online or "
            "offline, incoming reports, fused tracks with their uncertainty, alerts and the cyber hub's "
            "indicators. Ctrl-C to stop."
        ),
    )
    dashboard.add_argument(
        "--broker", metavar="URL", help="the grid's MQTT broker (default: $GRID_BROKER_URL)"
    )
    dashboard.add_argument(
        "--port", type=int, default=8765, help="HTTP port on 127.0.0.1 (default 8765; 0: a free one)"
    )


def _add_up_output(up: argparse.ArgumentParser) -> None:
    up.add_argument(
        "--out", type=Path, default=Path("runs"), metavar="DIR", help="output folder (default runs/)"
    )
    up.add_argument(
        "--no-report",
        action="store_true",
        help="do not build DIR/<run>/report.html after each run (`gridsim report DIR/<run>` builds it)",
    )


def _add_run_output(run: argparse.ArgumentParser) -> None:
    run.add_argument("--quiet", action="store_true", help="no live progress display")
    run.add_argument(
        "--no-report",
        action="store_true",
        help="do not build DIR/report.html (`gridsim report DIR` builds it)",
    )


def _add_certs_parser(sub: Any) -> None:
    certs = sub.add_parser(
        "certs",
        help="make a secure grid's test CA, TLS certificates and signing keys",
        description=(
            "Write a test CA (DIR/ca.crt, ca.key), the broker's certificate (DIR/broker.crt, .key; "
            "127.0.0.1, localhost, broker, mosquitto), a client certificate per member state (CN = node "
            "id) and for fusion, hub, jcc, dashboard and operator (DIR/clients/<name>.crt, .key), and an "
            "Ed25519 signing key pair per member state (DIR/signing/<node>.key, .pub). Private keys are 0600."
        ),
    )
    certs.add_argument(
        "dir",
        type=Path,
        metavar="DIR",
        help="folder to create or fill (refused if it exists and is not empty)",
    )
    # SUPPRESS: not given here, the global --roster (before the command) stands.
    certs.add_argument("--roster", type=Path, default=argparse.SUPPRESS, help="member-state folder")
    certs.add_argument("--days", type=int, default=30, help="validity in days (default 30)")
    certs.add_argument("--force", action="store_true", help="replace DIR if it exists")
    certs.add_argument(
        "--keep",
        action="store_true",
        help="keep DIR as it is when it already holds a complete PKI (docker compose's certs volume)",
    )


def add_certs_options(p: argparse.ArgumentParser, *, secure: bool = False) -> None:
    """``--certs DIR`` (and ``--cert-name``, or for ``run``/``up`` ``--secure``): connect with mutual TLS."""
    if secure:
        p.add_argument(
            "--secure",
            action="store_true",
            help="mutual TLS and the roster's ACL on Mosquitto; every participant presents its own "
            "certificate (made for the run in a temporary folder unless --certs)",
        )
    p.add_argument(
        "--certs",
        type=Path,
        default=None,
        metavar="DIR",
        help="connect over TLS with certificates from DIR (gridsim certs)",
    )
    if not secure:
        p.add_argument(
            "--cert-name",
            default=None,
            metavar="NAME",
            help="present DIR/clients/NAME.crt (default: the participant's own; operator for tools)",
        )


def _add_tool_parsers(sub: Any) -> None:
    """The commands around a grid rather than in it: cyber export, federation configs, health."""
    _add_certs_parser(sub)
    _add_cyber_parser(sub)
    _add_report_parser(sub)
    _add_federation_parser(sub)
    _add_health_parser(sub)
    _add_cot_parser(sub)
    _add_dashboard_parsers(sub)
    for name in ("node", "fusion", "hub", "inject", "results", "health"):
        add_certs_options(sub.choices[name])
    for name in ("run", "up"):
        add_certs_options(sub.choices[name], secure=True)


def _add_report_parser(sub: Any) -> None:
    report = sub.add_parser(
        "report",
        help="build a run's report.html (maps and plots) from its output folder",
        description=(
            "Write RUN_DIR/report.html and the PNGs it shows from the files `gridsim run` wrote there "
            "(summary.json, truth.jsonl, tracks.jsonl, latency.json, sites.json). It opens from disk."
        ),
    )
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run's output folder")
