"""Test helper: members' CERT reports as a node would publish them (STIX indicators as JSON)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from grid.cyber.markings import Tlp
from grid.cyber.observables import observable_key
from grid.cyber.stix import indicator, member_identity, sim_time
from grid.world.events import ObservableType

EPOCH = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
MEMBERS = ("RO", "BG", "PL", "HU", "SK")

_PATHS = {
    ObservableType.URL: "url:value",
    ObservableType.EMAIL: "email-addr:value",
    ObservableType.DOMAIN: "domain-name:value",
    ObservableType.IPV4: "ipv4-addr:value",
    ObservableType.SHA256: "file:hashes.'SHA-256'",
    ObservableType.MD5: "file:hashes.MD5",
}


def report_pattern(kind: ObservableType, raw: str) -> str:
    """The pattern a CERT writes for ``raw``: the value as it saw it, noise kept."""
    escaped = raw.replace("\\", "\\\\").replace("'", "\\'")
    return f"[{_PATHS[kind]} = '{escaped}']"


def report(
    member: str, kind: ObservableType, raw: str, at_s: float, tlp: Tlp = Tlp.AMBER, *, confidence: int = 70
) -> str:
    """``member``'s indicator of ``raw`` observed at ``at_s``, as JSON text."""
    obj = indicator(
        observable_key(kind, raw),
        creator=member_identity(member).id,
        tlp=tlp,
        at=sim_time(EPOCH, at_s),
        confidence=confidence,
        pattern=report_pattern(kind, raw),
    )
    return str(obj.serialize())


def report_dict(
    member: str, kind: ObservableType, raw: str, at_s: float, tlp: Tlp = Tlp.AMBER
) -> dict[str, Any]:
    """The same report as a mutable JSON object (to break it in tests)."""
    data: dict[str, Any] = json.loads(report(member, kind, raw, at_s, tlp))
    return data
