"""The scale bench: generated topologies, the knee search on a fake measure, one point's summary,
bad options, and tiny real runs on Mosquitto (one process, and grid nodes in two workers)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import resource
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grid.app.bench.__main__ import main
from grid.app.bench.scale import passes, scale, summarize
from grid.app.bench.scale_config import ScaleConfig, ensure_fds, parse_nodes
from grid.app.bench.scale_fleet import PhaseSpec, PhaseStamps
from grid.app.bench.scale_knee import KneeSearch, SearchPlan, interleave, knee_spread, median_knee
from grid.app.bench.scale_report import write_plots
from grid.app.bench.scale_topology import GRID_MAX, Topology, scale_topology
from grid.errors import ConfigError
from grid.mqtt.broker import BrokerInfo
from grid.world.roster import Roster

MS = 1_000_000
LATENCY = {"p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms", "count", "lost"}
POINT = LATENCY | {
    "nodes",
    "kind",
    "rate_hz",
    "achieved_hz",
    "deliveries_per_s",
    "lag_p99_ms",
    "cpu_s_per_delivery",
    "worker_cpu_s_per_delivery",
    "broker_cpu_s_per_delivery",
    "passed",
    "attempt",
    "repeat",
}
CONFIG = {
    "nodes",
    "qos",
    "broker",
    "workers",
    "warmup_s",
    "duration_s",
    "seed",
    "search",
    "topology_rule",
    "repeats",
}


# ------------------------------------------------------------------------------------ topology


@pytest.mark.parametrize("n", [2, 3, 4, 6, 9, 10, 11, 12, 14, 16, 23, 50, 101, 500])
def test_generated_grids_are_small_cover_everyone_and_peers_are_symmetric(n: int, roster: Roster) -> None:
    """Grids of at most 10, every node in one, peers symmetric and never oneself."""
    topology, members = scale_topology(n, roster)
    assert topology.source == "generated"
    assert [m.id for m in members] == list(topology.nodes)
    assert len(set(topology.nodes)) == n
    assert all(len(g) <= GRID_MAX for g in topology.grids)
    assert {i for g in topology.grids for i in g} == set(range(n))
    for i, peers in enumerate(topology.peers):
        assert i not in peers
        assert all(i in topology.peers[j] for j in peers)
        assert topology.subscribers(i) == (*peers, n)  # the centre last


@pytest.mark.parametrize("n", [20, 50, 100, 200, 500])
def test_at_multiples_of_five_every_node_is_in_two_grids_with_14_peers(n: int, roster: Roster) -> None:
    """The stated rule: grid k = nodes 5k..5k+9 mod N, so 2 grids and 14 peers each (generated sizes)."""
    topology, _ = scale_topology(n, roster)
    assert len(topology.grids) == n // 5
    assert all(sum(i in g for g in topology.grids) == 2 for i in range(n))
    assert {len(p) for p in topology.peers} == {14}
    assert topology.deliveries_per_report == 15


def test_the_roster_size_uses_the_real_grids(roster: Roster) -> None:
    """At 15 nodes the grids are the roster's own, by member id."""
    topology, _ = scale_topology(len(roster), roster)
    assert topology.source == "roster"
    named = sorted(sorted(topology.nodes[i] for i in g) for g in topology.grids)
    assert named == sorted(sorted(ids) for ids in roster.grids.values())


def test_a_bad_topology_is_refused() -> None:
    """An 11-member grid, a node in no grid, or one-sided peers are ConfigErrors."""
    ids = tuple(f"N{i}" for i in range(11))
    all11 = tuple(range(11))
    with pytest.raises(ConfigError, match="more than 10"):
        Topology(
            nodes=ids, grids=(all11,), peers=tuple(all11[:i] + all11[i + 1 :] for i in all11), source="x"
        )
    with pytest.raises(ConfigError, match="in no grid"):
        Topology(nodes=("a", "b", "c"), grids=((0, 1),), peers=((1,), (0,), ()), source="x")
    with pytest.raises(ConfigError, match="symmetric"):
        Topology(nodes=("a", "b"), grids=((0, 1),), peers=((1,), ()), source="x")
    with pytest.raises(ConfigError, match="at least 2"):
        scale_topology(1, Roster([]))


