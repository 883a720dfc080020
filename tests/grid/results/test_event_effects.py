"""Event effects read the nodes' counters by their shared names (:class:`CounterName`), not by strings."""

from __future__ import annotations

from typing import Any

from grid.mqtt.outage import PlayedOutage
from grid.results.event_effects import event_effects
from grid.wire.counters import CounterName
from grid.world.events import BrokerOutage, Jamming, LinkImpairment, NodeOutage, SensorFailure
from grid.world.roster import Roster

# Every counter gets its own non-zero value, so a counter read under a wrong name shows as 0 or
# as another counter's value.
VALUE = {name: 10 * (k + 1) for k, name in enumerate(CounterName)}


def _accounts(*nodes: str) -> dict[str, dict[str, int]]:
    """Each node's counters as they arrive in a status message: plain string keys."""
    return {node: {str(name): value for name, value in VALUE.items()} for node in nodes}


def _effects(roster: Roster, event: Any, *nodes: str, **kwargs: Any) -> dict[str, Any]:
    (entry,) = event_effects(
        [event], roster=roster, per_node=_accounts(*nodes), reports_by_truth={}, **kwargs
    )
    return entry


def test_node_outage_reads_its_counters(roster: Roster) -> None:
    """A node outage reports that node's suppressed reports and messages received while out."""
    entry = _effects(roster, NodeOutage(kind="node_outage", at_s=10.0, duration_s=5.0, node="RO"), "RO")
    assert entry["reports_suppressed"] == VALUE[CounterName.REPORTS_SUPPRESSED_OUTAGE]
    assert entry["received_while_out"] == VALUE[CounterName.RECEIVED_WHILE_OUT]


def test_link_impairment_reads_its_counters(roster: Roster) -> None:
    """An impaired link reports the node's lost and delayed reports and the messages it lost."""
    event = LinkImpairment(kind="link_impairment", at_s=10.0, duration_s=5.0, node="BG", loss=0.5)
    entry = _effects(roster, event, "BG")
    assert entry["reports_lost"] == VALUE[CounterName.REPORTS_LOST_LINK]
    assert entry["reports_delayed"] == VALUE[CounterName.REPORTS_DELAYED_LINK]
    assert entry["received_lost"] == VALUE[CounterName.RECEIVED_LOST_LINK]


def test_sensor_failure_reads_the_owners_counter(roster: Roster) -> None:
    """A failed sensor reports the scans its owning node lost to failures."""
    sensor, owner = next(iter(roster.sensor_owner().items()))
    entry = _effects(roster, SensorFailure(kind="sensor_failure", at_s=10.0, sensor=sensor), owner)
    assert entry["node"] == owner
    assert entry["scans_lost_node_total"] == VALUE[CounterName.SCANS_LOST_SENSOR_FAILURE]


def test_jamming_and_broker_outage_sum_over_nodes(roster: Roster) -> None:
    """Jammed scans and reconnects are summed over every node's account."""
    jamming = Jamming(kind="jamming", at_s=10.0, center=(44.0, 29.0), radius_m=50_000.0)
    assert (
        _effects(roster, jamming, "RO", "BG")["scans_jammed_all_nodes"] == 2 * VALUE[CounterName.SCANS_JAMMED]
    )
    outage = BrokerOutage(kind="broker_outage", at_s=10.0, duration_s=5.0)
    played = PlayedOutage(at_s=10.0, applied=True, stopped_at_s=10.0, restarted_at_s=15.0)
    entry = _effects(
        roster, outage, "RO", "BG", broker_outages=[played], report_times=[9.0, 10.0, 14.9, 15.0]
    )
    assert entry["member_reconnects"] == 2 * VALUE[CounterName.RECONNECTS]
    assert entry["reports_made_while_down"] == 2


def test_absent_counters_read_as_zero(roster: Roster) -> None:
    """A node that never incremented a counter has none: its effect is 0, not an error."""
    (entry,) = event_effects(
        [LinkImpairment(kind="link_impairment", at_s=1.0, node="RO", loss=1.0)],
        roster=roster,
        per_node={"RO": {}},
        reports_by_truth={},
    )
    assert (entry["reports_lost"], entry["reports_delayed"], entry["received_lost"]) == (0, 0, 0)
