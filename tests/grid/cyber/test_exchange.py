"""Tests of grid.cyber.exchange: first reports, sightings, duplicates, flags, mitigations and metrics."""

from __future__ import annotations

import pytest

from grid.cyber.exchange import CyberExchange
from grid.cyber.markings import Tlp
from grid.cyber.stix import HUB_IDENTITY, JCC_IDENTITY, member_identity
from grid.errors import CyberRejected
from grid.world.events import ObservableType
from tests.grid.cyber.cyber_reports import EPOCH, MEMBERS, report

URL, EMAIL = ObservableType.URL, ObservableType.EMAIL

# One phishing URL as five member CERTs report it.
FORMS = [
    "http://evil.example/login?a=1&b=2",
    "HTTP://EVIL.EXAMPLE/login?a=1&b=2",
    "http://evil.example/login/?b=2&a=1",
    "http://evil.example:80/login?a=1&b=2",
    "hxxp://evil[.]example/login?a=1&b=2",
]


def _campaign(tlp: Tlp = Tlp.AMBER) -> tuple[CyberExchange, str]:
    """Five members report FORMS at 10, 20, ... 50 s (received 1 s after each observation)."""
    exchange = CyberExchange(MEMBERS, EPOCH)
    outcomes = [
        exchange.receive(10.0 * (i + 1) + 1, report(member, URL, form, 10.0 * (i + 1), tlp))
        for i, (member, form) in enumerate(zip(MEMBERS, FORMS, strict=True))
    ]
    assert [o.kind for o in outcomes] == ["new", "sighting", "sighting", "sighting", "sighting"]
    assert len({o.key for o in outcomes}) == 1
    return exchange, outcomes[0].key


def test_five_noisy_forms_make_one_indicator_and_four_sightings() -> None:
    """The first report becomes the shared indicator; the four others grow its one sighting to count 4."""
    exchange, key = _campaign()
    assert key.startswith("url--")
    bundle = exchange.bundle()
    indicators = [o for o in bundle.objects if o.type == "indicator"]
    sightings = [o for o in bundle.objects if o.type == "sighting"]
    assert len(indicators) == 1
    assert indicators[0].pattern == "[url:value = 'http://evil.example/login?a=1&b=2']"
    assert indicators[0].created_by_ref == HUB_IDENTITY.id
    assert len(sightings) == 1
    (seen,) = sightings
    assert seen.count == 4
    assert seen.sighting_of_ref == indicators[0].id
    assert seen.where_sighted_refs == [member_identity(m).id for m in MEMBERS[1:]]
    assert (seen.first_seen, seen.last_seen) == (EPOCH.replace(second=20), EPOCH.replace(second=50))
    (relationship,) = [o for o in bundle.objects if o.type == "relationship"]
    assert relationship.relationship_type == "indicates"
    assert relationship.target_ref == "attack-pattern--2b742742-28c3-4e1b-bab7-8350d6300fa7"
    assert exchange.metrics()["indicators"][0]["observed_by"] == list(MEMBERS)


def test_a_members_repeat_is_a_duplicate() -> None:
    """The same member reporting the same key again (another form too) is absorbed and counted."""
    exchange = CyberExchange(MEMBERS, EPOCH)
    assert exchange.receive(1, report("RO", URL, FORMS[0], 0.5)).kind == "new"
    again = exchange.receive(2, report("RO", URL, FORMS[4], 1.5))
    assert (again.kind, again.objects) == ("duplicate", ())
    assert exchange.receive(3, report("RO", URL, FORMS[0], 0.5)).kind == "duplicate"
    metrics = exchange.metrics()
    assert metrics["duplicates_absorbed"] == 2
    assert metrics["indicators"][0]["sightings"] == 0
    assert metrics["analysis_saved"] == pytest.approx(2 / 3)


def test_sighting_versions_are_ordered() -> None:
    """Each sighting report yields a newer version of the one sighting, even within one millisecond."""
    exchange = CyberExchange(MEMBERS, EPOCH)
    exchange.receive(1, report("RO", URL, FORMS[0], 1))
    first = exchange.receive(5, report("BG", URL, FORMS[1], 2)).objects[0]
    second = exchange.receive(5, report("PL", URL, FORMS[2], 3)).objects[0]
    assert first.id == second.id
    assert second.modified > first.modified
    assert (first.count, second.count) == (1, 2)


def test_different_observables_are_different_indicators() -> None:
    """Different observables are each new, whoever reports them."""
    exchange = CyberExchange(MEMBERS, EPOCH)
    assert exchange.receive(1, report("RO", URL, "http://evil.example/a", 1)).kind == "new"
    assert exchange.receive(2, report("RO", URL, "http://evil.example/b", 2)).kind == "new"
    assert exchange.receive(3, report("BG", EMAIL, "billing[@]evil[.]example", 3)).kind == "new"
    assert len(exchange.metrics()["indicators"]) == 3


