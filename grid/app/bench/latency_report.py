"""What ``gridsim bench latency`` prints and writes: the rich table, the verdict, the CDF plot, versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grid.mqtt.broker import BrokerInfo

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["TARGET_P50", "TARGET_P99", "machine", "print_results", "ratio", "versions", "write_cdf"]

TARGET_P50 = 1.5  # grid p50 at most this times the baseline's
TARGET_P99 = 2.0  # grid p99 at most this times the baseline's


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing or ``b`` is 0."""
    return None if a is None or not b else a / b


def versions(broker: BrokerInfo) -> dict[str, Any]:
    """Python, the MQTT and codec libraries, gridsim and the broker."""

    def installed(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "aiomqtt": installed("aiomqtt"),
        "paho-mqtt": installed("paho-mqtt"),
        "msgpack": installed("msgpack"),
        "gridsim": installed("gridsim"),
        "broker": broker.version,
    }


def machine() -> dict[str, Any]:
    """The machine the bench ran on."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpus": os.cpu_count(),
    }


def write_cdf(curves: dict[str, list[float]], path: Path, title: str) -> None:
    """A PNG of each half's latency CDF (log-scaled latency axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, values in curves.items():
        if values:
            n = len(values)
            ax.step(values, [(i + 1) / n for i in range(n)], where="post", label=f"{name} (n={n})")
    ax.set_xscale("log")
    ax.set_xlabel("one-way latency, ms")
    ax.set_ylabel("fraction of messages")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_results(console: Console, results: dict[str, Any]) -> None:
    """The rich table of both halves, the ratios and the target's PASS/FAIL."""
    from rich.table import Table

    c = results["config"]
    table = Table(
        title=(
            f"gridsim bench latency: {c['nodes']} nodes x {c['rate_hz']:g} Hz, QoS {c['qos']}, "
            f"{c['broker']['kind']} ({results['versions']['broker'] or 'version unknown'}), "
            f"{c['duration_s']:g} s after {c['warmup_s']:g} s warm-up"
        )
    )
    table.add_column("measure")
    for name in ("grid", "baseline", "grid / baseline"):
        table.add_column(name, justify="right")
    g, b = results["grid"], results["baseline"]
    for key, label in [
        ("p50_ms", "p50 ms"),
        ("p95_ms", "p95 ms"),
        ("p99_ms", "p99 ms"),
        ("p999_ms", "p99.9 ms"),
        ("max_ms", "max ms"),
    ]:
        table.add_row(label, _fmt(g[key], 3), _fmt(b[key], 3), _fmt(ratio(g[key], b[key])))
    table.add_row("received", str(g["count"]), str(b["count"]), "")
    table.add_row("sent", str(g["sent"]), str(b["sent"]), "")
    table.add_row("lost", str(g["lost"]), str(b["lost"]), "")
    table.add_row("msgs/s received", _fmt(g["throughput_per_s"], 1), _fmt(b["throughput_per_s"], 1), "")
    console.print(table)
    if (secure := results.get("secure")) is not None:
        tls = results["grid_secure"]
        console.print(
            f"secure mode ({secure['transport']}): p50 {_fmt(tls['p50_ms'], 3)} ms, "
            f"p99 {_fmt(tls['p99_ms'], 3)} ms, "
            f"lost {tls['lost']} of {tls['sent']}; secure/plain grid p50 = {_fmt(secure['ratio_p50'])}, "
            f"p99 = {_fmt(secure['ratio_p99'])}"
        )
    t = results["target"]
    verdict = "[green]PASS[/green]" if t["passed"] else "[red]FAIL[/red]"
    note = "" if t["applies"] else " (the target is set at --nodes 15 --rate 10 --qos 1 on Mosquitto)"
    console.print(
        f"{verdict} grid/baseline p50 = {_fmt(results['ratio_p50'])} <= {TARGET_P50:g}, "
        f"p99 = {_fmt(results['ratio_p99'])} <= {TARGET_P99:g}{note}"
    )
