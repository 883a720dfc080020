"""``python -m grid.app.bench fusion [--out DIR] [--quick]``: the benchmarks without the gridsim CLI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grid.app.bench.cli import run_bench
from grid.app.parser import (
    add_codec_parser,
    add_fusion_parser,
    add_latency_parser,
    add_scale_parser,
    add_soak_parser,
)
from grid.app.signals import Stopped, stop_signals
from grid.errors import GridError


def main(argv: list[str] | None = None) -> int:
    """Parse and run; a GridError becomes one line and exit code 2."""
    parser = argparse.ArgumentParser(prog="python -m grid.app.bench", description="gridsim's benchmarks.")
    parser.add_argument(
        "--roster", type=Path, default=None, help="member-state folder (default: the bundled one)"
    )
    benchmarks = parser.add_subparsers(dest="bench_command", required=True, metavar="BENCHMARK")
    add_fusion_parser(benchmarks)
    add_latency_parser(benchmarks)
    add_scale_parser(benchmarks)
    add_codec_parser(benchmarks)
    add_soak_parser(benchmarks)
    args = parser.parse_args(argv)
    try:
        with stop_signals():
            return run_bench(args)
    except Stopped as stop:  # Ctrl-C or SIGTERM: the benchmark stopped its clients and broker
        return stop.exit_code
    except GridError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
