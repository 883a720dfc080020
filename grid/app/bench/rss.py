"""Resident memory (RSS) of a process and its descendants, read from ``/proc`` (Linux only).

Each process gets a name a reader recognises: ``broker`` (Mosquitto or amqtt), the worker's own
name for a grid worker (``fusion``, ``worker-0``: its log file, stdout, is ``<name>.log``), and
``controller`` for the root (the process running the bench, with the run controller in it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessRss", "descendants", "process_name", "rss_mb", "sample_tree"]

_PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcessRss:
    """One process's resident memory at one moment."""

    pid: int
    name: str
    rss_mb: float


def rss_mb(pid: int) -> float | None:
    """``VmRSS`` of ``pid`` in MB (10^6 bytes), or None when it is gone (or a zombie, which has none)."""
    try:
        text = (_PROC / str(pid) / "status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6  # the kernel says kB: KiB
    return None


def _parent(pid: int) -> int | None:
    try:
        stat = (_PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces or parentheses.
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 else None


def descendants(root: int) -> list[int]:
    """Every living descendant of ``root`` (children, their children, ...), in pid order."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and (parent := _parent(int(entry.name))) is not None:
            children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def process_name(pid: int, root: int) -> str:
    """What ``pid`` is in a grid run (see the module's docstring); ``pid-<n>`` when unknown."""
    if pid == root:
        return "controller"
    try:
        argv = (_PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"pid-{pid}"
    command = b" ".join(argv).decode(errors="replace")
    if argv[0].endswith(b"mosquitto") or "amqtt_broker" in command:
        return "broker"
    if "grid.app.workers" in command:
        try:
            stdout = os.readlink(_PROC / str(pid) / "fd" / "1")
        except OSError:
            stdout = ""
        if stdout.endswith(".log"):
            return Path(stdout).stem
        return f"worker-pid-{pid}"
    return f"{Path(argv[0].decode(errors='replace')).name}-{pid}"


def sample_tree(root: int, names: dict[int, str]) -> list[ProcessRss]:
    """The RSS of ``root`` and of each descendant; ``names`` caches each pid's name (filled in here)."""
    out: list[ProcessRss] = []
    for pid in [root, *descendants(root)]:
        rss = rss_mb(pid)
        if rss is None:
            continue
        if pid not in names:
            names[pid] = process_name(pid, root)
        out.append(ProcessRss(pid, names[pid], rss))
    return out
