"""Tests of grid.cyber.references: malformed and badly referenced indicators are rejected by reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from grid.cyber.markings import Tlp, marking_of
from grid.cyber.references import MAX_BYTES, check_indicator
from grid.cyber.stix import HUB_IDENTITY, member_identity, parse
from grid.errors import CyberRejected
from grid.world.events import ObservableType
from tests.grid.cyber.cyber_reports import MEMBERS, report, report_dict

KNOWN = {member_identity(m).id: m for m in MEMBERS}
URL = ObservableType.URL


def test_a_good_report_passes() -> None:
    """A member's indicator, noisy value and all, passes and yields its key, creator and TLP."""
    checked = check_indicator(report("BG", URL, "hxxp://evil[.]example/login/", 3.0, Tlp.RED), KNOWN)
    assert checked.observed.value == "http://evil.example/login"
    assert (checked.creator, checked.tlp) == (member_identity("BG").id, Tlp.RED)
    assert checked.indicator.type == "indicator"


def test_a_parsed_stix_object_passes() -> None:
    """A report already parsed by stix2 is checked like its JSON."""
    checked = check_indicator(parse(report("PL", URL, "http://evil.example/", 3.0)), KNOWN)
    assert (checked.observed.value, checked.tlp) == ("http://evil.example/", Tlp.AMBER)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], object]:
    return lambda data: data.__setitem__(key, value)


# (case id, how to break a good report, expected reason)
BROKEN: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("no-type", lambda d: d.pop("type"), "invalid_stix"),
    ("bad-id", _set("id", "indicator--not-a-uuid"), "invalid_stix"),
    ("custom-property", _set("x_evil", 1), "invalid_stix"),
    ("confidence-out-of-range", _set("confidence", 101), "invalid_stix"),
    ("not-an-indicator", lambda d: d.update(type="tool"), "not_indicator"),
    ("no-marking", lambda d: d.pop("object_marking_refs"), "bad_marking"),
    (
        "marking-points-nowhere",
        _set("object_marking_refs", ["marking-definition--" + "0" * 8 + "-0000-4000-8000-" + "0" * 12]),
        "bad_marking",
    ),
    ("marking-of-wrong-type", _set("object_marking_refs", [member_identity("RO").id]), "bad_marking"),
    (
        "two-markings",
        _set("object_marking_refs", [marking_of(Tlp.RED).id, marking_of(Tlp.CLEAR).id]),
        "bad_marking",
    ),
    ("no-creator", lambda d: d.pop("created_by_ref"), "unknown_creator"),
    ("unknown-creator", _set("created_by_ref", member_identity("XX").id), "unknown_creator"),
    ("hub-as-creator", _set("created_by_ref", HUB_IDENTITY.id), "unknown_creator"),
    ("pattern-syntax", _set("pattern", "[url:value = 'http://evil.example/'"), "bad_pattern"),
    (
        "mixed-pattern",
        _set("pattern", "[url:value = 'http://a.example/' OR email-addr:value = 'b@a.example']"),
        "bad_pattern",
    ),
    ("unsupported-object", _set("pattern", "[process:name = 'evil.exe']"), "bad_pattern"),
    ("bad-value", _set("pattern", "[ipv4-addr:value = '300.0.0.1']"), "bad_observable"),
]


@pytest.mark.parametrize(("case", "breaks", "reason"), BROKEN, ids=[c for c, _, _ in BROKEN])
def test_broken_reports_are_rejected(
    case: str, breaks: Callable[[dict[str, Any]], object], reason: str
) -> None:
    """Each broken report is rejected with its own reason code, as JSON text and as a decoded object."""
    data = report_dict("RO", URL, "http://evil.example/login", 1.0)
    breaks(data)
    for raw in (json.dumps(data), data):
        with pytest.raises(CyberRejected) as info:
            check_indicator(raw, KNOWN)
        assert info.value.reason == reason, (case, info.value)


@pytest.mark.parametrize(
    ("raw", "reason"), [(b"\xff\xfe", "invalid_stix"), ("[1, 2]", "invalid_stix"), ("{", "invalid_stix")]
)
def test_not_json_objects_are_rejected(raw: str | bytes, reason: str) -> None:
    """Bytes that are not JSON, or JSON that is not an object, are invalid STIX."""
    with pytest.raises(CyberRejected) as info:
        check_indicator(raw, KNOWN)
    assert info.value.reason == reason


def test_oversized_reports_are_rejected_before_parsing() -> None:
    """A report over the size limit is refused as too_large, whatever it contains."""
    data = report_dict("RO", URL, "http://evil.example/login", 1.0)
    data["description"] = "x" * MAX_BYTES
    with pytest.raises(CyberRejected) as info:
        check_indicator(json.dumps(data).encode(), KNOWN)
    assert info.value.reason == "too_large"
    small = json.dumps(report_dict("RO", URL, "http://evil.example/login", 1.0))
    with pytest.raises(CyberRejected) as info:
        check_indicator(small, KNOWN, max_bytes=len(small) - 1)
    assert info.value.reason == "too_large"
