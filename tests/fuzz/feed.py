"""What both fuzz engines share: feeding one input, the hang alarm, the crash files and the outcome table.

A crash is saved once per cause (target, exception type, the line that raised it): a coverage-guided
engine that found one keeps mutating the input that reached it, and a thousand copies of one bug
are one finding. Every crashing input is still counted, as the outcome ``crash`` of its target.
"""

from __future__ import annotations

import hashlib
import signal
import sys
import traceback
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

from tests.fuzz.targets import Target, is_crash

__all__ = ["FuzzReport", "Hang", "crash_cause", "feed_one", "hang_alarm", "print_report", "record_crash"]


class Hang(Exception):
    """An input took more than ``--hang-s`` seconds of CPU time."""


class FuzzReport:
    """What a fuzz run found."""

    def __init__(self) -> None:
        self.tried: Counter[str] = Counter()
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.crashes: list[dict[str, str]] = []
        self.causes: set[str] = set()
        self.seconds = 0.0
        self.extra: dict[str, Any] = {}  # engine figures (atheris: its setup)

    def as_dict(self) -> dict[str, Any]:
        """The figures, JSON-ready."""
        total = sum(self.tried.values())
        return {
            "inputs": total,
            "seconds": round(self.seconds, 1),
            "inputs_per_s": round(total / self.seconds) if self.seconds else None,
            "crashes": len(self.crashes),
            "crash_inputs": sum(n for (_, o), n in self.outcomes.items() if o == "crash"),
            "by_target": dict(self.tried),
            "outcomes": {f"{t} {o}": n for (t, o), n in sorted(self.outcomes.items())},
            "crash_files": [c["file"] for c in self.crashes],
            **self.extra,
        }


def feed_one(target: Target, data: bytes, hang_s: float = 0.0) -> str:
    """One input into ``target``: its outcome; raises what broke the contract (a hang included).

    ``hang_s`` > 0 arms a CPU-time alarm, which needs :func:`hang_alarm`'s handler installed.
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
    raise Hang("an input took more than --hang-s of CPU time")


def hang_alarm() -> Any:
    """Install the handler of :func:`feed_one`'s CPU-time alarm; the previous handler, to restore."""
    return signal.signal(signal.SIGVTALRM, _on_alarm)


def crash_cause(target: str, exc: BaseException) -> str:
    """``target ExcType file:line``: the frame that raised, so two inputs of one bug match."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    if isinstance(exc, Hang):
        where = "hang"  # where the alarm struck says nothing
    return f"{target} {type(exc).__name__} {where}"


def record_crash(report: FuzzReport, crashes: Path, target: str, data: bytes, exc: BaseException) -> None:
    """Count a crash; save its input and traceback when its cause is new."""
    report.outcomes[target, "crash"] += 1
    cause = crash_cause(target, exc)
    if cause in report.causes:
        return
    report.causes.add(cause)
    digest = hashlib.sha1(data).hexdigest()[:16]
    crashes.mkdir(parents=True, exist_ok=True)
    file = crashes / f"{target}-{digest}.bin"
    file.write_bytes(data)
    tb = "".join(traceback.format_exception(exc))
    file.with_suffix(".txt").write_text(f"target {target}\ncause {cause}\n{tb}", encoding="utf-8")
    report.crashes.append({"target": target, "file": str(file), "error": f"{type(exc).__name__}: {exc}"})
    print(f"CRASH in {target}: {type(exc).__name__}: {str(exc)[:200]} -> {file}", flush=True)


def print_report(report: FuzzReport) -> None:
    """The figures, then each target's outcomes, most frequent first."""
    figures = report.as_dict()
    print(
        f"inputs tried: {figures['inputs']}  crashes: {figures['crashes']} "
        f"({figures['crash_inputs']} inputs)  seconds: {figures['seconds']}  "
        f"inputs/s: {figures['inputs_per_s']}"
    )
    for name, n in report.tried.items():
        print(f"  {name}: {n} inputs")
        for (target, outcome), k in sorted(report.outcomes.items(), key=lambda kv: -kv[1]):
            if target == name:
                print(f"    {k:>9}  {outcome}")
    sys.stdout.flush()
