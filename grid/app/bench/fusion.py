"""``gridsim bench fusion``: gridsim's tracker against Stone Soup's EKF and the bound.

For each case the same recorded reports feed: gridsim's streaming tracker (every report, at
its arrival time, clutter included), gridsim's EKF alone and Stone Soup's EKF on each threat's
labelled reports from the same initial state, and the posterior Cramér-Rao bound along the true
trajectories. Cases with ``delay_s`` are replayed through the tracker with that link delay.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from grid.app.bench.cases import BenchCase
from grid.app.bench.recording import Arrival, Recording, arrivals, record
from grid.app.bench.runners import RunResult, filter_inputs, run_filters, run_given_association, run_tracker
from grid.app.bench.stonesoup_ekf import available, run_stonesoup, run_stonesoup_gnn, version
from grid.evaluation.awareness import awareness_times
from grid.evaluation.metrics import assign_updates
from grid.evaluation.pcrlb import BoundPoint, bound_at, pcrlb
from grid.evaluation.picture import TrackUpdate
from grid.evaluation.quality import RunQuality, Scoring, ThreatQuality, evaluate, labelled_quality
from grid.evaluation.truth_table import TruthTable
from grid.fusion import JpdaAssociator
from grid.world.roster import Roster

__all__ = ["ASSOC_RADIUS_M", "machine", "run_case", "run_cases"]

ASSOC_RADIUS_M = 1000.0
Log = Callable[[str], None]


def machine() -> dict[str, Any]:
    """Where the benchmark ran."""
    memory = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            memory = f"{int(f.readline().split()[1]) / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        memory = None
    return {
        "nproc": os.cpu_count(),
        "memory": memory,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def _pooled(qualities: Sequence[ThreatQuality]) -> float | None:
    errors = [e for q in qualities for _, e in q.squared_errors]
    return math.sqrt(sum(errors) / len(errors)) if errors else None


def _locate(qualities: Sequence[ThreatQuality]) -> dict[str, Any]:
    times = [q.time_to_locate_s for q in qualities if q.time_to_locate_s is not None]
    return {
        "time_to_locate_s": _r(statistics.mean(times)) if times else None,
        "time_to_locate_max_s": _r(max(times)) if times else None,
        "located": len(times),
        "threats": len(qualities),
    }


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _summary(result: RunResult, qualities: Sequence[ThreatQuality]) -> dict[str, Any]:
    return {
        "rmse_m": _r(_pooled(qualities)),
        "us_per_update": _r(result.us_per_update),
        **_locate(qualities),
        "updates": result.calls,
    }


def _bounds(recording: Recording, threat_ids: Sequence[str]) -> dict[str, list[BoundPoint]]:
    """The bound after each detection of each threat."""
    out = {}
    for threat_id in threat_ids:
        trajectory = recording.truth.trajectories[threat_id]

        def where(t: float, tr: Any = trajectory) -> tuple[float, float, float] | None:
            state = tr.state(t)
            return None if state is None else (state.east, state.north, state.alt_m)

        out[threat_id] = pcrlb(recording.of_truth(threat_id), where)
    return out


def _bound_rmse(
    bounds: dict[str, list[BoundPoint]], threat_ids: Sequence[str], first: dict[str, float], settle_s: float
) -> float | None:
    """The bound's RMSE pooled over the threats' converged periods."""
    variances = [
        p.position_var for t in threat_ids for p in bounds[t] if p.time >= first.get(t, math.inf) + settle_s
    ]
    return math.sqrt(sum(variances) / len(variances)) if variances else None


def _bound_on(bounds: dict[str, list[BoundPoint]], qualities: dict[str, ThreatQuality]) -> float | None:
    """The bound's RMSE at exactly the (threat, time) samples an RMSE was computed on."""
    variances = [
        v for t, q in qualities.items() for v in bound_at(bounds[t], [time for time, _ in q.squared_errors])
    ]
    return math.sqrt(sum(variances) / len(variances)) if variances else None


def _tracker_block(quality: RunQuality, result: RunResult, threat_ids: Sequence[str]) -> dict[str, Any]:
    threats = list(quality.threats.values())
    return {
        **_summary(result, threats),
        "rmse_same_threats_m": _r(_pooled([quality.threats[t] for t in threat_ids])),
        "ospa_m": _r(quality.ospa_m),
        "gospa_m": _r(quality.gospa_m),
        "id_switches_max": max((q.id_switches for q in threats), default=0),
        "id_switches_total": sum(q.id_switches for q in threats),
        "track_breaks_total": sum(q.track_breaks for q in threats),
        "false_tracks": quality.false_tracks,
        "time_to_first_track_s": _r(
            statistics.mean(t)
            if (t := [q.time_to_first_track_s for q in threats if q.time_to_first_track_s is not None])
            else None
        ),
        "counters": result.counters,
    }


