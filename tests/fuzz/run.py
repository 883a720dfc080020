"""``scripts/fuzz``: the long fuzz run, outside the default test run, and the corpus capture.

A seeded mutation loop in pure Python (``--engine loop``, the default): input ``i`` goes to target
``i mod len(targets)``; it is a real seed (1 in 50), random bytes (1 in 20), or a mutation of a
seed. With ``--engine atheris`` libFuzzer drives the same targets from the same seeds, guided by
the coverage of the grid package (:mod:`tests.fuzz.libfuzzer`). Either way it prints the inputs
tried, the outcomes by target and reason, the crashes and the inputs per second, and writes the
first input of each crash's cause (and its traceback) to ``--crashes DIR``; ``--minimize`` shrinks it.
An input that takes more than ``--hang-s`` seconds of CPU time is a crash too (CPU, not wall
time: on a loaded machine a stalled process is not a hang). Exit status 1 if anything crashed.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import signal
import sys
import time
from pathlib import Path

from tests.fuzz.corpus import load_corpus
from tests.fuzz.feed import FuzzReport, feed_one, hang_alarm, print_report, record_crash
from tests.fuzz.minimize import minimize_file
from tests.fuzz.targets import TARGETS, Target, make_targets

__all__ = ["FuzzReport", "feed_one", "fuzz", "main"]


def fuzz(
    targets: list[Target],
    *,
    count: int,
    seed: int,
    crashes: Path,
    hang_s: float = 20.0,
    progress_s: float = 30.0,
) -> FuzzReport:
    """The seeded mutation loop over ``targets``, ``count`` inputs in all."""
    rng = random.Random(seed)
    report = FuzzReport()
    previous = hang_alarm()
    started = last = time.monotonic()
    try:
        for i in range(count):
            target = targets[i % len(targets)]
            pick = rng.random()
            base = rng.choice(target.seeds)
            if pick < 0.02:
                data = base
            elif pick < 0.07:
                data = rng.randbytes(rng.randint(0, 64))
            else:
                data = target.mutate(rng, base)
            report.tried[target.name] += 1
            try:
                report.outcomes[target.name, feed_one(target, data, hang_s)] += 1
            except Exception as exc:  # noqa: BLE001 - every crash is recorded, and the run goes on
                record_crash(report, crashes, target.name, data, exc)
            now = time.monotonic()
            if now - last >= progress_s:
                last = now
                rate = (i + 1) / (now - started)
                print(f"{i + 1} inputs, {len(report.crashes)} crashes, {rate:.0f}/s", flush=True)
    except KeyboardInterrupt:
        print("interrupted: the figures so far", flush=True)
    finally:
        signal.signal(signal.SIGVTALRM, previous)
        report.seconds = time.monotonic() - started
    return report


def _replay(files: list[Path]) -> int:
    """Feed each crash file to the target its name starts with; 1 if any still breaks the contract."""
    broken = 0
    for file in files:
        (target,) = make_targets(load_corpus(), [file.name.partition("-")[0]])
        started = time.process_time()
        try:
            outcome = feed_one(target, file.read_bytes())
        except Exception as exc:  # noqa: BLE001 - reported, and the next file is fed
            broken += 1
            outcome = f"CRASH {type(exc).__name__}: {exc}"
        print(f"{file}: {outcome} ({time.process_time() - started:.3f} s CPU)")
    return 1 if broken else 0


def main(argv: list[str] | None = None) -> int:
    """``scripts/fuzz [--count N] [--target T ...] [--engine E] [--json FILE] [-- libFuzzer flags]``."""
    parser = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="inputs in all (default 1,000,000)")
    parser.add_argument(
        "--target", action="append", choices=TARGETS, help="fuzz only this target (repeatable)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the mutation loop (default 1)")
    parser.add_argument(
        "--crashes", type=Path, default=Path("runs/fuzz-crashes"), help="where crashing inputs go"
    )
    parser.add_argument("--engine", choices=("loop", "atheris"), default="loop")
    parser.add_argument(
        "--instrument",
        choices=("grid", "none", "all"),
        default="grid",
        help="atheris: code whose coverage guides libFuzzer (default grid; all takes minutes)",
    )
    parser.add_argument(
        "--hang-s", type=float, default=20.0, help="an input taking more CPU seconds is a crash"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--capture", action="store_true", help="record tests/fuzz/corpus from real runs, then stop"
    )
    parser.add_argument(
        "--replay", type=Path, nargs="+", help="feed these crash files (<target>-<hash>.bin) again, then stop"
    )
    parser.add_argument(
        "--minimize", type=Path, nargs="+", help="shrink these crash files (<target>-<hash>.bin), then stop"
    )
    parser.add_argument(
        "libfuzzer", nargs="*", help="atheris: after --, flags for libFuzzer (-max_total_time=600 ...)"
    )
    args = parser.parse_args(argv)
    if args.capture:
        from tests.fuzz.capture import capture

        counts = capture()
        print("captured:", ", ".join(f"{k} {v}" for k, v in counts.items()))
        return 0
    logging.disable(logging.CRITICAL)  # every refusal logs a warning; a million of them say nothing
    if args.replay:
        return _replay(args.replay)
    if args.minimize:
        for file in args.minimize:
            small = minimize_file(file, hang_s=args.hang_s)
            print(f"{file} ({file.stat().st_size} bytes) -> {small} ({small.stat().st_size} bytes)")
        return 0
    if args.engine == "atheris":
        from tests.fuzz.libfuzzer import fuzz_atheris

        targets = make_targets(load_corpus(), args.target or TARGETS)
        fuzz_atheris(
            targets,
            count=args.count,
            seed=args.seed,
            crashes=args.crashes,
            hang_s=args.hang_s,
            json_file=args.json,
            instrument=args.instrument,
            libfuzzer_args=args.libfuzzer,
        )
        return 0  # not reached: libFuzzer ends the process
    if args.libfuzzer:
        parser.error("flags after -- are libFuzzer's: only with --engine atheris")
    targets = make_targets(load_corpus(), args.target or TARGETS)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops it as Ctrl-C does
    report = fuzz(targets, count=args.count, seed=args.seed, crashes=args.crashes, hang_s=args.hang_s)
    print_report(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    return 1 if report.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