def test_flag_mitigation_and_acknowledgements() -> None:
    """The flag yields a course of action for the TLP's recipients; acks complete the time to mitigate."""
    exchange, key = _campaign(Tlp.AMBER)
    mitigation = exchange.flag(key, 60)
    assert exchange.flag(key, 99) is mitigation
    assert exchange.mitigation(key) is mitigation
    assert (
        mitigation.course_of_action.name
        == "Block http://evil.example/login?a=1&b=2 at mail gateways and proxies"
    )
    assert mitigation.course_of_action.created_by_ref == JCC_IDENTITY.id
    assert mitigation.relationship.relationship_type == "mitigates"
    assert mitigation.relationship.source_ref == mitigation.course_of_action.id
    assert mitigation.recipients == frozenset(MEMBERS)
    for i, member in enumerate(MEMBERS[:-1]):
        assert exchange.acknowledge(key, member, 70 + i)
    assert not exchange.acknowledge(key, "RO", 90)
    row = exchange.metrics()["indicators"][0]
    assert row["time_to_flag_s"] == 50.0  # flagged at 60 s, first observed at 10 s
    assert row["time_to_mitigate_s"] is None  # SK has not acknowledged
    exchange.acknowledge(key, "SK", 80)
    metrics = exchange.metrics()
    assert metrics["indicators"][0]["time_to_mitigate_s"] == 70.0
    assert metrics["time_to_warning_s"] == {"RO": 60.0, "BG": 61.0, "PL": 62.0, "HU": 63.0, "SK": 70.0}
    assert metrics["analysis_saved"] == pytest.approx(4 / 5)
    assert metrics["duplicates_absorbed"] == 0


def test_red_mitigation_reaches_the_originator_only() -> None:
    """A TLP:RED indicator's mitigation is the originator's alone; others' acks are refused."""
    exchange, key = _campaign(Tlp.RED)
    assert exchange.flag(key, 60).recipients == frozenset({"RO"})
    with pytest.raises(CyberRejected) as info:
        exchange.acknowledge(key, "BG", 61)
    assert info.value.reason == "not_entitled"
    exchange.acknowledge(key, "RO", 62)
    metrics = exchange.metrics()
    assert metrics["indicators"][0]["time_to_mitigate_s"] == 52.0
    assert metrics["time_to_warning_s"]["BG"] is None


def test_requests_about_unknown_or_unflagged_keys() -> None:
    """Flags and acks of a key nobody reported, and acks before the flag, are refused with a reason."""
    exchange, key = _campaign()
    with pytest.raises(CyberRejected) as info:
        exchange.flag("url--00000000-0000-5000-8000-000000000000", 1)
    assert info.value.reason == "unknown_key"
    with pytest.raises(CyberRejected) as info:
        exchange.acknowledge(key, "RO", 1)
    assert info.value.reason == "not_flagged"
    assert exchange.metrics()["indicators"][0]["time_to_flag_s"] is None


def test_rejected_reports_are_counted_and_change_nothing() -> None:
    """Bad reports raise, are counted by reason, and leave the shared state as it was."""
    exchange = CyberExchange(MEMBERS, EPOCH)
    exchange.receive(1, report("RO", URL, FORMS[0], 1))
    before = exchange.metrics()
    for raw in (
        "not json",
        report("XX", URL, FORMS[1], 2),
        "{" + " " * 20_000 + "}",
        report("BG", URL, FORMS[1], 2).replace("url:value", "url:value ! "),
    ):
        with pytest.raises(CyberRejected):
            exchange.receive(3, raw)
    assert exchange.rejections() == {
        "bad_pattern": 1,
        "invalid_stix": 1,
        "too_large": 1,
        "unknown_creator": 1,
    }
    assert exchange.metrics() == before
    assert exchange.receive(4, report("BG", URL, FORMS[1], 3)).kind == "sighting"


def test_observation_time_is_clamped_to_receipt() -> None:
    """A report stamped after its receipt counts as observed when received (a skewed clock bends nothing)."""
    exchange = CyberExchange(MEMBERS, EPOCH)
    key = exchange.receive(5, report("RO", URL, FORMS[0], 500)).key
    exchange.flag(key, 8)
    assert exchange.metrics()["indicators"][0]["time_to_flag_s"] == 3.0


def test_the_bundle_is_deterministic() -> None:
    """Two exchanges fed the same reports with the same epoch export byte-identical bundles."""
    first, key = _campaign()
    second, _ = _campaign()
    for exchange in (first, second):
        exchange.flag(key, 60)
    assert first.bundle().serialize(sort_keys=True) == second.bundle().serialize(sort_keys=True)


def test_epoch_must_be_aware() -> None:
    """A naive epoch is refused: timestamps would be ambiguous."""
    with pytest.raises(ValueError, match="timezone"):
        CyberExchange(MEMBERS, EPOCH.replace(tzinfo=None))
