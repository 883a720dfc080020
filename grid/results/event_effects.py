"""The visible effect of each scenario event in a run, for the summary's ``events`` list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from grid.mqtt.outage import PlayedOutage
from grid.results.forgery import ForgeryView, forgery_entry
from grid.wire.counters import CounterName
from grid.wire.messages import NodeState
from grid.world.events import (
    BrokerOutage,
    CyberCampaign,
    Event,
    Forgery,
    Jamming,
    LinkImpairment,
    NodeOutage,
    SensorFailure,
    Spoofing,
)
from grid.world.roster import Roster

__all__ = ["event_effects"]


def event_effects(
    events: list[Event],
    *,
    roster: Roster,
    per_node: Mapping[str, Mapping[str, int]],
    reports_by_truth: Mapping[str, int],
    broker_outages: Sequence[PlayedOutage] = (),
    status_log: Mapping[str, Sequence[tuple[float, NodeState]]] | None = None,
    report_times: Sequence[float] = (),
    single_source: Mapping[str, str] | None = None,
    forgery: ForgeryView | None = None,
) -> list[dict[str, Any]]:
    """One entry per event: what it was and what it did, from the nodes' own counters.

    ``single_source``: confirmed track id -> the one node whose reports alone it rests on.
    ``forgery``: the tracks and refusals a ``forgery`` event's entry is judged on.
    """
    owner = roster.sensor_owner()
    out: list[dict[str, Any]] = []
    played = {p.at_s: p for p in broker_outages}
    for e in events:
        entry: dict[str, Any] = {"kind": e.kind, "at_s": e.at_s, "duration_s": e.duration_s}
        if isinstance(e, NodeOutage):
            counters = per_node.get(e.node, {})
            entry |= {
                "node": e.node,
                "offline_interval_s": [e.at_s, e.end_s if e.duration_s is not None else None],
                "reports_suppressed": _count(counters, CounterName.REPORTS_SUPPRESSED_OUTAGE),
                "received_while_out": _count(counters, CounterName.RECEIVED_WHILE_OUT),
                "status_offline_s": _offline_seen(
                    (status_log or {}).get(e.node, ()), e.at_s, None if e.duration_s is None else e.end_s
                ),
            }
        elif isinstance(e, LinkImpairment):
            counters = per_node.get(e.node, {})
            entry |= {
                "node": e.node,
                "reports_lost": _count(counters, CounterName.REPORTS_LOST_LINK),
                "reports_delayed": _count(counters, CounterName.REPORTS_DELAYED_LINK),
                "received_lost": _count(counters, CounterName.RECEIVED_LOST_LINK),
            }
        elif isinstance(e, SensorFailure):
            entry |= {
                "sensor": e.sensor,
                "node": owner.get(e.sensor),
                "scans_lost_node_total": _count(
                    per_node.get(owner.get(e.sensor, ""), {}), CounterName.SCANS_LOST_SENSOR_FAILURE
                ),
            }
        elif isinstance(e, Jamming):
            entry |= {
                "scans_jammed_all_nodes": sum(_count(c, CounterName.SCANS_JAMMED) for c in per_node.values())
            }
        elif isinstance(e, Spoofing):
            phantom_reports = reports_by_truth.get(e.phantom.id, 0)
            alone = sorted(t for t, n in (single_source or {}).items() if n == e.node)
            entry |= {
                "node": e.node,
                "phantom": e.phantom.id,
                "phantom_reports": phantom_reports,
                "uncorroborated_tracks": alone,
                "caught_by": _spoofing_caught_by(e.node, phantom_reports, alone),
            }
        elif isinstance(e, Forgery) and forgery is not None:
            entry |= forgery_entry(e, forgery, roster=roster, per_node=per_node)
        elif isinstance(e, BrokerOutage):
            outcome = played.get(e.at_s)
            entry |= (
                outcome.to_dict()
                if outcome is not None
                else {"applied": False, "note": "not played: the run ended before it"}
            )
            entry["member_reconnects"] = sum(_count(c, CounterName.RECONNECTS) for c in per_node.values())
            if outcome is not None and outcome.applied:
                down, up = outcome.stopped_at_s or 0.0, outcome.restarted_at_s or 0.0
                # Measured while the broker was down, held by their nodes, and delivered after.
                entry["reports_made_while_down"] = sum(1 for t in report_times if down <= t < up)
        elif isinstance(e, CyberCampaign):
            entry |= {
                "name": e.name,
                "observables": len(e.observables),
                "sightings": sum(len(o.observed_by) for o in e.observables),
            }
        out.append(entry)
    return out


def _spoofing_caught_by(node: str, phantom_reports: int, alone: list[str]) -> str:
    """What gives a member's phantom away: its reports are the member's own, so a signature passes."""
    if not phantom_reports:
        return "nothing to catch: no sensor of the member reported the phantom"
    if alone:
        return (
            f"corroboration: track(s) {', '.join(alone)} rest on {node}'s reports alone, no other member's "
            "sensor agrees (the reports are the member's own, so a signature check passes them)"
        )
    return (
        f"nothing flagged: no confirmed track rests on {node}'s reports alone (the phantom made no track "
        "of its own, or other members' sensors shared its tracks)"
    )


def _count(counters: Mapping[str, int], name: CounterName) -> int:
    """One counter of a participant's account; a counter never incremented is absent, so 0."""
    return counters.get(name, 0)


def _offline_seen(
    changes: Sequence[tuple[float, NodeState]], at_s: float, end_s: float | None
) -> list[float | None] | None:
    """When the node's retained status was seen to go offline for this outage, and to come back.

    The offline status is the broker's last will (the node dropped its connection); it can only
    be seen after the outage starts, so the first one from a little before ``at_s`` on counts.
    """
    for k, (t, state) in enumerate(changes):
        if state is NodeState.OFFLINE and t >= at_s - 1.0 and (end_s is None or t <= end_s):
            back = next((t2 for t2, s2 in changes[k + 1 :] if s2 is not NodeState.OFFLINE), None)
            return [round(t, 3), None if back is None else round(back, 3)]
    return None
