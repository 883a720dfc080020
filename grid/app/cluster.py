"""A grid on a RabbitMQ cluster (``--broker-kind rabbitmq --broker URL1,URL2,URL3``): who connects where.

The services and the member nodes are spread round-robin over the members (the fusion centre,
the hub and the JCC first, then the nodes in id order); each fails over to the next member when
its own dies (:mod:`grid.mqtt.rabbitmq`). The controller starts on the first member.
"""

from __future__ import annotations

from collections.abc import Sequence

from grid.mqtt.rabbitmq import check_ids, cluster_sessions, member_for, parse_cluster_urls
from grid.mqtt.session import SessionFactory
from grid.participants.service import SERVICE_IDS
from grid.world.roster import Roster

__all__ = ["Members", "check_roster", "members_of", "placement", "session_factory"]

Members = tuple[tuple[str, int], ...]


def members_of(urls: str | Sequence[str]) -> Members:
    """The cluster's members from ``URL1,URL2,...``."""
    return tuple(parse_cluster_urls(urls))


def check_roster(roster: Roster) -> None:
    """Refuse node ids RabbitMQ would misroute (``UnsupportedOnBroker`` naming the id)."""
    check_ids(roster)


def placement(roster: Roster, members: int) -> dict[str, int]:
    """Every service's and node's first member (0-based)."""
    ids = [*SERVICE_IDS, *sorted(roster)]
    return {service_id: k % members for k, service_id in enumerate(ids)}


def session_factory(members: Members, service_id: str, roster: Roster) -> SessionFactory | None:
    """Sessions for ``service_id`` on its member, failing over to the others; None without a cluster."""
    if not members:
        return None
    first = placement(roster, len(members)).get(service_id)
    if first is None:
        first = member_for(service_id, list(roster), len(members))
    return cluster_sessions(members, first=first)
