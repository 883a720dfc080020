"""Tests of the scenario event schema in :mod:`grid.world.events` and its validation against the roster."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grid.errors import ScenarioError
from grid.world.events import (
    BrokerOutage,
    CyberCampaign,
    Forgery,
    ForgeryForm,
    Jamming,
    LinkImpairment,
    NodeOutage,
    ObservableType,
    ReportForm,
    SensorFailure,
    Spoofing,
    Tlp,
    check_observable,
)
from grid.world.roster import Roster, SensorKind
from grid.world.scenario import load_scenario, scenario_from_dict

SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# Line numbers below refer to this text (1-based).
BASE = f"""\
name: events
duration_s: 100
threats:
  - id: a
    speed_mps: 50
    altitude_m: 300
    path: [[44.0, 28.0], [44.1, 28.1]]
events:
  - kind: node_outage
    at_s: 10
    duration_s: 20
    node: RO
  - kind: link_impairment
    at_s: 0
    node: BG
    loss: 0.2
  - kind: sensor_failure
    at_s: 5
    sensor: RO-RAD-CAPE-MIDIA
  - kind: cyber_campaign
    at_s: 0
    name: phish
    observables:
      - type: url
        value: https://bad.example.com/x
        observed_by: [{{node: RO, at_s: 10}}]
      - type: email
        value: a.b@example.org
        observed_by: [{{node: BG, at_s: 20}}]
      - type: sha256
        value: {SHA256}
        observed_by: [{{node: PL, at_s: 30}}]
"""


def write(tmp_path: Path, text: str) -> Path:
    """Write ``text`` as a scenario file and return its path."""
    path = tmp_path / "events.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_base_loads_with_every_field(tmp_path: Path, roster: Roster) -> None:
    """The base text loads against the roster into typed events with their defaults."""
    s = load_scenario(write(tmp_path, BASE), roster=roster)
    outage, link, failure, campaign = s.events
    assert isinstance(outage, NodeOutage)
    assert (outage.node, outage.at_s, outage.end_s) == ("RO", 10.0, 30.0)
    assert isinstance(link, LinkImpairment)
    assert (link.loss, link.latency_ms, link.bandwidth_kbps, link.end_s) == (0.2, 0.0, None, float("inf"))
    assert isinstance(failure, SensorFailure)
    assert failure.sensor == "RO-RAD-CAPE-MIDIA"
    assert isinstance(campaign, CyberCampaign)
    assert [o.type for o in campaign.observables] == [
        ObservableType.URL,
        ObservableType.EMAIL,
        ObservableType.SHA256,
    ]
    assert campaign.observables[2].observed_by[0].node == "PL"
    assert (campaign.tlp, campaign.observables[0].tlp, campaign.observables[0].confidence) == (
        Tlp.AMBER,
        None,
        70,
    )
    assert campaign.observables[0].observed_by[0].form is ReportForm.EXACT
    assert scenario_from_dict(s.to_dict()) == s


def test_event_defaults_and_activity() -> None:
    """Jamming defaults, a broker outage's required duration, and the in-force interval."""
    jam = Jamming(kind="jamming", at_s=5.0, duration_s=10.0, center=(44.0, 28.0), radius_m=1_000.0)
    assert jam.affects == [SensorKind.RADAR, SensorKind.AEW, SensorKind.RF_DF]
    assert (jam.pd_factor, jam.noise_factor) == (0.3, 3.0)
    assert [jam.active(t) for t in (4.99, 5.0, 14.99, 15.0)] == [False, True, True, False]
    outage = BrokerOutage(kind="broker_outage", at_s=1.0, duration_s=2.0)
    assert outage.end_s == 3.0


EXTRA_AT = 33  # the line of an event appended to BASE


