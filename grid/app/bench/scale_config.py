"""The options of ``gridsim bench scale``: sizes, workers, phases, the knee search, the file limit.

Bad options are one :class:`~grid.errors.ConfigError` naming every problem, raised before any
broker or client starts.
"""

from __future__ import annotations

import argparse
import resource
from dataclasses import dataclass, field
from typing import Any

from grid.app.bench.scale_knee import SearchPlan
from grid.app.bench.traffic import phase_problems
from grid.errors import ConfigError

__all__ = [
    "DEFAULT_NODES",
    "QUICK_NODES",
    "TARGET_ONE_PROCESS",
    "TARGET_WORKERS",
    "ScaleConfig",
    "config_from_args",
    "ensure_fds",
    "parse_nodes",
]

DEFAULT_NODES = (15, 50, 100, 200, 500)
QUICK_NODES = (15, 50, 100)
TARGET_ONE_PROCESS = 0.8  # grid knee at least this times the baseline's, one process each
TARGET_WORKERS = 1.5  # with --workers, at least this times the one-process baseline's
_MAX_NODES = 5000
_MAX_WORKERS = 64
_FDS_PER_CLIENT = 3  # the socket and paho's wake-up socket pair
_FDS_SPARE = 256


def parse_nodes(text: str | None, *, quick: bool = False) -> tuple[int, ...]:
    """``15,50,100`` as sizes; the defaults when None."""
    if text is None:
        return QUICK_NODES if quick else DEFAULT_NODES
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"--nodes must be comma-separated whole numbers, got {text!r}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleConfig:
    """One ``bench scale`` run: sizes, QoS, worker processes, phase lengths and the knee search."""

    nodes: tuple[int, ...] = DEFAULT_NODES
    qos: int = 1
    workers: int = 1
    warmup_s: float = 1.0
    duration_s: float = 3.0
    seed: int = 0
    plan: SearchPlan = field(default_factory=lambda: SearchPlan(min_hz=5.0))
    p99_limit_ms: float = 50.0
    lag_limit_ms: float = 50.0
    attempts: int = 2  # a rate fails only when every attempt fails
    repeats: int = 1  # knee searches per kind and size; the verdict compares the medians
    quick: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not self.nodes:
            problems.append("--nodes needs at least one size")
        if bad := [n for n in self.nodes if not 2 <= n <= _MAX_NODES]:
            problems.append(f"--nodes sizes must be in [2, {_MAX_NODES}], got {', '.join(map(str, bad))}")
        if len(set(self.nodes)) != len(self.nodes):
            problems.append("--nodes sizes must be distinct")
        if not 1 <= self.workers <= _MAX_WORKERS:
            problems.append(f"--workers must be in [1, {_MAX_WORKERS}], got {self.workers}")
        elif self.nodes and self.workers > min(self.nodes):
            problems.append(
                f"--workers {self.workers} is more than the smallest roster ({min(self.nodes)} nodes)"
            )
        if self.attempts < 1:
            problems.append(f"--attempts must be at least 1, got {self.attempts}")
        if self.repeats < 1:
            problems.append(f"--repeats must be at least 1, got {self.repeats}")
        problems += phase_problems(qos=self.qos, duration_s=self.duration_s, warmup_s=self.warmup_s)
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def target(self) -> float:
        """The grid/baseline knee ratio the issue asks for at this worker count."""
        return TARGET_ONE_PROCESS if self.workers == 1 else TARGET_WORKERS


def ensure_fds(clients: int) -> int:
    """Raise the soft open-file limit for ``clients`` MQTT clients (up to the hard limit); the new limit.

    Raises:
        ConfigError: the hard limit is too low.
    """
    needed = _FDS_PER_CLIENT * clients + _FDS_SPARE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise ConfigError(
                f"{clients} MQTT clients need about {needed} open files, but the hard limit is {hard} "
                f"(raise it with ulimit -Hn, or use fewer --nodes)"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else needed, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft


def config_from_args(args: argparse.Namespace) -> ScaleConfig:
    """The run's configuration from the command line (``--quick`` shortens the defaults)."""
    quick = bool(args.quick)

    def pick(value: Any, default: Any, quick_default: Any) -> Any:
        return value if value is not None else (quick_default if quick else default)

    plan = SearchPlan(
        start_hz=pick(args.start_rate, 50.0, 50.0),
        min_hz=pick(args.min_rate, 5.0, 5.0),
        max_hz=pick(args.max_rate, 20_000.0, 20_000.0),
        bisections=pick(args.bisections, 2, 1),
    )
    return ScaleConfig(
        nodes=parse_nodes(args.nodes, quick=quick),
        qos=args.qos,
        workers=args.workers,
        warmup_s=pick(args.warmup, 1.0, 0.5),
        duration_s=pick(args.duration, 3.0, 1.5),
        seed=args.seed,
        attempts=pick(args.attempts, 2, 2),
        repeats=pick(args.repeats, 1, 1),
        plan=plan,
        quick=quick,
    )
