"""Tests of grid.cyber.stix: deterministic ids, ATT&CK links, patterns, and JSON round trips."""

from __future__ import annotations

import pytest
import stix2

from grid.cyber.markings import Tlp, marking_of
from grid.cyber.observables import observable_key
from grid.cyber.stix import (
    ATTACK_PATTERNS,
    HUB_IDENTITY,
    attack_pattern_for,
    indicates,
    indicator,
    member_identity,
    observable_of_pattern,
    parse,
    pattern_of,
    sim_time,
)
from grid.world.events import ObservableType
from tests.grid.cyber.cyber_reports import EPOCH

SAMPLES = [
    (ObservableType.URL, "http://evil.example/it's?a=1", "[url:value = 'http://evil.example/it\\'s?a=1']"),
    (ObservableType.EMAIL, "billing@example.com", "[email-message:from_ref.value = 'billing@example.com']"),
    (ObservableType.DOMAIN, "evil.example", "[domain-name:value = 'evil.example']"),
    (ObservableType.IPV4, "192.0.2.10", "[ipv4-addr:value = '192.0.2.10']"),
    (ObservableType.SHA256, "ab" * 32, f"[file:hashes.'SHA-256' = '{'ab' * 32}']"),
    (ObservableType.MD5, "cd" * 16, f"[file:hashes.MD5 = '{'cd' * 16}']"),
]


@pytest.mark.parametrize(("kind", "value", "pattern"), SAMPLES, ids=[k.value for k, _, _ in SAMPLES])
def test_pattern_round_trip(kind: ObservableType, value: str, pattern: str) -> None:
    """Each observable gets a one-comparison pattern, which reads back to its type and value."""
    observed = observable_key(kind, value)
    assert pattern_of(observed) == pattern
    assert observable_of_pattern(pattern) == (kind, observed.value)


def test_identity_ids_are_stable() -> None:
    """A node's identity has the same id every time, and different nodes differ."""
    assert member_identity("RO") == member_identity("RO")
    assert member_identity("RO").id != member_identity("BG").id
    assert member_identity("RO").name == "RO CERT"
    assert member_identity("RO").identity_class == "organization"
    assert HUB_IDENTITY.id not in {member_identity(n).id for n in ("RO", "BG", "hub")}


def test_attack_patterns_carry_attack_ids() -> None:
    """Links and addresses map to T1566.002, file hashes to T1566.001, under ATT&CK's STIX ids."""
    link = ATTACK_PATTERNS["T1566.002"]
    assert link.id == "attack-pattern--2b742742-28c3-4e1b-bab7-8350d6300fa7"
    assert link.external_references[0].url == "https://attack.mitre.org/techniques/T1566/002/"
    assert ATTACK_PATTERNS["T1566.001"].id == "attack-pattern--2e34237d-8574-43f6-aace-ae2915de8597"
    for kind in ObservableType:
        expected = "T1566.001" if kind in (ObservableType.SHA256, ObservableType.MD5) else "T1566.002"
        assert attack_pattern_for(kind).external_references[0].external_id == expected


def test_indicator_is_deterministic_and_complete() -> None:
    """The same observable, creator and time give the same indicator, with every property the issue lists."""
    observed = observable_key(ObservableType.URL, "hxxp://evil[.]example/login")
    at = sim_time(EPOCH, 12.5)
    creator = member_identity("RO").id
    first = indicator(observed, creator=creator, tlp=Tlp.AMBER, at=at, confidence=80)
    again = indicator(observed, creator=creator, tlp=Tlp.AMBER, at=at, confidence=80)
    assert first.serialize() == again.serialize()
    assert first.id != indicator(observed, creator=HUB_IDENTITY.id, tlp=Tlp.AMBER, at=at).id
    assert first.pattern == "[url:value = 'http://evil.example/login']"
    assert (first.pattern_type, first.confidence, first.created_by_ref) == ("stix", 80, creator)
    assert first.valid_from == at
    assert first.object_marking_refs == [marking_of(Tlp.AMBER).id]
    assert first.kill_chain_phases[0].phase_name == "initial-access"
    assert first.name == "Phishing url: http://evil.example/login"
    assert "Spearphishing Link" in first.description


def test_objects_parse_back() -> None:
    """An indicator and its relationship serialise to JSON that stix2 parses back to equal objects."""
    observed = observable_key(ObservableType.IPV4, "192[.]0[.]2[.]10")
    ind = indicator(observed, creator=HUB_IDENTITY.id, tlp=Tlp.RED, at=sim_time(EPOCH, 1))
    rel = indicates(ind, observed.kind, at=sim_time(EPOCH, 1), creator=HUB_IDENTITY.id)
    for obj in (ind, rel, member_identity("PL"), marking_of(Tlp.CLEAR)):
        back = parse(obj.serialize())
        assert back == obj
    assert rel.target_ref == ATTACK_PATTERNS["T1566.002"].id
    assert isinstance(parse(ind.serialize()), stix2.Indicator)


@pytest.mark.parametrize(
    "pattern",
    [
        "[url:value = 'a' OR email-addr:value = 'b']",
        "[url:value != 'a']",
        "[process:name = 'evil.exe']",
        "[url:value = 'a'] AND [url:value = 'b']",
    ],
)
def test_other_patterns_are_not_read(pattern: str) -> None:
    """Mixed, negated, unsupported or compound patterns do not read as one observable."""
    assert observable_of_pattern(pattern) is None