@pytest.mark.parametrize(
    ("old", "new", "field", "line", "words"),
    [
        (
            "  - kind: sensor_failure\n",
            "  - kind: sensor_explosion\n",
            "events[2].kind",
            17,
            ["unknown event kind 'sensor_explosion'", "expected one of", "sensor_failure"],
        ),
        (
            "  - kind: node_outage\n    at_s: 10\n",
            "  - at_s: 10\n",
            "events[0].kind",
            9,
            ["missing", "node_outage"],
        ),
        (
            "    node: RO\n",
            "    node: XX\n",
            "events[0].node",
            12,
            ["unknown node id 'XX'", "expected one of: BG"],
        ),
        (
            "sensor: RO-RAD-CAPE-MIDIA",
            "sensor: RO-RAD-CAPE-MIDIAA",
            "events[2].sensor",
            19,
            ["unknown sensor id 'RO-RAD-CAPE-MIDIAA'", "did you mean 'RO-RAD-CAPE-MIDIA'"],
        ),
        ("    at_s: 5\n", "    at_s: 150\n", "events[2].at_s", 18, ["150", "not before duration_s 100"]),
        (
            "    duration_s: 20\n",
            "    duration_s: 95\n",
            "events[0].duration_s",
            11,
            ["95", "expected at most 90"],
        ),
        ("loss: 0.2", "loss: -0.1", "events[1].loss", 16, ["greater than or equal to 0", "-0.1"]),
        ("loss: 0.2", "loss: 1.5", "events[1].loss", 16, ["less than or equal to 1", "1.5"]),
        (
            "loss: 0.2",
            "loss: 0",
            "events[1].latency_ms",
            13,
            ["no impairment given", "expected one of latency_ms"],
        ),
        (
            "    loss: 0.2\n",
            "    loss: 0.2\n    colour: red\n",
            "events[1].colour",
            17,
            ["unknown key", "'colour'"],
        ),
        (
            "https://bad.example.com/x",
            "hxxp://bad.example.com/x",
            "events[3].observables[0].value",
            25,
            ["'hxxp://bad.example.com/x' is not a valid url", "expected an http, https or ftp URL"],
        ),
        (
            "a.b@example.org",
            "a.b.example.org",
            "events[3].observables[1].value",
            28,
            ["'a.b.example.org' is not a valid email", "expected an address local@domain"],
        ),
        (
            SHA256,
            SHA256[:-1],
            "events[3].observables[2].value",
            31,
            [f"{SHA256[:-1]!r} is not a valid sha256", "expected 64 hexadecimal digits"],
        ),
        ("type: sha256", "type: sha512", "events[3].observables[2].type", 30, ["'sha512'", "'md5'"]),
        (
            "{node: BG, at_s: 20}",
            "{node: ZZ, at_s: 20}",
            "events[3].observables[1].observed_by[0].node",
            29,
            ["unknown node id 'ZZ'", "expected one of"],
        ),
        (
            "{node: PL, at_s: 30}",
            "{node: PL, at_s: 130}",
            "events[3].observables[2].observed_by[0].at_s",
            32,
            ["130", "outside the campaign", "expected from at_s 0 to 100"],
        ),
        (
            "{node: PL, at_s: 30}",
            "{node: PL, at_s: 30, form: defanged}",
            "events[3].observables[2].observed_by[0].form",
            32,
            ["'defanged' does not apply to the sha256", "expected one of: exact, upper, mixed"],
        ),
        (
            "    name: phish\n",
            "    name: phish\n    tlp: purple\n",
            "events[3].tlp",
            23,
            ["'purple'", "'amber'"],
        ),
        (
            BASE,
            BASE + "  - {kind: jamming, at_s: 0, center: [44.0, 28.0], radius_m: 1000,"
            " affects: [radar, acoustic]}\n",
            "events[4].affects[1]",
            EXTRA_AT,
            ["acoustic arrays cannot be jammed", "expected radar, aew or rf_df"],
        ),
        (
            BASE,
            BASE + "  - {kind: jamming, at_s: 0, center: [44.0, 28.0], radius_m: 0}\n",
            "events[4].radius_m",
            EXTRA_AT,
            ["greater than 0", "got 0"],
        ),
        (
            BASE,
            BASE + "  - {kind: broker_outage, at_s: 10}\n",
            "events[4].duration_s",
            EXTRA_AT,
            ["missing"],
        ),
        (
            BASE,
            BASE + "  - {kind: broker_outage, at_s: 10, duration_s: 5}\n"
            "  - {kind: broker_outage, at_s: 12, duration_s: 5}\n",
            "events[5].at_s",
            EXTRA_AT + 1,
            ["12", "during another broker outage"],
        ),
        (
            BASE,
            BASE + "  - {kind: spoofing, at_s: 0, node: HU,"
            " phantom: {id: a, speed_mps: 9, altitude_m: 9, path: [[1, 2], [2, 3]]}}\n",
            "events[4].phantom.id",
            EXTRA_AT,
            ["'a' is a threat id", "expected a new id"],
        ),
        (
            BASE,
            BASE + "  - {kind: spoofing, at_s: 0, node: HU,"
            " phantom: {id: g, altitude_m: 9, path: [[1, 2], [2, 3]]}}\n",
            "events[4].phantom.speed_mps",
            EXTRA_AT,
            ["missing"],
        ),
    ],
    ids=[
        "unknown-kind",
        "missing-kind",
        "unknown-node",
        "unknown-sensor",
        "at-beyond-duration",
        "ends-after-duration",
        "negative-loss",
        "loss-above-one",
        "no-impairment",
        "unknown-key-in-event",
        "bad-url",
        "bad-email",
        "bad-hash",
        "unknown-observable-type",
        "unknown-cert-node",
        "sighting-after-end",
        "form-not-for-type",
        "unknown-tlp",
        "jam-acoustic",
        "jam-radius-zero",
        "broker-outage-without-duration",
        "overlapping-broker-outages",
        "phantom-reuses-threat-id",
        "phantom-without-speed",
    ],
)
def test_broken_event(  # noqa: PLR0917
    tmp_path: Path, roster: Roster, old: str, new: str, field: str, line: int, words: list[str]
) -> None:
    """Each broken event names the file, the line, the field path, the bad value and what was expected."""
    assert old in BASE
    path = write(tmp_path, BASE.replace(old, new))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, roster=roster)
    err = info.value
    assert (err.file, err.field, err.line) == (str(path), field, line)
    for word in words:
        assert word in err.problem
    assert str(err).startswith(f"{path}:{line}: {field}: ")


