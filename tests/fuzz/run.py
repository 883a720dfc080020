"""``scripts/fuzz``: the long fuzz run, outside the default test run, and the corpus capture.

A seeded mutation loop in pure Python (``--engine loop``, the default): input ``i`` goes to target
``i mod len(targets)``; it is a real seed (1 in 50), random bytes (1 in 20), or a mutation of a
seed. With ``--engine atheris`` libFuzzer drives the same targets, coverage-guided, from the same
seeds. Either way it prints the inputs tried, the outcomes by target and reason, the crashes and
the inputs per second, and writes each crashing input (and its traceback) to ``--crashes DIR``.
An input that takes more than ``--hang-s`` seconds of CPU time is a crash too (CPU, not wall
time: on a loaded machine a stalled process is not a hang). Exit status 1 if anything crashed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import signal
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

from tests.fuzz.corpus import load_corpus
from tests.fuzz.targets import TARGETS, Target, is_crash, make_targets

__all__ = ["FuzzReport", "fuzz", "main"]


class _Hang(Exception):
    pass


class FuzzReport:
    """What a fuzz run found."""

    def __init__(self) -> None:
        self.tried: Counter[str] = Counter()
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.crashes: list[dict[str, str]] = []
        self.seconds = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The figures, JSON-ready."""
        total = sum(self.tried.values())
        return {
            "inputs": total,
            "seconds": round(self.seconds, 1),
            "inputs_per_s": round(total / self.seconds) if self.seconds else None,
            "crashes": len(self.crashes),
            "by_target": dict(self.tried),
            "outcomes": {f"{t} {o}": n for (t, o), n in sorted(self.outcomes.items())},
            "crash_files": [c["file"] for c in self.crashes],
        }


def _record_crash(report: FuzzReport, crashes: Path, target: str, data: bytes, exc: BaseException) -> None:
    digest = hashlib.sha1(data).hexdigest()[:16]
    crashes.mkdir(parents=True, exist_ok=True)
    file = crashes / f"{target}-{digest}.bin"
    file.write_bytes(data)
    tb = "".join(traceback.format_exception(exc))
    file.with_suffix(".txt").write_text(f"target {target}\n{tb}", encoding="utf-8")
    report.crashes.append({"target": target, "file": str(file), "error": f"{type(exc).__name__}: {exc}"})
    print(f"CRASH in {target}: {type(exc).__name__}: {str(exc)[:200]} -> {file}", flush=True)


def feed_one(target: Target, data: bytes, hang_s: float = 0.0) -> str:
    """One input into ``target``: its outcome; raises what broke the contract (a hang included).

    ``hang_s`` > 0 arms a CPU-time alarm, which needs :func:`fuzz`'s SIGVTALRM handler installed.
    """
    if hang_s > 0:
        signal.setitimer(signal.ITIMER_VIRTUAL, hang_s)
    try:
        return target.feed(data)
    except Exception as exc:
        if is_crash(exc):
            raise
        return f"error:{type(exc).__name__}"  # a typed error the service's dispatch counts as errors.<type>
    finally:
        if hang_s > 0:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _Hang("an input took more than --hang-s of CPU time")


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
    previous = signal.signal(signal.SIGVTALRM, _on_alarm)
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
                outcome = feed_one(target, data, hang_s)
            except Exception as exc:  # noqa: BLE001 - every crash is recorded, and the run goes on
                _record_crash(report, crashes, target.name, data, exc)
                outcome = "crash"
            report.outcomes[target.name, outcome] += 1
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


def _print(report: FuzzReport) -> None:
    figures = report.as_dict()
    print(
        f"inputs tried: {figures['inputs']}  crashes: {figures['crashes']}  "
        f"seconds: {figures['seconds']}  inputs/s: {figures['inputs_per_s']}"
    )
    for name, n in report.tried.items():
        print(f"  {name}: {n} inputs")
        for (target, outcome), k in sorted(report.outcomes.items(), key=lambda kv: -kv[1]):
            if target == name:
                print(f"    {k:>9}  {outcome}")


def _atheris(targets: list[Target], count: int, seed: int, crashes: Path) -> None:  # pragma: no cover
    """libFuzzer via atheris: the first byte picks the target, the rest is its input."""
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

    corpus_dir = crashes / "atheris-corpus"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    for k, target in enumerate(targets):
        for j, data in enumerate(target.seeds[:200]):
            (corpus_dir / f"{target.name}-{j}").write_bytes(bytes([k]) + data)
    report = FuzzReport()
    started = time.monotonic()

    def one(data: bytes) -> None:
        if not data:
            return
        target = targets[data[0] % len(targets)]
        report.tried[target.name] += 1
        try:
            outcome = target.feed(data[1:])
        except Exception as exc:
            if is_crash(exc):
                raise  # atheris writes the input to crash-<sha1> under -artifact_prefix
            outcome = f"error:{type(exc).__name__}"
        report.outcomes[target.name, outcome] += 1
        if sum(report.tried.values()) == count:  # libFuzzer's last run: it exits without atexit hooks
            report.seconds = time.monotonic() - started
            _print(report)

    if os.environ.get(
        "GRIDSIM_FUZZ_INSTRUMENT"
    ):  # coverage of all 20,000 imported functions: minutes to set up
        atheris.instrument_all()
    atheris.Setup(
        [sys.argv[0], f"-runs={count}", f"-seed={seed}", f"-artifact_prefix={crashes}/", str(corpus_dir)], one
    )
    atheris.Fuzz()


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
    """``scripts/fuzz [--count N] [--target T ...] [--seed S] [--crashes DIR] [--capture]``."""
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
        "--hang-s", type=float, default=20.0, help="an input taking more CPU seconds is a crash"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--capture", action="store_true", help="record tests/fuzz/corpus from real runs, then stop"
    )
    parser.add_argument(
        "--replay", type=Path, nargs="+", help="feed these crash files (<target>-<hash>.bin) again, then stop"
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
    targets = make_targets(load_corpus(), args.target or TARGETS)
    if args.engine == "atheris":
        _atheris(targets, args.count, args.seed, args.crashes)
        return 0
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops it as Ctrl-C does
    report = fuzz(targets, count=args.count, seed=args.seed, crashes=args.crashes, hang_s=args.hang_s)
    _print(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    return 1 if report.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
