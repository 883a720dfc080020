"""``python -m grid.app.bench fusion [--out DIR] [--quick] [--quiet|--json]``: the benchmarks without
the gridsim CLI (the same flags, output modes and exit codes as ``gridsim bench``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grid.app.bench.cli import run_bench_output
from grid.app.output import Output, add_output_flags_everywhere, failure_document, reset_documents
from grid.app.parser import (
    add_codec_parser,
    add_fusion_parser,
    add_latency_parser,
    add_scale_parser,
    add_soak_parser,
)
from grid.app.signals import Stopped, stop_signals
from grid.errors import ConfigError, GridError


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
    add_output_flags_everywhere(parser)
    args = parser.parse_args(argv)
    reset_documents()
    as_json = Output.from_args(args).json
    try:
        with stop_signals():
            return run_bench_output(args)
    except Stopped as stop:  # Ctrl-C or SIGTERM: the benchmark stopped its clients and broker
        if as_json:
            failure_document("stopped", {"signal": stop.name, "exit_code": stop.exit_code})
        return stop.exit_code
    except GridError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        code = 2 if isinstance(exc, ConfigError) else 1
        if as_json:
            failure_document("error", {"type": type(exc).__name__, "message": str(exc), "exit_code": code})
        return code


if __name__ == "__main__":
    sys.exit(main())
