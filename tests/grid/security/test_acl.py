"""Tests of grid.security.acl and broker_tls: the ACL follows the roster and the participants' topics,
the secure configurations are generated, and the committed examples in broker/ are current."""

from __future__ import annotations

from pathlib import Path

import pytest

from grid.errors import ConfigError
from grid.participants.node import node_subscriptions
from grid.security.acl import ACL_HEADER, grants, render_acl
from grid.security.broker_tls import SecureBroker, secure_config
from grid.security.examples import example_files
from grid.wire import topics
from grid.world.roster import Roster, load_roster

REPO = Path(__file__).resolve().parents[3]


def test_a_node_writes_only_its_own_topics_and_reads_only_its_grids(roster: Roster) -> None:
    """Every write of a node ends in its own id; its report reads are exactly its peers' report topics."""
    table = grants(roster)
    for node in roster:
        writes = [t for access, t in table[node] if access == "write"]
        reads = [t for access, t in table[node] if access == "read"]
        assert all(t.endswith(f"/{node}") for t in writes), writes
        assert topics.report_topic(node) in writes
        report_reads = {t for t in reads if t.startswith(f"{topics.ROOT}/reports/")}
        assert report_reads == {topics.report_topic(p) for p in roster.peers(node)}
        # Everything the node subscribes to is granted (and no wildcard read).
        assert set(node_subscriptions(node, roster)) | {topics.CONTROL} == set(reads)


def test_services_have_roles_of_their_own(roster: Roster) -> None:
    """fusion, hub, jcc, dashboard and operator each have grants; only the operator may write the control."""
    table = grants(roster)
    assert {"fusion", "hub", "jcc", "dashboard", "operator"} <= set(table)
    writers = {user for user, g in table.items() if ("write", topics.CONTROL) in g}
    assert writers == {"operator"}
    assert all(access == "read" for access, _ in table["dashboard"])
    assert ("write", topics.TRACKS) in table["fusion"]


def test_the_acl_file_says_it_is_generated(roster: Roster) -> None:
    """The header says not to edit; every user appears once."""
    text = render_acl(roster)
    assert text.startswith(ACL_HEADER)
    users = [line.split()[1] for line in text.splitlines() if line.startswith("user ")]
    assert sorted(users) == sorted(grants(roster))


def test_secure_config_replaces_the_listener_and_anonymous_access() -> None:
    """mtls: a TLS listener requiring certificates, the CN as user name, no anonymous access, the ACL."""
    plain = "listener 1883 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
    broker = SecureBroker(ca_file="/c/ca.crt", cert_file="/c/b.crt", key_file="/c/b.key", acl_file="/c/acl")
    text = secure_config(plain, broker)
    lines = text.splitlines()
    for expected in (
        "listener 1883 127.0.0.1",
        "require_certificate true",
        "use_identity_as_username true",
        "allow_anonymous false",
        "acl_file /c/acl",
        "cafile /c/ca.crt",
        "set_tcp_nodelay true",
    ):
        assert expected in lines
    assert "allow_anonymous true" not in lines
    tls_only = secure_config(plain, SecureBroker("/a", "/b", "/c", "/d", mode="tls")).splitlines()
    assert "require_certificate true" not in tls_only
    assert "acl_file /d" not in tls_only


def test_secure_config_refuses_a_configuration_it_cannot_secure() -> None:
    """Two listeners (or none) would leave one of them plain: refused."""
    broker = SecureBroker("/a", "/b", "/c", "/d")
    with pytest.raises(ConfigError, match="one listener"):
        secure_config("listener 1\nlistener 2\nallow_anonymous true\n", broker)


@pytest.mark.parametrize("name", ["mosquitto-tls.conf", "mosquitto-mtls.conf", "acl"])
def test_the_committed_examples_are_current(name: str) -> None:
    """broker/<name> is what the generator writes (python -m grid.security.examples)."""
    expected = example_files(load_roster(), REPO / "broker")[name]
    assert (REPO / "broker" / name).read_text(encoding="utf-8") == expected, (
        f"broker/{name} is stale: run python -m grid.security.examples"
    )