def _given_association(
    recording: Recording,
    table: TruthTable,
    scoring: Scoring,
    threat_ids: Sequence[str],
    bounds: dict[str, list[BoundPoint]],
) -> dict[str, Any]:
    """The tracker on each threat's own reports alone (association given), against the bound on
    its own samples: what the tracker loses to data association is the difference from the full run."""
    by_threat: dict[str, list[TrackUpdate]] = {t: [] for t in threat_ids}
    for u in run_given_association(recording, threat_ids):
        by_threat[u.track_id.split("/", 1)[0]].append(u)
    qualities = {t: evaluate(table, by_threat[t], scoring).threats[t] for t in threat_ids}
    return {
        "rmse_m": _r(_pooled(list(qualities.values()))),
        "pcrlb_on_samples_m": _r(_bound_on(bounds, qualities)),
        **_locate(list(qualities.values())),
    }


def _median_run(run: Callable[[], RunResult], *, budget_s: float = 3.0, most: int = 5) -> RunResult:
    """Run ``run`` until ``budget_s`` is spent (at most ``most`` times); the first result with
    the median cost per update, as these machines are noisy."""
    started = time.perf_counter()
    results = [run()]
    while len(results) < most and time.perf_counter() - started < budget_s * len(results) / (
        len(results) + 1
    ):
        results.append(run())
    cost = statistics.median(r.us_per_update for r in results)
    first = results[0]
    return RunResult(first.updates, cost, first.calls, first.counters, first.costs_us)


def _awareness(
    recording: Recording,
    roster: Roster,
    flow: Sequence[Arrival],
    updates: list[TrackUpdate],
    table: TruthTable,
) -> dict[str, Any]:
    """Each member's mean time to awareness (after each threat's start) and how many it learned of."""
    confirmed_at = {
        threat: min(u.issued for u in assigned)
        for threat, assigned in assign_updates(table, updates, ASSOC_RADIUS_M).items()
    }
    grids = {m.id: m.grids for m in roster.values()}
    times = awareness_times(((a.time, a.detection) for a in flow), grids, confirmed_at)
    starts = {t: tr.threat.start_s for t, tr in recording.truth.trajectories.items()}
    return {
        member: {
            "mean_s": _r(statistics.mean(t - starts[k] for k, t in known.items())) if known else None,
            "threats": len(known),
        }
        for member, known in times.items()
    }


def _altitude(recording: Recording) -> Callable[[str, float], float]:
    """(threat id, time) -> true altitude, as Stone Soup's 2D models (and the EKF) are given it."""

    def altitude(threat_id: str, t: float) -> float:
        state = recording.truth.trajectories[threat_id].state(t)
        return 0.0 if state is None else state.alt_m

    return altitude


def _stonesoup_gnn(
    case: BenchCase,
    recording: Recording,
    threat_ids: Sequence[str],
    tracked: RunResult,
    altitude: Callable[[str, float], float],
) -> dict[str, Any]:
    """Stone Soup's own GNN over tracks given at every threat's seed, against the tracker's cost
    on the same reports."""
    seeds = filter_inputs(recording, threat_ids)
    cost, count = run_stonesoup_gnn(seeds, recording.detections, altitude, limit=case.gnn_reports)
    start = max(p.seed.key[0] for p in seeds)
    mine = [c for c, d in zip(tracked.costs_us, recording.detections, strict=True) if d.time > start][:count]
    return {
        "us_per_report": _r(cost),
        "reports": count,
        "tracks": len(seeds),
        "gridsim_us_same_reports": _r(statistics.mean(mine)) if mine else None,
    }


