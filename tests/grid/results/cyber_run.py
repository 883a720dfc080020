"""Test helper: what a run's cyber exchange leaves behind, from a real exchange driven through a campaign.

The phishing campaign of the bundled scenario in small: a URL seen by 5 members in 5 noisy forms,
a sender address seen by 2, a domain and a file hash by 1 each; every indicator flagged by the
Joint Cyber Centre and acknowledged by every member entitled to its mitigation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grid.cyber.exchange import CyberExchange
from grid.cyber.markings import Tlp
from grid.results.cyber_export import OBJECTS_FILE
from grid.world.events import ObservableType
from tests.grid.cyber.cyber_reports import EPOCH, MEMBERS, report

URL_FORMS = [
    "http://evil.example/login?a=1&b=2",
    "HTTP://EVIL.EXAMPLE/login?a=1&b=2",
    "http://evil.example/login/?b=2&a=1",
    "http://evil.example:80/login?a=1&b=2",
    "hxxp://evil[.]example/login?a=1&b=2",
]
HASH = "ab" * 32

# (type, TLP, [(member, form)]): in report order.
CAMPAIGN: list[tuple[ObservableType, Tlp, list[tuple[str, str]]]] = [
    (ObservableType.URL, Tlp.AMBER, list(zip(MEMBERS, URL_FORMS, strict=True))),
    (ObservableType.EMAIL, Tlp.GREEN, [("BG", "billing[@]evil[.]example"), ("HU", "Billing@Evil.Example")]),
    (ObservableType.DOMAIN, Tlp.CLEAR, [("PL", "EVIL.example")]),
    (ObservableType.SHA256, Tlp.RED, [("SK", HASH.upper())]),
]


def driven_exchange() -> CyberExchange:
    """The exchange after the campaign: reports 10 s apart, each received 1 s after it was observed."""
    exchange = CyberExchange(MEMBERS, EPOCH)
    t = 0.0
    for kind, tlp, sightings in CAMPAIGN:
        key = ""
        for member, form in sightings:
            t += 10
            key = exchange.receive(t + 1, report(member, kind, form, t, tlp)).key
        mitigation = exchange.flag(key, t + 3)
        for i, member in enumerate(sorted(mitigation.recipients & set(MEMBERS))):
            exchange.acknowledge(key, member, t + 4 + i)
    return exchange


def campaign_objects() -> list[dict[str, Any]]:
    """The objects the run writes to ``cyber-objects.json``: the exchange's bundle's, as JSON objects."""
    objects: list[dict[str, Any]] = json.loads(driven_exchange().bundle().serialize())["objects"]
    return objects


def write_objects(run_dir: Path, objects: Any) -> Path:
    """Write ``objects`` as the run's objects file (any JSON value, to break it in tests)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / OBJECTS_FILE
    path.write_text(json.dumps(objects, indent=1), encoding="utf-8")
    return path


def cyber_section(**extra: Any) -> dict[str, Any]:
    """The summary's ``cyber`` section of the campaign: the exchange's metrics, plus ``extra``."""
    return driven_exchange().metrics() | extra
