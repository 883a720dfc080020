"""Tests of the exchange's export bundle against the tools of the trade: stix2, stix2-validator, misp-stix."""

from __future__ import annotations

import json
from typing import Any

import stix2
from misp_stix_converter import ExternalSTIX2toMISPParser
from stix2validator import ValidationOptions, validate_string

from grid.cyber.exchange import CyberExchange
from grid.cyber.markings import Tlp
from grid.world.events import ObservableType
from tests.grid.cyber.cyber_reports import EPOCH, MEMBERS, report

# One observable of each type, as noisy CERTs report them, each with the MISP attribute type it must become.
CAMPAIGN: list[tuple[ObservableType, list[str], Tlp, str]] = [
    (ObservableType.URL, ["hxxp://evil[.]example/login/", "HTTP://EVIL.EXAMPLE:80/login"], Tlp.AMBER, "url"),
    (ObservableType.EMAIL, ["billing[@]evil[.]example", "Billing@Evil.Example"], Tlp.GREEN, "email-src"),
    (ObservableType.DOMAIN, ["evil[.]example", "EVIL.example"], Tlp.CLEAR, "domain"),
    (ObservableType.IPV4, ["192[.]0[.]2[.]10", "192.0.2.10"], Tlp.AMBER_STRICT, "ip-dst"),
    (ObservableType.SHA256, ["AB" * 32, "ab" * 32], Tlp.RED, "sha256"),
    (ObservableType.MD5, ["CD" * 16, "cd" * 16], Tlp.AMBER, "md5"),
]


def _bundle_json() -> str:
    """The bundle of a campaign of every observable type: reported twice, flagged, acknowledged."""
    exchange = CyberExchange(MEMBERS, EPOCH)
    t = 0.0
    for kind, forms, tlp, _ in CAMPAIGN:
        for member, form in zip(MEMBERS, forms, strict=False):
            t += 1
            key = exchange.receive(t, report(member, kind, form, t - 0.5, tlp)).key
        mitigation = exchange.flag(key, t + 1)
        for member in sorted(mitigation.recipients):
            exchange.acknowledge(key, member, t + 2)
    return str(exchange.bundle().serialize(pretty=True))


def test_bundle_parses_back() -> None:
    """stix2 parses the bundle back (no custom content) with every object and type it holds."""
    text = _bundle_json()
    bundle = stix2.parse(text, allow_custom=False)
    types = {o.type for o in bundle.objects}
    assert types == {
        "identity",
        "marking-definition",
        "attack-pattern",
        "indicator",
        "relationship",
        "sighting",
        "course-of-action",
    }
    assert len([o for o in bundle.objects if o.type == "indicator"]) == len(CAMPAIGN)
    assert json.loads(bundle.serialize()) == json.loads(text)


def test_bundle_passes_the_stix_validator() -> None:
    """OASIS's stix2-validator, default options, finds no errors (warnings, e.g. UUIDv5 ids, are allowed)."""
    results = validate_string(_bundle_json(), ValidationOptions())
    assert [str(e) for e in results.errors] == []
    assert results.is_valid
    # Only the expected warnings: UUIDv5 ids (deterministic on purpose) and ATT&CK links without a hash.
    assert {str(w).split("{")[1][:3] for w in results.warnings} <= {"103", "302"}


def _misp_event(text: str) -> Any:
    parser = ExternalSTIX2toMISPParser()
    parser.load_stix_bundle(stix2.parse(text, allow_custom=False))
    parser.parse_stix_bundle()
    return parser.misp_event


def test_bundle_converts_to_typed_misp_attributes() -> None:
    """misp-stix makes each indicator a typed MISP attribute (never a raw stix2-pattern) with its TLP tag."""
    event = _misp_event(_bundle_json())
    by_type = {a.type: a for a in event.attributes}
    assert set(by_type) == {expected for _, _, _, expected in CAMPAIGN}
    assert "stix2-pattern" not in by_type
    assert by_type["url"].value == "http://evil.example/login"
    assert by_type["email-src"].value == "billing@evil.example"
    assert by_type["ip-dst"].value == "192.0.2.10"
    assert by_type["sha256"].value == "ab" * 32
    for _, _, tlp, misp_type in CAMPAIGN:
        assert f"tlp:{tlp.value}" in {t.name for t in by_type[misp_type].tags}