def test_roster_checks_only_with_a_roster(tmp_path: Path) -> None:
    """Without a roster, unknown node ids pass the schema; the roster check is separate."""
    s = load_scenario(write(tmp_path, BASE.replace("    node: RO\n", "    node: XX\n")))
    assert isinstance(s.events[0], NodeOutage)
    assert s.events[0].node == "XX"


def test_spoofing_phantom_uses_the_path_language(tmp_path: Path, roster: Roster) -> None:
    """A spoofing phantom takes waypoints with per-leg values and defaults for RCS and RF."""
    text = BASE + (
        "  - kind: spoofing\n    at_s: 10\n    node: HU\n"
        "    phantom:\n      id: ghost\n"
        "      path: [{lat: 44.0, lon: 29.0, speed_mps: 80, alt_m: 500}, [44.1, 29.1]]\n"
    )
    event = load_scenario(write(tmp_path, text), roster=roster).events[4]
    assert isinstance(event, Spoofing)
    assert (event.node, event.phantom.id, event.phantom.rcs_m2, event.phantom.emits_rf) == (
        "HU",
        "ghost",
        1.0,
        True,
    )


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (ObservableType.URL, "https://example.org"),
        (ObservableType.URL, "http://login.example.co.uk:8080/a?b=c#d"),
        (ObservableType.URL, "ftp://192.0.2.1/file.bin"),
        (ObservableType.EMAIL, "first.last+tag@mail.example.org"),
        (ObservableType.DOMAIN, "xn--80ak6aa92e.example.com"),
        (ObservableType.DOMAIN, "example.org."),
        (ObservableType.IPV4, "198.51.100.7"),
        (ObservableType.SHA256, SHA256.upper()),
        (ObservableType.MD5, "d41d8cd98f00b204e9800998ecf8427e"),
    ],
)
def test_valid_observables(kind: ObservableType, value: str) -> None:
    """Well-formed observables of each type pass."""
    assert check_observable(kind, value) is None


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (ObservableType.URL, "example.org/login"),
        (ObservableType.URL, "javascript:alert(1)"),
        (ObservableType.URL, "https://"),
        (ObservableType.URL, "https://exa mple.org/"),
        (ObservableType.URL, "https://example.org:99999/"),
        (ObservableType.EMAIL, "@example.org"),
        (ObservableType.EMAIL, "a..b@example.org"),
        (ObservableType.EMAIL, "a@localhost"),
        (ObservableType.DOMAIN, "localhost"),
        (ObservableType.DOMAIN, "-bad.example.org"),
        (ObservableType.DOMAIN, "a.123"),
        (ObservableType.DOMAIN, ("a" * 64) + ".org"),
        (ObservableType.IPV4, "256.1.1.1"),
        (ObservableType.IPV4, "10.0.0"),
        (ObservableType.MD5, "d41d8cd98f00b204e9800998ecf8427"),
        (ObservableType.MD5, "g41d8cd98f00b204e9800998ecf8427e"),
    ],
)
def test_invalid_observables(kind: ObservableType, value: str) -> None:
    """Malformed observables are refused with what was expected."""
    expected = check_observable(kind, value)
    assert expected is not None
    assert expected


@given(st.text(alphabet="0123456789abcdefABCDEF", min_size=64, max_size=64))
def test_any_64_hex_digits_are_a_sha256(value: str) -> None:
    """Exactly 64 hex digits are a valid sha256, and not a valid md5."""
    assert check_observable(ObservableType.SHA256, value) is None
    assert check_observable(ObservableType.MD5, value) is not None


