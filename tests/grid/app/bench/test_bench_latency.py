"""The latency bench: percentiles and loss on known timestamps, and a tiny run on a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from grid.app.bench.__main__ import main
from grid.app.bench.latency import LatencyConfig, bench_members
from grid.app.bench.latency_stats import latency_stats, one_way_ms, percentile
from grid.errors import ConfigError
from grid.mqtt.broker import BrokerInfo
from grid.world.roster import Roster

MS = 1_000_000
STATS = {"p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms", "count", "lost", "sent", "throughput_per_s"}
CONFIG = {"nodes", "rate_hz", "qos", "broker", "duration_s", "warmup_s", "workers"}


def test_percentile_is_nearest_rank() -> None:
    """Each percentile is a value some message had: rank ceil(q/100 * n), no interpolation."""
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 99.9) == 100.0
    assert percentile([7.0], 50) == 7.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_latency_stats_on_known_timestamps() -> None:
    """Warm-up, duplicates and foreign keys are left out; unmatched sends are lost."""
    since = 1_000 * MS
    sent = [("warm", since - 1)] + [(f"m{i}", since + i * MS) for i in range(10)]
    # m0..m7 arrive 1..8 ms after they were sent; m8 and m9 never arrive.
    received = [(f"m{i}", since + i * MS + (i + 1) * MS) for i in range(8)]
    received += [("m0", since + 50 * MS), ("warm", since), ("other-run", since)]
    stats = latency_stats(sent, received, window_s=2.0, since_ns=since)
    assert (stats.count, stats.sent, stats.lost) == (8, 10, 2)
    assert (stats.p50_ms, stats.p95_ms, stats.p99_ms, stats.p999_ms, stats.max_ms) == (4, 8, 8, 8, 8)
    assert stats.throughput_per_s == 4.0
    assert one_way_ms(sent, received, since_ns=since)[0] == [float(v) for v in range(1, 9)]


def test_latency_stats_with_nothing_received() -> None:
    """With no receipts every percentile is None and everything sent is lost."""
    stats = latency_stats([("a", 1), ("b", 2)], [], window_s=1.0)
    assert (stats.count, stats.lost, stats.p50_ms, stats.max_ms) == (0, 2, None, None)


def test_more_nodes_than_the_roster_get_generated_ids(roster: Roster) -> None:
    """Past the roster's members, nodes are copies under ids B016, B017 ... (all distinct)."""
    members = bench_members(roster, len(roster) + 2)
    ids = [m.id for m in members]
    assert ids[: len(roster)] == list(roster)
    assert ids[len(roster) :] == [f"B{len(roster) + 1:03d}", f"B{len(roster) + 2:03d}"]
    assert len(set(ids)) == len(ids)


def test_bad_config_lists_every_problem() -> None:
    """Every bad setting is named in one ConfigError."""
    with pytest.raises(ConfigError) as caught:
        LatencyConfig(nodes=0, rate_hz=0, qos=3, duration_s=0, warmup_s=-1)
    for flag in ("--nodes", "--rate", "--qos", "--duration", "--warmup"):
        assert flag in str(caught.value)


@pytest.mark.timeout(90)
async def test_tiny_bench_on_mosquitto_writes_every_field(mosquitto: BrokerInfo, tmp_path: Path) -> None:
    """3 nodes at 5 Hz for 1 s: both halves got everything (QoS 1, idle local broker); files written."""
    argv = ["latency", "--broker", mosquitto.url, "--nodes", "3", "--rate", "5", "--duration", "1"]
    argv += ["--warmup", "0.2", "--quiet", "--out", str(tmp_path)]
    assert await asyncio.to_thread(main, argv) == 0
    results = json.loads((tmp_path / "bench-latency.json").read_text(encoding="utf-8"))
    for half in ("grid", "baseline"):
        assert results[half].keys() >= STATS
        assert results[half]["count"] > 0
        assert results[half]["lost"] == 0
        assert results[half]["count"] == results[half]["sent"]
    assert results["ratio_p50"] > 0
    assert results["ratio_p99"] > 0
    assert results["config"].keys() >= CONFIG
    assert (results["config"]["nodes"], results["config"]["qos"]) == (3, 1)
    assert results["versions"].keys() >= {"python", "aiomqtt", "broker"}
    assert results["machine"]["cpus"] is not None
    assert (tmp_path / "bench-latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.timeout(90)
async def test_tiny_secure_bench_measures_the_grid_half_again_over_mutual_tls(tmp_path: Path) -> None:
    """--secure: a third half on a Mosquitto in secure mode, each node with its own certificate."""
    argv = ["latency", "--broker-kind", "mosquitto", "--secure", "--nodes", "3", "--rate", "5"]
    argv += ["--duration", "1", "--warmup", "0.2", "--quiet", "--out", str(tmp_path)]
    assert await asyncio.to_thread(main, argv) == 0
    results = json.loads((tmp_path / "bench-latency.json").read_text(encoding="utf-8"))
    secure = results["grid_secure"]
    assert secure["count"] == secure["sent"] > 0
    assert secure["lost"] == 0
    assert results["secure"]["ratio_p50"] > 0
    assert results["secure"]["ratio_p99"] > 0
