"""``scripts/fuzz --minimize FILE ...``: the smallest input that still crashes its target the same way.

Greedy delta debugging over bytes: drop chunks of half the input, then a quarter, ... down to single
bytes, keeping each cut that still raises the same cause (:func:`crash_cause`: target, exception
type, raising line), then try each remaining byte as a space or a zero. Deterministic, so a
minimised input is the same on every machine.
"""

from __future__ import annotations

import hashlib
import signal
from pathlib import Path

from tests.fuzz.corpus import load_corpus
from tests.fuzz.feed import crash_cause, feed_one, hang_alarm
from tests.fuzz.targets import Target, make_targets

__all__ = ["minimize", "minimize_file"]


def _cause(target: Target, data: bytes, hang_s: float) -> str | None:
    try:
        feed_one(target, data, hang_s)
    except Exception as exc:  # noqa: BLE001 - any exception here is the crash being minimised
        return crash_cause(target.name, exc)
    return None


def minimize(target: Target, data: bytes, *, hang_s: float = 20.0, budget: int = 20_000) -> bytes:
    """The smallest cut of ``data`` (within ``budget`` feeds) that crashes ``target`` as ``data`` does."""
    cause = _cause(target, data, hang_s)
    if cause is None:
        raise ValueError(f"the input does not crash {target.name}")
    feeds = 0

    def same(candidate: bytes) -> bool:
        nonlocal feeds
        feeds += 1
        return _cause(target, candidate, hang_s) == cause

    chunk = max(1, len(data) // 2)
    while chunk >= 1 and feeds < budget:
        i = 0
        while i < len(data) and feeds < budget:
            candidate = data[:i] + data[i + chunk :]
            if same(candidate):
                data = candidate
            else:
                i += chunk
        chunk //= 2
    for i in range(len(data)):
        for simpler in (b" ", b"\x00"):
            if feeds >= budget or data[i : i + 1] == simpler:
                continue
            candidate = data[:i] + simpler + data[i + 1 :]
            if same(candidate):
                data = candidate
                break
    return data


def minimize_file(file: Path, *, hang_s: float = 20.0) -> Path:
    """Minimise a ``<target>-<hash>.bin`` crash file; the minimised file, next to it."""
    (target,) = make_targets(load_corpus(), [file.name.partition("-")[0]])
    previous = hang_alarm()
    try:
        data = minimize(target, file.read_bytes(), hang_s=hang_s)
    finally:
        signal.signal(signal.SIGVTALRM, previous)
    out = file.with_name(f"{target.name}-{hashlib.sha1(data).hexdigest()[:16]}.bin")
    out.write_bytes(data)
    return out
