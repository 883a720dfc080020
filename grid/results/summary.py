"""The run summary (``summary.json``): what a run measured, computed from what was observed.

Metric definitions are in :mod:`grid.evaluation.metrics` and the README.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from grid.evaluation.metrics import assign_updates, assoc_radius_m, locate, threat_metrics
from grid.evaluation.pcrlb import bound_rmse, pcrlb
from grid.evaluation.quality import Scoring, evaluate
from grid.evaluation.truth_table import TruthTable
from grid.geo import LocalFrame
from grid.mqtt.broker import BrokerInfo
from grid.participants.detections import detection_from_report
from grid.participants.service import SERVICE_IDS
from grid.results.event_effects import event_effects
from grid.results.forgery import ForgeryView
from grid.results.observed import Observed
from grid.wire.counters import ERRORS_PREFIX, REJECTED_PREFIX, CounterName
from grid.wire.messages import Awareness, CyberStats, NodePicture
from grid.world.roster import Roster
from grid.world.scenario import Scenario
from grid.world.truth import GroundTruth

__all__ = ["build_summary", "cyber_section", "federation_section"]


def build_summary(
    *, scenario: Scenario, roster: Roster, speed: float, broker: BrokerInfo, seen: Observed, wall_s: float
) -> dict[str, Any]:
    """The summary of one run, as written to ``summary.json``."""
    truth = GroundTruth(scenario)
    # Every tracker update (the fusion centre's log), not only the rate-bounded fused tracks sent.
    track_updates = seen.track_updates
    flying = scenario.expanded_threats()  # a swarm is judged member by member
    assoc_radius = assoc_radius_m(scenario.locate_radius_m)
    table = TruthTable(truth, until_s=scenario.duration_s)
    assigned = assign_updates(table, track_updates, assoc_radius)
    # One time to locate per threat, used by the summary's entry and by the tracking measures.
    located = {
        t.id: locate(truth, t.id, assigned.get(t.id, []), track_updates, scenario.locate_radius_m)
        for t in flying
    }
    threats = [
        threat_metrics(
            truth,
            t.id,
            first_report_s=seen.first_report.get(t.id),
            assigned=assigned.get(t.id, []),
            all_updates=track_updates,
            locate_radius_m=scenario.locate_radius_m,
            located=located[t.id],
        )
        for t in flying
    ]
    quality = evaluate(
        table,
        track_updates,
        Scoring(
            first_detection=dict(seen.first_report),
            locate_radius_m=scenario.locate_radius_m,
            assoc_radius_m=assoc_radius,
        ),
        located=located,
    )
    single_source = {t: min(n) for t, n in sorted(seen.track_nodes.items()) if len(n) == 1}
    for entry in threats:
        entry["pcrlb_rmse_m"] = _bound(truth, entry, seen)
        q = quality.threats[entry["id"]]
        entry["time_to_first_track_s"] = _round(q.time_to_first_track_s)
        entry["id_switches"] = q.id_switches
        entry["track_breaks"] = q.track_breaks
    start = {t.id: t.start_s for t in flying}
    awareness = {
        node_id: {
            t.id: _awareness_entry(seen.awareness.get(node_id, {}).get(t.id), start[t.id]) for t in flying
        }
        for node_id in roster
    }
    node_counters = {n: dict(s.counters) for n, s in seen.final_status.items() if n not in SERVICE_IDS}
    fusion = seen.fusion
    rejected: Counter[str] = Counter(fusion.rejected if fusion else {})
    for counters in node_counters.values():
        rejected.update(
            {
                k.removeprefix(REJECTED_PREFIX): v
                for k, v in counters.items()
                if k.startswith((REJECTED_PREFIX, ERRORS_PREFIX))
            }
        )
    missing = sorted({*SERVICE_IDS, *roster} - set(seen.final_status))
    published = sum(c.get(CounterName.PUBLISHED, 0) for c in node_counters.values())
    delivered = fusion.delivered if fusion else 0
    summary: dict[str, Any] = {
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
        "tracking": {
            "false_tracks": quality.false_tracks,
            # Confirmed tracks resting on one member's reports alone, no other's sensor agreeing: what
            # a compromised member's phantom looks like (its reports carry valid signatures).
            "single_source_tracks": single_source,
            "ospa_m": round(quality.ospa_m, 2),
            "gospa_m": round(quality.gospa_m, 2),
            "ospa_cutoff_m": assoc_radius,
            # [simulation s, OSPA m, GOSPA m] every second: how the picture's error evolves.
            "series": [
                [round(t, 2), round(o, 2), round(g, 2)]
                for (t, o), (_, g) in zip(quality.ospa_series, quality.gospa_series, strict=True)
            ],
        },
        "awareness": awareness,
        "latency_ms": dict(fusion.latency_ms) if fusion else None,
        "fusion_update_us": dict(fusion.update_us) if fusion else None,
        "report_age_ms": _by_node(fusion.report_age_ms) if fusion else None,
        "tracker": dict(fusion.tracker) if fusion else None,
        "messages": {
            "published": published,
            "delivered": delivered,
            # Published but never delivered (link losses are not published, so not counted here).
            "lost": max(0, published - delivered),
            "rejected": dict(sorted(rejected.items())),
            "duplicates": fusion.duplicates if fusion else 0,
            "track_updates": len(track_updates),
        },
        "air_picture": _air_picture(seen),
        "cyber": cyber_section(seen.cyber, roster),
        "measurement_digest": seen.measurement_digest(),
        "events": event_effects(
            list(scenario.events),
            roster=roster,
            per_node=node_counters,
            reports_by_truth=seen.reports_by_truth,
            broker_outages=seen.broker_outages,
            status_log=seen.status_log,
            report_times=[m[1] for m in seen.measurements],
            single_source=single_source,
            forgery=ForgeryView(
                frame=LocalFrame(*scenario.origin),
                track_updates=track_updates,
                radius_m=assoc_radius,
                fusion_rejected=fusion.rejected if fusion else {},
                fusion_duplicates=fusion.duplicates if fusion else 0,
            ),
        ),
        "per_node": node_counters,
        # The services' own counters (reconnects, failovers, ...), beside their detailed accounts.
        "per_service": {n: dict(s.counters) for n, s in seen.final_status.items() if n in SERVICE_IDS},
        "missing_accounts": missing,
    }
    _explain_outage_losses(summary["events"], seen)
    summary["warnings"] = run_warnings(summary)
    if seen.pictures:  # distributed mode only; the key is absent otherwise
        summary["pictures"] = _pictures(seen.pictures, threats)
    return summary


def federation_section(layout: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """A federated run's ``federation`` block: ``layout`` (its ``brokers``, each with its URL and
    home nodes, and its ``bridges``: receiver, source, topics pulled) and the duplicates.

    A report crosses bridges to reach the fusion centre and the nodes of other grid brokers; a
    QoS 1 redelivery (e.g. after a bridge reconnects) arrives again with the same message id,
    and is counted and dropped there: ``duplicates`` has ``at_fusion`` (the centre's,
    ``messages.duplicates``), ``at_nodes`` (the sum of the nodes' ``duplicates`` counters),
    ``seen`` (both) and ``dropped`` (the same: no duplicate is used).
    """
    at_fusion = int(summary["messages"]["duplicates"])
    at_nodes = sum(int(c.get(CounterName.DUPLICATES, 0)) for c in summary["per_node"].values())
    seen = at_fusion + at_nodes
    return {
        **layout,
        "duplicates": {"seen": seen, "dropped": seen, "at_fusion": at_fusion, "at_nodes": at_nodes},
    }


def cyber_section(cyber: CyberStats | None, roster: Roster) -> dict[str, Any]:
    """The cyber exchange's figures: the hub's metrics (:meth:`grid.cyber.CyberExchange.metrics`),
    its rejections by reason and its TAXII figures. Without the hub's account (the summary names
    it in ``missing_accounts``), the same keys with nothing in them."""
    if cyber is None:
        metrics: dict[str, Any] = {
            "indicators": [],
            "duplicates_absorbed": 0,
            "analysis_saved": 0.0,
            "time_to_warning_s": dict.fromkeys(roster),
        }
        return {**metrics, "rejected": {}, "taxii": {}}
    section = {**cyber.metrics, "rejected": dict(cyber.rejected), "taxii": dict(cyber.taxii)}
    if cyber.recovery:  # the hub's process was restarted in the run: what that replayed and changed
        section["recovery"] = dict(cyber.recovery)
    return section


def _air_picture(seen: Observed) -> dict[str, Any] | None:
    """What the grid received of the tracks: fused tracks published against the tracker's updates."""
    fusion = seen.fusion
    if fusion is None:
        return None
    return {
        "interval_s": fusion.track_interval_s,
        "published": fusion.tracks_published,
        "tracker_updates": len(fusion.track_log),
    }


