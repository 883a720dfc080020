"""The visible effect of each scenario event in a run, for the summary's ``events`` list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grid.events import (
    BrokerOutage,
    CyberCampaign,
    Event,
    Jamming,
    LinkImpairment,
    NodeOutage,
    SensorFailure,
    Spoofing,
)
from grid.roster import Roster

__all__ = ["event_effects"]


def event_effects(
    events: list[Event],
    *,
    roster: Roster,
    per_node: Mapping[str, Mapping[str, int]],
    reports_by_truth: Mapping[str, int],
) -> list[dict[str, Any]]:
    """One entry per event: what it was and what it did, from the nodes' own counters."""
    owner = roster.sensor_owner()
    out: list[dict[str, Any]] = []
    for e in events:
        entry: dict[str, Any] = {"kind": e.kind, "at_s": e.at_s, "duration_s": e.duration_s}
        if isinstance(e, NodeOutage):
            counters = per_node.get(e.node, {})
            entry |= {
                "node": e.node,
                "offline_interval_s": [e.at_s, e.end_s if e.duration_s is not None else None],
                "reports_suppressed": counters.get("reports_suppressed_outage", 0),
                "received_while_out": counters.get("received_while_out", 0),
            }
        elif isinstance(e, LinkImpairment):
            counters = per_node.get(e.node, {})
            entry |= {
                "node": e.node,
                "reports_lost": counters.get("reports_lost_link", 0),
                "reports_delayed": counters.get("reports_delayed_link", 0),
                "received_lost": counters.get("received_lost_link", 0),
            }
        elif isinstance(e, SensorFailure):
            entry |= {
                "sensor": e.sensor,
                "node": owner.get(e.sensor),
                "scans_lost_node_total": per_node.get(owner.get(e.sensor, ""), {}).get(
                    "scans_lost_sensor_failure", 0
                ),
            }
        elif isinstance(e, Jamming):
            entry |= {"scans_jammed_all_nodes": sum(c.get("scans_jammed", 0) for c in per_node.values())}
        elif isinstance(e, Spoofing):
            entry |= {
                "node": e.node,
                "phantom": e.phantom.id,
                "phantom_reports": reports_by_truth.get(e.phantom.id, 0),
            }
        elif isinstance(e, BrokerOutage):
            entry |= {
                "applied": False,
                "note": "broker outages are validated but not yet played by the runtime",
            }
        elif isinstance(e, CyberCampaign):
            entry |= {
                "name": e.name,
                "observables": len(e.observables),
                "sightings": sum(len(o.observed_by) for o in e.observables),
            }
        out.append(entry)
    return out
