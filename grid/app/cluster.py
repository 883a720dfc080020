"""A grid on a RabbitMQ cluster (``--broker-kind rabbitmq --broker URL1,URL2,URL3``): who connects where.

The services and the member nodes are spread round-robin over the members (the fusion centre,
the hub and the JCC first, then the nodes in id order); each fails over to the next member when
its own dies (:mod:`grid.mqtt.rabbitmq`). The controller starts on the first member. A process
started on its own (``gridsim node``, ``fusion``, ``hub``, ``inject``, ``results``) is given the
members in its own order and starts on the first (:func:`endpoint`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from grid.mqtt.address import parse_broker_url
from grid.mqtt.rabbitmq import check_ids, cluster_sessions, member_for, parse_cluster_urls
from grid.mqtt.session import SessionFactory, broker_sessions
from grid.participants.service import SERVICE_IDS
from grid.world.roster import Roster

__all__ = [
    "Endpoint",
    "Members",
    "check_roster",
    "endpoint",
    "is_cluster",
    "members_of",
    "placement",
    "session_factory",
]

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


def is_cluster(broker: str) -> bool:
    """Whether ``--broker`` is a cluster's member list (``URL1,URL2,...``) rather than one URL."""
    return "," in broker


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a participant started on its own connects: the first member's address, and its sessions."""

    host: str
    port: int
    sessions: SessionFactory
    members: Members  # more than one: a cluster, failed over member to member


def endpoint(broker: str, *, ids: Iterable[str] = ()) -> Endpoint:
    """``--broker``: one URL, or a cluster's members (``URL1,URL2,...``), tried and failed over in order.

    On a cluster ``ids`` (the ids the process serves as) are checked first: RabbitMQ would
    misroute one with ``.`` (``UnsupportedOnBroker`` naming it).
    """
    if not is_cluster(broker):
        host, port = parse_broker_url(broker)
        return Endpoint(host, port, broker_sessions(host, port), ((host, port),))
    check_ids(ids)
    members = members_of(broker)
    host, port = members[0]
    return Endpoint(host, port, cluster_sessions(members, first=0), members)
