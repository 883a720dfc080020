"""``scripts/fuzz --engine atheris``: libFuzzer drives the fuzz targets, guided by the coverage of gridsim.

Only the ``grid`` package is instrumented: every function of the grid modules the targets loaded,
at once, and any grid module imported later, as it is imported: about 1,000 functions, 1.5 s of
setup. Instrumenting everything the process holds (``--instrument all``, ``atheris.instrument_all``:
22,000 functions of the stdlib, yaml, pydantic, ...) took 170 s and guides libFuzzer by code that
is not ours; uninstrumented (``--instrument none``) it runs blind: no ``cov:`` at all, and the
corpus collapses to one byte.

The first byte of an input picks the target, the rest is its input; the seeds are the loop
engine's. Each input is fed as the loop engine feeds it (:func:`feed_one`, with its CPU-time hang
alarm): a crash is saved once per cause under ``--crashes`` and the run goes on, rather than
stopping at the first. The outcome table is printed when libFuzzer exits (``-runs`` or
``-max_total_time`` reached), from a C ``atexit`` hook since libFuzzer exits the process without
Python's, or at SIGTERM / Ctrl-C, which libFuzzer is told to leave to Python.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import signal
import sys
import time
import types
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from tests.fuzz.feed import FuzzReport, feed_one, hang_alarm, print_report, record_crash
from tests.fuzz.targets import TARGETS, Target

__all__ = ["fuzz_atheris", "grid_functions", "instrument_grid"]

_PACKAGE = "grid"
_SEEDS_PER_TARGET = 200


def grid_functions() -> list[types.FunctionType]:
    """The Python functions of the loaded grid modules (methods, properties and closures' code included)."""
    return [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, types.FunctionType)
        and str(getattr(obj, "__module__", None) or "").partition(".")[0] == _PACKAGE
    ]


def instrument_grid(atheris: Any) -> dict[str, Any]:
    """Instrument the grid package for coverage (and comparisons); the figures of the setup."""
    started = time.monotonic()
    functions = grid_functions()
    for function in functions:
        atheris.instrument_func(function)
    # Entered for the rest of the process: a grid module imported lazily is instrumented as loaded.
    atheris.instrument_imports(include=[_PACKAGE]).__enter__()
    return {"instrumented_functions": len(functions), "setup_s": round(time.monotonic() - started, 2)}


def _write_seeds(targets: Sequence[Target], corpus_dir: Path) -> None:
    corpus_dir.mkdir(parents=True, exist_ok=True)
    for k, target in enumerate(targets):
        for j, data in enumerate(target.seeds[:_SEEDS_PER_TARGET]):
            (corpus_dir / f"{target.name}-{j}").write_bytes(bytes([k]) + data)


class _Run:
    """The callback libFuzzer calls, and the end of the run however libFuzzer comes to it."""

    def __init__(
        self, targets: Sequence[Target], crashes: Path, hang_s: float, json_file: Path | None
    ) -> None:
        self.targets = targets
        self.crashes = crashes
        self.hang_s = hang_s
        self.json_file = json_file
        self.report = FuzzReport()
        self.started = time.monotonic()
        self.done = False
        self.hook: Any = None

    def one(self, data: bytes) -> None:
        """One input from libFuzzer: its first byte picks the target."""
        if not data:
            return
        target = self.targets[data[0] % len(self.targets)]
        self.report.tried[target.name] += 1
        try:
            outcome = feed_one(target, data[1:], self.hang_s)
        except Exception as exc:  # noqa: BLE001 - every crash is recorded, and the run goes on
            record_crash(self.report, self.crashes, target.name, data[1:], exc)
            return
        self.report.outcomes[target.name, outcome] += 1

    def finish(self, note: str = "") -> None:
        """Print the table (and write ``--json``), then end the process with the run's status."""
        if self.done:
            return
        self.done = True
        self.report.seconds = time.monotonic() - self.started
        if note:
            print(note, flush=True)
        print_report(self.report)
        if self.json_file is not None:
            text = json.dumps(self.report.as_dict(), indent=2) + "\n"
            self.json_file.write_text(text, encoding="utf-8")
        sys.stderr.flush()
        os._exit(1 if self.report.crashes else 0)  # libFuzzer is mid-exit: nothing of Python's is left to run

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM / Ctrl-C: the figures so far."""
        self.finish("interrupted: the figures so far")


_ExitHook = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def fuzz_atheris(
    targets: Sequence[Target],
    *,
    count: int,
    seed: int,
    crashes: Path,
    hang_s: float = 20.0,
    json_file: Path | None = None,
    instrument: str = "grid",
    libfuzzer_args: Sequence[str] = (),
) -> None:  # pragma: no cover - never returns: libFuzzer ends the process
    """libFuzzer over ``targets`` for ``count`` inputs (``-runs``), then the outcome table."""
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

    # libFuzzer grows the corpus in place; the first byte means another target in another target set.
    names = [t.name for t in targets]
    corpus_dir = crashes / (
        "atheris-corpus" if names == list(TARGETS) else f"atheris-corpus-{'-'.join(names)}"
    )
    _write_seeds(targets, corpus_dir)
    run = _Run(targets, crashes, hang_s, json_file)
    started = time.monotonic()
    if instrument == "grid":
        run.report.extra.update(instrument_grid(atheris))
    elif instrument == "all":
        atheris.instrument_all()
        run.report.extra["setup_s"] = round(time.monotonic() - started, 2)
    run.report.extra["instrument"] = instrument
    print(f"instrumented: {instrument}, setup {time.monotonic() - started:.2f} s", flush=True)
    hang_alarm()
    signal.signal(signal.SIGTERM, run.on_signal)
    signal.signal(signal.SIGINT, run.on_signal)
    run.hook = _ExitHook(lambda _: run.finish())  # kept referenced: libFuzzer calls it at the very end
    ctypes.CDLL(None).__cxa_atexit(run.hook, None, None)  # libFuzzer's exit() runs C hooks, not Python's
    argv = [
        sys.argv[0],
        f"-runs={count}",
        f"-seed={seed}",
        f"-artifact_prefix={crashes}/",
        # A backstop only: hangs are caught by the CPU-time alarm (wall time lies on a loaded machine).
        f"-timeout={max(60, round(hang_s * 5))}",
        "-handle_term=0",
        "-handle_int=0",
        *libfuzzer_args,
        str(corpus_dir),
    ]
    atheris.Setup(argv, run.one)
    run.started = time.monotonic()
    atheris.Fuzz()