# --------------------------------------------------------------------------------- knee search


def _search(plan: SearchPlan, threshold: float) -> KneeSearch:
    """Run a search against a fake measure that passes exactly the rates up to ``threshold``."""
    search = KneeSearch(plan)
    while (rate := search.next_rate()) is not None:
        assert len(search.history) < 100, "the search does not end"
        search.record(rate, rate <= threshold)
    return search


def test_knee_search_steps_up_then_bisects() -> None:
    """50, 100, 200 pass, 400 fails; two geometric bisections: 282.8 passes, 336.4 fails."""
    search = _search(SearchPlan(start_hz=50, factor=2, bisections=2), threshold=300)
    rates = [round(r, 1) for r, _ in search.history]
    assert rates == [50.0, 100.0, 200.0, 400.0, 282.8, 336.4]
    assert [ok for _, ok in search.history] == [True, True, True, False, True, False]
    assert search.knee_hz == pytest.approx(282.84, abs=0.01)
    assert not search.capped


def test_knee_search_steps_down_when_the_first_rate_fails() -> None:
    """A failing start halves until a pass, then bisects; nothing passing ends at the minimum."""
    search = _search(SearchPlan(start_hz=50, factor=2, bisections=1, min_hz=5), threshold=20)
    assert [round(r, 1) for r, _ in search.history] == [50.0, 25.0, 12.5, 17.7]
    assert search.knee_hz == pytest.approx(17.68, abs=0.01)
    none = _search(SearchPlan(start_hz=50, factor=2, bisections=1, min_hz=5), threshold=1)
    assert [r for r, _ in none.history] == [50.0, 25.0, 12.5, 6.25]
    assert none.knee_hz is None


def test_knee_search_stops_at_the_cap() -> None:
    """Everything passing ends at max_hz, marked capped."""
    search = _search(SearchPlan(start_hz=50, max_hz=300), threshold=1e9)
    assert [r for r, _ in search.history] == [50.0, 100.0, 200.0, 300.0]
    assert search.knee_hz == 300.0
    assert search.capped


@given(
    threshold=st.floats(min_value=0.5, max_value=1e5),
    start=st.floats(min_value=1, max_value=1000),
    factor=st.floats(min_value=1.2, max_value=4),
    bisections=st.integers(min_value=0, max_value=4),
)
def test_knee_search_brackets_the_threshold(
    threshold: float, start: float, factor: float, bisections: int
) -> None:
    """The knee never exceeds the threshold; uncapped, the lowest failure is above it within the
    resolution the bisections give (factor ** (1 / 2**bisections))."""
    plan = SearchPlan(start_hz=start, factor=factor, bisections=bisections, min_hz=1, max_hz=20_000)
    search = _search(plan, threshold)
    if search.knee_hz is None:
        assert threshold < start
        assert threshold < min(r for r, _ in search.history)
        return
    assert search.knee_hz <= threshold
    if not search.capped:
        assert search.failed is not None
        assert search.failed > threshold
        assert search.failed / search.knee_hz <= factor ** (1 / 2**bisections) * (1 + 1e-9)


def test_repeats_interleave_so_neither_kind_always_goes_first() -> None:
    """grid, baseline, baseline, grid, grid, baseline: each repeat once per kind, firsts alternating."""
    assert interleave("grid", "baseline", 1) == [("grid", 0), ("baseline", 0)]
    assert interleave("grid", "baseline", 3) == [
        ("grid", 0),
        ("baseline", 0),
        ("baseline", 1),
        ("grid", 1),
        ("grid", 2),
        ("baseline", 2),
    ]