def run_case(
    case: BenchCase, roster: Roster, *, stonesoup: bool, log: Log, timing_s: float = 3.0
) -> dict[str, Any]:
    """Run one case and return its results entry; timed runs repeat within ``timing_s`` each."""
    started = time.perf_counter()
    recording = record(case.scenario, roster, clutter_per_scan=case.clutter_per_scan)
    table = TruthTable(recording.truth, until_s=case.scenario.duration_s)
    first: dict[str, float] = {}
    for det in recording.detections:
        if det.truth_id is not None and det.truth_id not in first:
            first[det.truth_id] = det.time
    threat_ids = list(recording.truth.trajectories)
    compared = threat_ids[: case.stonesoup_targets]
    log(
        f"{case.name}: {len(recording.detections)} reports ({recording.clutter} clutter), "
        f"{len(threat_ids)} threats, recorded in {time.perf_counter() - started:.1f} s"
    )
    scoring = Scoring(
        first_detection=first,
        locate_radius_m=case.scenario.locate_radius_m,
        assoc_radius_m=ASSOC_RADIUS_M,
        settle_s=case.settle_s,
    )
    in_order = arrivals(recording)
    tracked = _median_run(lambda: run_tracker(in_order), budget_s=timing_s)
    quality = evaluate(table, tracked.updates, scoring)
    gridsim = _tracker_block(quality, tracked, compared)
    log(
        f"{case.name}: gridsim tracker {gridsim['rmse_m']} m, {gridsim['us_per_update']} us/update, "
        f"{gridsim['false_tracks']} false tracks, id switches max {gridsim['id_switches_max']}"
    )
    flow = in_order
    if case.delay_s > 0.0:
        flow = arrivals(recording, delay_s=case.delay_s, seed=case.scenario.seed)
        delayed = run_tracker(flow)
        late = evaluate(table, delayed.updates, scoring)
        gridsim["delayed"] = {"delay_s": case.delay_s, **_tracker_block(late, delayed, compared)}
        log(f"{case.name}: with {case.delay_s * 1000:.0f} ms delay {gridsim['delayed']['rmse_m']} m")
    if case.jpda:
        shared = run_tracker(in_order, JpdaAssociator())
        gridsim_jpda = _tracker_block(evaluate(table, shared.updates, scoring), shared, compared)
        log(f"{case.name}: with JPDA {gridsim_jpda['rmse_m']} m, {gridsim_jpda['us_per_update']} us/update")
    gridsim["awareness"] = _awareness(recording, roster, flow, tracked.updates, table)

    altitude = _altitude(recording)
    inputs = filter_inputs(recording, compared)
    own = _median_run(lambda: run_filters(inputs, altitude), budget_s=timing_s)
    own_quality = labelled_quality(table, own.updates, scoring)
    gridsim_filter = _summary(own, list(own_quality.values()))
    stone: dict[str, Any] = {"rmse_m": None, "us_per_update": None, "time_to_locate_s": None}
    if stonesoup:
        ss = _median_run(lambda: run_stonesoup(inputs, altitude), budget_s=timing_s)
        stone = _summary(ss, list(labelled_quality(table, ss.updates, scoring).values()))
        log(f"{case.name}: Stone Soup EKF {stone['rmse_m']} m, {stone['us_per_update']} us/update")
        if len(threat_ids) > 1 and case.gnn_reports > 0:
            stone["gnn"] = _stonesoup_gnn(case, recording, threat_ids, tracked, altitude)
            log(f"{case.name}: Stone Soup GNN {stone['gnn']['us_per_report']} us/report")
    bounds = _bounds(recording, threat_ids)
    bound = _bound_rmse(bounds, threat_ids, first, case.settle_s)
    gridsim["pcrlb_on_samples_m"] = _r(_bound_on(bounds, quality.threats))
    if len(threat_ids) > 1:
        given = _given_association(recording, table, scoring, threat_ids, bounds)
        gridsim["association_given"] = given
        log(f"{case.name}: association given {given['rmse_m']} m, PCRLB {given['pcrlb_on_samples_m']} m")
    log(f"{case.name}: PCRLB {_r(bound)} m; done in {time.perf_counter() - started:.1f} s")
    return {
        "name": case.name,
        "gridsim": gridsim,
        **({"gridsim_jpda": gridsim_jpda} if case.jpda else {}),
        "gridsim_filter": gridsim_filter,
        "stonesoup": stone,
        "pcrlb_rmse_m": _r(bound),
        "pcrlb_rmse_same_threats_m": _r(_bound_rmse(bounds, compared, first, case.settle_s)),
        "case": {
            **case.describe(),
            "reports": len(recording.detections),
            "clutter_reports": recording.clutter,
        },
    }


def run_cases(
    cases: Sequence[BenchCase],
    roster: Roster,
    *,
    stonesoup: bool | None,
    log: Log,
    timing_s: float = 3.0,
    on_case: Log | None = None,
) -> dict[str, Any]:
    """Every case, with the run's configuration (``stonesoup`` None: use it if installed);
    ``on_case`` is called with each case's name before it runs (progress)."""
    use_stonesoup = available() if stonesoup is None else stonesoup and available()
    if not use_stonesoup:
        log(
            "Stone Soup is not installed (pip install 'gridsim[bench]'): its column is left empty"
            if stonesoup is not False
            else "Stone Soup skipped (--no-stonesoup)"
        )
    results = []
    for case in cases:
        if on_case is not None:
            on_case(case.name)
        results.append(run_case(case, roster, stonesoup=use_stonesoup, log=log, timing_s=timing_s))
    return {
        "cases": results,
        "config": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "stonesoup_version": version() if use_stonesoup else None,
            "motion_model": "constant velocity, q = 1 m^2/s^3 (gridsim, Stone Soup and the bound)",
            "assoc_radius_m": ASSOC_RADIUS_M,
            "delay_model": "each report delayed by U(0, 2 * delay_s): mean delay_s, out of order",
            "rmse": "horizontal, over updates from settle_s after each threat's first detection",
            "timing": f"median us/update of repeated runs within {timing_s} s each (one run if 0)",
        },
    }
