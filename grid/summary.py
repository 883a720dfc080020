"""The run summary (``summary.json``): what a run measured, computed from what was observed.

Metric definitions are in :mod:`grid.metrics` and the README.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from grid.broker import BrokerInfo
from grid.messages import Awareness
from grid.metrics import assign_points, threat_metrics
from grid.observed import Observed
from grid.roster import Roster
from grid.scenario import Scenario
from grid.service import FUSION_ID
from grid.truth import GroundTruth

__all__ = ["build_summary"]


def build_summary(
    *, scenario: Scenario, roster: Roster, speed: float, broker: BrokerInfo, seen: Observed, wall_s: float
) -> dict[str, Any]:
    """The summary of one run, as written to ``summary.json``."""
    truth = GroundTruth(scenario)
    assoc_radius = max(1000.0, 5 * scenario.locate_radius_m)
    assigned = assign_points(truth, seen.track_points, assoc_radius)
    threats = [
        threat_metrics(
            truth,
            t.id,
            first_report_s=seen.first_report.get(t.id),
            assigned=assigned.get(t.id, []),
            all_points=seen.track_points,
            locate_radius_m=scenario.locate_radius_m,
        )
        for t in scenario.threats
    ]
    start = {t.id: t.start_s for t in scenario.threats}
    awareness = {
        node_id: {
            t.id: _awareness_entry(seen.awareness.get(node_id, {}).get(t.id), start[t.id])
            for t in scenario.threats
        }
        for node_id in roster
    }
    node_counters = {n: dict(s.counters) for n, s in seen.final_status.items() if n != FUSION_ID}
    fusion = seen.fusion
    rejected: Counter[str] = Counter(fusion.rejected if fusion else {})
    for counters in node_counters.values():
        rejected.update(
            {
                k.removeprefix("rejected."): v
                for k, v in counters.items()
                if k.startswith(("rejected.", "errors."))
            }
        )
    missing = sorted({FUSION_ID, *roster} - set(seen.final_status))
    return {
        "scenario": scenario.name,
        "run_id": seen.run_id,
        "seed": scenario.seed,
        "speed": speed,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "gridsim_version": _version(),
        "wall_time_s": round(wall_s, 2),
        "broker": broker.to_dict(),
        "nodes": {"count": len(roster), "ids": list(roster)},
        "locate_radius_m": scenario.locate_radius_m,
        "threats": threats,
        "awareness": awareness,
        "latency_ms": dict(fusion.latency_ms) if fusion else None,
        "fusion_update_us": dict(fusion.update_us) if fusion else None,
        "tracker": dict(fusion.tracker) if fusion else None,
        "messages": {
            "published": sum(c.get("published", 0) for c in node_counters.values()),
            "delivered": fusion.delivered if fusion else 0,
            "rejected": dict(sorted(rejected.items())),
            "duplicates": fusion.duplicates if fusion else 0,
            "grid_copies": fusion.grid_copies if fusion else 0,
            "track_updates": len(seen.track_points),
        },
        "measurement_digest": seen.measurement_digest(),
        "per_node": node_counters,
        "missing_accounts": missing,
    }


def _awareness_entry(event: Awareness | None, start_s: float) -> dict[str, Any]:
    if event is None:
        return {"time_to_awareness_s": None, "source": None}
    return {"time_to_awareness_s": round(event.time_s - start_s, 3), "source": event.source.value}


def _version() -> str:
    try:
        return metadata.version("gridsim")
    except metadata.PackageNotFoundError:
        return "unknown"