@given(repeats=st.integers(min_value=1, max_value=20))
def test_interleaving_runs_every_repeat_once_and_balances_the_firsts(repeats: int) -> None:
    """Each kind runs repeats 0..R-1 in order, a pair per repeat; ``a`` is first in ceil(R/2) pairs."""
    order = interleave("a", "b", repeats)
    assert [r for k, r in order if k == "a"] == list(range(repeats))
    assert [r for k, r in order if k == "b"] == list(range(repeats))
    assert all({order[i][1], order[i + 1][1]} == {i // 2} for i in range(0, len(order), 2))
    assert all({order[i][0], order[i + 1][0]} == {"a", "b"} for i in range(0, len(order), 2))
    firsts = [order[i][0] for i in range(0, len(order), 2)]
    assert firsts.count("a") - firsts.count("b") in (0, 1)


def test_median_knee_is_a_measured_knee_and_none_counts_lowest() -> None:
    """Odd counts: the middle; even: the lower middle; a search with no knee ranks below every knee."""
    assert median_knee([238.0]) == 238.0
    assert median_knee([400.0, 238.0, 336.0]) == 336.0
    assert median_knee([400.0, 238.0]) == 238.0
    assert median_knee([None, 300.0, 200.0]) == 200.0
    assert median_knee([None, None, 300.0]) is None
    assert median_knee([]) is None
    assert knee_spread([400.0, None, 238.0]) == (238.0, 400.0)
    assert knee_spread([None]) is None


@given(st.lists(st.one_of(st.none(), st.floats(min_value=1, max_value=1e5)), min_size=1, max_size=9))
def test_median_knee_has_as_many_knees_above_as_below(knees: list[float | None]) -> None:
    """At least half the knees are >= the median and at least half <= it (None as the lowest)."""
    median = median_knee(knees)
    assert median in knees
    rank = [float("-inf") if k is None else k for k in knees]
    m = float("-inf") if median is None else median
    assert 2 * sum(k >= m for k in rank) >= len(knees)
    assert 2 * sum(k <= m for k in rank) >= len(knees)


def test_bad_search_plans_are_config_errors() -> None:
    """Factor 1, negative bisections and start outside [min, max] are refused."""
    for bad in ({"factor": 1.0}, {"bisections": -1}, {"start_hz": 2.0, "min_hz": 5.0}, {"max_hz": 10.0}):
        with pytest.raises(ConfigError):
            SearchPlan(**bad)


# ----------------------------------------------------------------------------- one point's summary


def test_summary_counts_every_delivery_and_judges_the_point(roster: Roster) -> None:
    """3 nodes (one grid): a report goes to 2 peers and the centre; warm-up sends are left out."""
    topology, _ = scale_topology(3, roster)
    start = 1_000_000 * MS
    phase = PhaseSpec(
        number=1, start_ns=start, per_node_hz=1.0, warmup_s=1.0, duration_s=2.0, offsets=(0, 0, 0)
    )
    since = phase.since_ns
    here = PhaseStamps(
        # node 0 sent "w" in the warm-up and "a", "b" in the window
        sent=[(0, "w", start), (0, "a", since), (0, "b", since + 1000 * MS)],
        # "a" reached nodes 1 and 2 after 2 and 4 ms and the centre (3) after 6 ms; "b" only node 1, 10 ms
        received=[
            (1, "w", start + MS),
            (1, "a", since + 2 * MS),
            (2, "a", since + 4 * MS),
            (3, "a", since + 6 * MS),
            (1, "b", since + 1010 * MS),
            (1, "a", since + 99 * MS),  # a second copy: ignored
        ],
        lags_ms=[1.0, 3.0],
        cpu_s=0.5,
    )
    point = summarize(topology, phase, here, [], kind="grid", rate_hz=3.0, broker_cpu_s=0.25)
    assert (point["count"], point["sent"], point["lost"]) == (4, 6, 2)
    assert (point["p50_ms"], point["max_ms"]) == (4.0, 10.0)
    assert point["achieved_hz"] == 1.0  # 2 reports in the 2 s window
    assert point["deliveries_per_s"] == 2.0
    assert point["deliveries"] == 5  # the warm-up's one delivery too: CPU paid for it
    assert point["cpu_s_per_delivery"] == 0.1
    assert point["broker_cpu_s_per_delivery"] == 0.05
    assert point["worker_cpu_s_per_delivery"] is None
    assert point["lag_p99_ms"] == 3.0
    config = ScaleConfig(nodes=(3,))
    assert not passes(point, config)  # lost 2
    assert passes(point | {"lost": 0}, config)
    assert not passes(point | {"lost": 0, "p99_ms": 50.1}, config)
    assert not passes(point | {"lost": 0, "lag_p99_ms": 60.0}, config)
    assert not passes(point | {"lost": 0, "count": 0}, config)


# -------------------------------------------------------------------------------------- options


def test_bad_options_are_config_errors() -> None:
    """Too few nodes, repeats, bad QoS, workers beyond the smallest roster, bad phases: one error."""
    with pytest.raises(ConfigError) as caught:
        ScaleConfig(nodes=(1, 50, 50), qos=3, duration_s=0, warmup_s=-1, attempts=0, repeats=0)
    flags = (
        "--nodes sizes must be in",
        "distinct",
        "--qos",
        "--duration",
        "--warmup",
        "--attempts",
        "--repeats",
    )
    for flag in flags:
        assert flag in str(caught.value)
    with pytest.raises(ConfigError, match="smallest roster"):
        ScaleConfig(nodes=(4, 50), workers=5)
    with pytest.raises(ConfigError, match="whole numbers"):
        parse_nodes("15,fifty")
    assert parse_nodes("4, 6,") == (4, 6)
    assert parse_nodes(None) == (15, 50, 100, 200, 500)
    assert parse_nodes(None, quick=True) == (15, 50, 100)


def test_too_many_clients_for_the_hard_file_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The soft limit is raised to the hard one when needed; past the hard limit it is a ConfigError."""
    limits = [(1024, 4096)]
    monkeypatch.setattr(resource, "getrlimit", lambda _which: limits[-1])
    monkeypatch.setattr(resource, "setrlimit", lambda _which, value: limits.append(value))
    assert ensure_fds(100) == 1024  # enough already: untouched
    assert ensure_fds(501) == 4096
    assert limits[-1] == (4096, 4096)
    with pytest.raises(ConfigError, match="hard limit is 4096"):
        ensure_fds(5000)


def test_bad_nodes_on_the_command_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """``--nodes 1`` is refused before any broker starts: one line, exit code 2."""
    assert main(["scale", "--nodes", "1,15"]) == 2
    assert "ConfigError" in capsys.readouterr().err


def test_zero_repeats_on_the_command_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """``--repeats 0`` is refused before any broker starts: a ConfigError naming the option, exit 2."""
    assert main(["scale", "--nodes", "4", "--repeats", "0"]) == 2
    err = capsys.readouterr().err
    assert "ConfigError" in err
    assert "--repeats must be at least 1" in err


# ------------------------------------------------------------------------------------ real runs


def _tiny(*extra: str) -> list[str]:
    """Two sizes, phases of 0.3 s after 0.3 s warm-up, rates 20 then 40 Hz (no bisection)."""
    argv = ["scale", "--nodes", "4,6", "--warmup", "0.3", "--duration", "0.3", "--start-rate", "20"]
    return [*argv, "--max-rate", "40", "--min-rate", "10", "--bisections", "0", "--quiet", *extra]


@pytest.mark.timeout(180)
async def test_tiny_scale_run_on_mosquitto_writes_every_field(mosquitto: BrokerInfo, tmp_path: Path) -> None:
    """Every point has the latency, rate and CPU fields; knees for both sizes; both PNGs written."""
    argv = _tiny("--broker", mosquitto.url, "--out", str(tmp_path))
    assert await asyncio.to_thread(main, argv) == 0
    results = json.loads((tmp_path / "bench-scale.json").read_text(encoding="utf-8"))
    assert results["config"].keys() >= CONFIG
    assert (results["config"]["nodes"], results["config"]["qos"], results["config"]["workers"]) == (
        [4, 6],
        1,
        1,
    )
    assert results["versions"].keys() >= {"python", "aiomqtt", "broker"}
    assert results["machine"]["cpus"] is not None
    points = results["points"]
    assert {(p["nodes"], p["kind"]) for p in points} == {(n, k) for n in (4, 6) for k in ("grid", "baseline")}
    for p in points:
        assert p.keys() >= POINT
        assert p["count"] > 0  # something was delivered at every rate on an idle local broker
        assert p["count"] + p["lost"] == p["sent"]
        assert p["cpu_s_per_delivery"] > 0
        assert p["broker_cpu_s_per_delivery"] is None  # an external broker: no pid to read
        assert p["rate_hz"] in (10.0, 20.0, 40.0)
    assert set(results["knees"]) == {"4", "6"}
    for n, knee in results["knees"].items():
        assert knee.keys() >= {"grid", "baseline", "ratio"}
        assert knee["deliveries_per_report"] == int(n)  # one grid of everyone: n - 1 peers and the centre
    for name in ("bench-scale.png", "bench-scale-load.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.timeout(180)
async def test_repeats_interleave_the_searches_and_report_median_knees(
    mosquitto: BrokerInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--repeats 2``: grid, baseline, then baseline, grid; each search's knee kept, the medians compared."""
    argv = [*_tiny("--broker", mosquitto.url, "--out", str(tmp_path), "--repeats", "2")]
    argv[argv.index("4,6")] = "4"
    argv.remove("--quiet")  # the tables are what this test reads: --quiet prints nothing on stdout
    assert await asyncio.to_thread(main, argv) == 0
    results = json.loads((tmp_path / "bench-scale.json").read_text(encoding="utf-8"))
    assert results["config"]["repeats"] == 2
    points = results["points"]
    runs = [(p["kind"], p["repeat"]) for p in points]
    searches = [run for i, run in enumerate(runs) if i == 0 or runs[i - 1] != run]  # one entry per search
    assert searches == [("grid", 0), ("baseline", 0), ("baseline", 1), ("grid", 1)]
    knee = results["knees"]["4"]
    for kind in ("grid", "baseline"):
        found = knee[f"{kind}_knees"]
        assert len(found) == 2
        for repeat, k in enumerate(found):  # each knee is the highest passing rate of its own search
            passed = [
                p["rate_hz"] for p in points if (p["kind"], p["repeat"]) == (kind, repeat) and p["passed"]
            ]
            assert k == (max(passed) if passed else None)
        assert knee[kind] == median_knee(found)
    assert knee["ratio"] == (
        None if knee["grid"] is None or knee["baseline"] is None else knee["grid"] / knee["baseline"]
    )
    assert "median of 2 searches" in capsys.readouterr().out
    assert (tmp_path / "bench-scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.timeout(180)
async def test_workers_run_the_grid_nodes_and_leave_no_children(
    mosquitto: BrokerInfo, roster: Roster
) -> None:
    """With 2 workers the grid's receipts come back from them (their CPU counted); none is left after."""
    config = ScaleConfig(
        nodes=(4,),
        workers=2,
        warmup_s=0.3,
        duration_s=0.3,
        plan=SearchPlan(start_hz=20, max_hz=20, min_hz=10),
    )
    results = await scale(mosquitto, config, roster)
    grid = [p for p in results["points"] if p["kind"] == "grid"]
    baseline = [p for p in results["points"] if p["kind"] == "baseline"]
    assert grid
    assert baseline
    for p in grid:
        assert p["worker_processes"] == 2
        assert p["count"] > 0
        assert p["worker_cpu_s_per_delivery"] > 0
    assert all(p["worker_processes"] == 0 for p in baseline)  # the baseline stays in one process
    assert all(p["broker_cpu_s"] is not None for p in results["points"])  # our own broker: /proc read
    assert results["target"]["ratio_min"] == 1.5
    assert multiprocessing.active_children() == []


def test_plots_are_drawn_when_no_rate_passed(tmp_path: Path) -> None:
    """A search in which nothing passed still writes both plots (an empty log axis cannot be drawn)."""
    results = {
        "knees": {"100": {"grid": None, "baseline": None}},
        "config": {"workers": 1, "p99_limit_ms": 50.0},
        "points": [{"nodes": 100, "kind": "grid", "rate_hz": 300.0, "p99_ms": 1536.6}],
    }
    scale_png, load_png = tmp_path / "scale.png", tmp_path / "load.png"
    write_plots(results, scale_png, load_png)
    assert scale_png.stat().st_size > 0
    assert load_png.stat().st_size > 0