@given(st.text(min_size=32, max_size=32).filter(lambda s: any(c not in "0123456789abcdefABCDEF" for c in s)))
def test_non_hex_is_never_a_hash(value: str) -> None:
    """A 32-character string with a non-hex character is not an md5."""
    assert check_observable(ObservableType.MD5, value) is not None


FORGERY = (
    "  - kind: forgery\n"
    "    at_s: 10\n"
    "    as_node: FR\n"
    "    phantom: {id: ghost, speed_mps: 60, altitude_m: 400, path: [[43.6, 29.2], [43.75, 28.95]]}\n"
)


def test_forgery_defaults(tmp_path: Path, roster: Roster) -> None:
    """A forgery sends one message a second, round every form, for the rest of the run."""
    event = load_scenario(write(tmp_path, BASE + FORGERY), roster=roster).events[4]
    assert isinstance(event, Forgery)
    assert (event.as_node, event.phantom.id, event.rate_hz, event.end_s) == ("FR", "ghost", 1.0, math.inf)
    assert event.forms == list(ForgeryForm)
    assert [f.value for f in event.forms] == ["unsigned", "foreign_key", "wrong_signer", "replayed", "stale"]


@pytest.mark.parametrize(
    ("old", "new", "field", "line", "words"),
    [
        ("as_node: FR", "as_node: XX", "events[4].as_node", EXTRA_AT + 2, ["unknown node id 'XX'", "FR"]),
        ("    as_node: FR\n", "", "events[4].as_node", EXTRA_AT, ["missing"]),
        (
            "as_node: FR\n",
            "as_node: FR\n    rate_hz: 0\n",
            "events[4].rate_hz",
            EXTRA_AT + 3,
            ["greater than 0"],
        ),
        ("as_node: FR\n", "as_node: FR\n    rate_hz: 50\n", "events[4].rate_hz", EXTRA_AT + 3, ["20"]),
        (
            "as_node: FR\n",
            "as_node: FR\n    forms: [unsigned, forged]\n",
            "events[4].forms[1]",
            EXTRA_AT + 3,
            ["'forged'", "foreign_key"],
        ),
        ("as_node: FR\n", "as_node: FR\n    forms: []\n", "events[4].forms", EXTRA_AT + 3, ["at least 1"]),
        (
            "as_node: FR\n",
            "as_node: FR\n    forms: [stale, unsigned, stale]\n",
            "events[4].forms[2]",
            EXTRA_AT + 3,
            ["'stale' is given twice"],
        ),
        ("id: ghost", "id: a", "events[4].phantom.id", EXTRA_AT + 3, ["'a' is a threat id"]),
        ("speed_mps: 60, ", "", "events[4].phantom.speed_mps", EXTRA_AT + 3, ["missing"]),
        ("as_node: FR\n", "as_node: FR\n    node: FR\n", "events[4].node", EXTRA_AT + 3, ["unknown"]),
        ("at_s: 10\n", "at_s: 100\n", "events[4].at_s", EXTRA_AT + 1, ["not before duration_s"]),
    ],
    ids=[
        "unknown-node",
        "missing-node",
        "rate-zero",
        "rate-too-high",
        "unknown-form",
        "no-forms",
        "form-twice",
        "phantom-reuses-threat-id",
        "phantom-without-speed",
        "unknown-key",
        "at-beyond-duration",
    ],
)
def test_broken_forgery(  # noqa: PLR0917
    tmp_path: Path, roster: Roster, old: str, new: str, field: str, line: int, words: list[str]
) -> None:
    """Each broken forgery names the file, the line, the field and what was expected."""
    assert old in FORGERY
    path = write(tmp_path, BASE + FORGERY.replace(old, new))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, roster=roster)
    err = info.value
    assert (err.file, err.field, err.line) == (str(path), field, line)
    for word in words:
        assert word in err.problem, err.problem
    assert str(err).startswith(f"{path}:{line}: {field}: ")


def test_phantoms_need_ids_of_their_own(tmp_path: Path, roster: Roster) -> None:
    """A forgery's phantom may not reuse a spoofing event's phantom id."""
    spoof = (
        "  - {kind: spoofing, at_s: 0, node: RO,"
        " phantom: {id: ghost, speed_mps: 9, altitude_m: 9, path: [[1, 2], [2, 3]]}}\n"
    )
    path = write(tmp_path, BASE + spoof + FORGERY)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, roster=roster)
    assert (info.value.field, info.value.line) == ("events[5].phantom.id", EXTRA_AT + 1 + 3)
    assert "another event's phantom" in info.value.problem
