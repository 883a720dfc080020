"""The bundled spoofing scenario, played against a real Mosquitto: signed, secure and unsigned.

A compromised member (RO) reports a phantom its radars see: its reports are signed with its own key,
so they pass; the summary flags the track that rests on RO's reports alone. An outsider (the
``forgery`` event, as FR) forges reports of a phantom of its own: a signed grid's receivers refuse
every one, counted by reason; a secure grid's broker refuses the outsider's connection; an unsigned
grid tracks the outsider's phantom (the control). Verdicts are counts and presence, never timings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from grid.app.run import RunOptions, run_grid
from grid.mqtt.broker import BrokerInfo
from grid.security.signing import write_signing_keys
from grid.world.roster import Roster
from grid.world.scenario import Scenario, load_scenario, scenario_from_dict

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]

SCENARIO = Path(__file__).resolve().parents[3] / "scenarios" / "spoofing.yaml"
# 70 simulated s at 5x: 14 s of wall time, several times the grid's CPU need on one loaded core.
DURATION_S, SPEED = 70.0, 5.0
# What a signed grid refuses each form as.
REASON = {
    "unsigned": "unsigned",
    "foreign_key": "bad_signature",
    "wrong_signer": "wrong_signer",
    "replayed": "replayed",
    "stale": "stale",
}


def _scenario(roster: Roster) -> Scenario:
    """The bundled file, cut short: its events have no duration_s, so they last to the new end."""
    data = load_scenario(SCENARIO, roster=roster).to_dict()
    return scenario_from_dict({**data, "duration_s": DURATION_S}, source=str(SCENARIO))


def _events(summary: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    spoofing, forgery = summary["events"]
    assert (spoofing["kind"], forgery["kind"]) == ("spoofing", "forgery")
    return spoofing, forgery


def _member_phantom_flagged(summary: dict[str, Any]) -> None:
    """The compromised member's phantom is reported and its track flagged as RO's alone."""
    spoofing, _ = _events(summary)
    assert spoofing["node"] == "RO"
    assert spoofing["phantom_reports"] > 0
    assert spoofing["uncorroborated_tracks"], spoofing
    assert spoofing["caught_by"].startswith("corroboration: track(s)")
    single = summary["tracking"]["single_source_tracks"]
    assert all(single[t] == "RO" for t in spoofing["uncorroborated_tracks"])
    (threat,) = summary["threats"]
    assert threat["track_ids"], "the real drone was tracked"
    assert not set(threat["track_ids"]) & set(single), "and its tracks were corroborated"


async def test_signed_the_outsiders_reports_are_refused_and_its_phantom_never_tracked(
    mosquitto: BrokerInfo, roster: Roster, tmp_path: Path
) -> None:
    """--sign: the broker takes the outsider's messages, the receivers refuse each, by reason."""
    write_signing_keys(tmp_path / "keys", roster)
    options = RunOptions(
        scenario=_scenario(roster),
        roster=roster,
        speed=SPEED,
        broker_url=mosquitto.url,
        out_dir=tmp_path / "run",
        sign_keys=tmp_path / "keys",
    )
    summary = await run_grid(options)
    _, forgery = _events(summary)
    outsider = forgery["outsider"]
    assert outsider["connected"]
    assert outsider["refused_by_broker"] is None
    published = outsider["published"]
    assert set(published) == set(REASON), outsider
    assert all(n > 0 for n in published.values())
    expected = {REASON[form]: n for form, n in published.items()}
    assert forgery["rejected_by_fusion"] == dict(sorted(expected.items())), "the centre refused each"
    peers = len(roster.peers("FR"))
    assert forgery["rejected_by_peers"] == {k: v * peers for k, v in sorted(expected.items())}
    assert forgery["phantom_tracked"] is False
    assert forgery["phantom_tracks"] == []
    assert forgery["caught_by"].startswith("the receivers' checks: ")
    messages = summary["messages"]
    assert messages["delivered"] == messages["published"], "nothing valid was lost"
    _member_phantom_flagged(summary)


async def test_secure_the_broker_refuses_the_outsider(roster: Roster, tmp_path: Path) -> None:
    """--secure: the outsider has no certificate of the grid's CA; the broker refuses its connection."""
    options = RunOptions(
        scenario=_scenario(roster), roster=roster, speed=SPEED, out_dir=tmp_path, secure=True, sign=True
    )
    summary = await run_grid(options)
    _, forgery = _events(summary)
    outsider = forgery["outsider"]
    assert outsider["connected"] is False
    assert outsider["refused_by_broker"]
    assert outsider["published"] == {}
    assert forgery["rejected_by_fusion"] == {}
    assert forgery["phantom_tracked"] is False
    assert forgery["caught_by"].startswith("the broker: it refused the outsider's connection")
    assert summary["messages"]["rejected"] == {}
    _member_phantom_flagged(summary)


async def test_unsigned_the_outsiders_phantom_is_tracked(
    mosquitto: BrokerInfo, roster: Roster, tmp_path: Path
) -> None:
    """The control: an unsigned grid takes the outsider's forged scans as FR's and tracks its phantom."""
    options = RunOptions(
        scenario=_scenario(roster), roster=roster, speed=SPEED, broker_url=mosquitto.url, out_dir=tmp_path
    )
    summary = await run_grid(options)
    _, forgery = _events(summary)
    published = forgery["outsider"]["published"]
    assert published["unsigned"] > 0
    assert published["stale"] > 0
    assert forgery["phantom_tracked"] is True, forgery
    assert forgery["phantom_tracks"]
    assert forgery["caught_by"].startswith("nothing: ")
    single = summary["tracking"]["single_source_tracks"]
    assert all(single.get(t) == "FR" for t in forgery["phantom_tracks"]), "its track rests on 'FR' alone"
    messages = summary["messages"]
    taken = published["unsigned"] + published["stale"]
    assert messages["delivered"] == messages["published"] + taken
    _member_phantom_flagged(summary)