def _awareness_entry(event: Awareness | None, start_s: float) -> dict[str, Any]:
    if event is None:
        return {"time_to_awareness_s": None, "source": None}
    return {"time_to_awareness_s": round(event.time_s - start_s, 3), "source": event.source.value}


def _pictures(pictures: dict[str, NodePicture], threats: list[dict[str, Any]]) -> dict[str, Any]:
    """Each node's own picture beside the fusion centre's, threat by threat (distributed mode)."""
    central = {t["id"]: t for t in threats}
    out: dict[str, Any] = {}
    for node_id in sorted(pictures):
        entries: dict[str, Any] = {}
        for threat_id, own in pictures[node_id].threats.items():
            if not isinstance(own, dict):
                continue
            centre = central.get(threat_id, {})
            own_s, centre_s = _number(own.get("time_to_locate_s")), _number(centre.get("time_to_locate_s"))
            entries[threat_id] = {
                "time_to_locate_s": own_s,
                "rmse_m": _number(own.get("rmse_m")),
                "central_time_to_locate_s": centre_s,
                "central_rmse_m": centre.get("rmse_m"),
                "locate_delay_s": None if own_s is None or centre_s is None else round(own_s - centre_s, 3),
            }
        out[node_id] = entries
    return out


def _number(value: Any) -> float | None:
    """``value`` if it is a number (a picture is another process's word), else None."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _version() -> str:
    try:
        return metadata.version("gridsim")
    except metadata.PackageNotFoundError:
        return "unknown"


def _by_node(flat: dict[str, float]) -> dict[str, dict[str, float]]:
    """``{"RO.p50": x, ...}`` as ``{"RO": {"p50": x, ...}, ...}``."""
    out: dict[str, dict[str, float]] = {}
    for key, value in flat.items():
        node, _, stat = key.rpartition(".")
        out.setdefault(node, {})[stat] = value
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _bound(truth: GroundTruth, entry: dict[str, Any], seen: Observed) -> float | None:
    """The posterior Cramér-Rao bound's RMS over the period ``rmse_m`` covers (from the locate time).

    Conditioned on the threat's actual detections, with its altitude known: no unbiased
    estimator with the constant-velocity model (q = 1) can do better on these reports.
    """
    threat_id, located = entry["id"], entry["time_to_locate_s"]
    if located is None:
        return None
    trajectory = truth.trajectories[threat_id]
    detections = sorted(
        (
            detection_from_report(truth.frame, msg_id, origin, r)
            for msg_id, origin, r in seen.labelled_reports
            if r.truth_id == threat_id
        ),
        key=lambda d: d.time,
    )

    def where(t: float) -> tuple[float, float, float] | None:
        state = trajectory.state(t)
        return None if state is None else (state.east, state.north, state.alt_m)

    value = bound_rmse(pcrlb(detections, where), since=trajectory.threat.start_s + located)
    return None if value is None else round(value, 2)


def _explain_outage_losses(events: list[dict[str, Any]], seen: Observed) -> None:
    """Under each played broker outage: the window in which the broker could lose reports, and those lost.

    The window runs from the broker's stop until the fusion centre had re-subscribed; a broker
    without sessions (amqtt) drops what it accepts in it. ``reports_lost`` counts the reports the
    nodes began publishing before the re-subscription (from the last outage's on; one in flight at
    the stop counts too) that never reached the centre: with every loss explained, the outages'
    counts add up to ``messages.lost``.
    """
    fusion = seen.fusion
    if fusion is None:
        return
    outages = [e for e in events if e["kind"] == "broker_outage" and e.get("applied")]
    since = float("-inf")  # a report in flight when the broker stopped is resent, so may be lost
    for entry in outages:
        down, _ = entry["down_interval_s"]
        # The first re-subscription after the stop (it can come before the restart is recorded).
        resubscribed = min((t for t in fusion.resubscribed_s if t > down), default=None)
        if resubscribed is None:
            continue
        lost = [t for t in fusion.lost_published_s if since <= t < resubscribed]
        entry["lost_window_s"] = [down, resubscribed]
        entry["reports_lost"] = len(lost)
        entry["lost_published_s"] = [min(lost), max(lost)] if lost else None
        since = resubscribed


_BEHIND_SHARE = 0.05  # a run whose fusion centre could not use this share of reports is not sound
_OVERLOADED_LATENCY_S = 0.5  # a healthy grid delivers in milliseconds


def run_warnings(summary: dict[str, Any]) -> list[str]:
    """What makes a run's figures unsound, each as one sentence with what to do about it."""
    out: list[str] = []
    tracker = summary.get("tracker") or {}
    detections, too_late = tracker.get("detections", 0), tracker.get("too_late", 0)
    if detections and too_late / detections > _BEHIND_SHARE:
        latency_s = ((summary.get("latency_ms") or {}).get("p50") or 0.0) / 1000
        cause = (
            f"the grid was overloaded at --speed {summary.get('speed')} (median delivery latency "
            f"{latency_s:.1f} s of wall time): play it slower, see docs/benchmarks.md"
            if latency_s > _OVERLOADED_LATENCY_S
            else "reports held back by outages or impaired links, or an overloaded grid: try a lower --speed"
        )
        out.append(
            f"{too_late} of {detections} reports ({too_late / detections:.0%}) reached the fusion "
            f"centre too late to be fused; likely cause: {cause}"
        )
    lost = summary["messages"].get("lost", 0)
    explained = sum(
        e.get("reports_lost", 0) for e in summary.get("events", []) if e["kind"] == "broker_outage"
    )
    if lost and lost == explained:
        out.append(
            f"{lost} published reports never reached the fusion centre, all published during a broker "
            "outage before the fusion centre had re-subscribed (see the broker_outage events)"
        )
    elif lost:
        out.append(f"{lost} published reports never reached the fusion centre (see messages.lost)")
    if summary.get("missing_accounts"):
        out.append(
            f"no final account from {', '.join(summary['missing_accounts'])}: their counters are missing"
        )
    return out
