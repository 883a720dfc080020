"""Tests of the CERT observation schedule in :mod:`grid.world.cert` and the report forms it writes."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grid.errors import ScenarioError
from grid.world.cert import cert_observations, cert_observations_for, report_as
from grid.world.events import ObservableType, ReportForm, Tlp, check_observable, report_forms
from grid.world.roster import Roster
from grid.world.scenario import Scenario, load_scenario, scenario_from_dict

REPO = Path(__file__).resolve().parents[3]
SHA256 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
URL = "https://evil.example/x"
T = ObservableType
F = ReportForm


def scenario(observables: list[dict[str, Any]], *, seed: int = 0, tlp: str | None = None) -> Scenario:
    """A scenario with one cyber campaign of ``observables``."""
    campaign: dict[str, Any] = {
        "kind": "cyber_campaign",
        "at_s": 0,
        "name": "phish",
        "observables": observables,
    }
    if tlp is not None:
        campaign["tlp"] = tlp
    return scenario_from_dict(
        {
            "name": "cert",
            "duration_s": 100,
            "seed": seed,
            "threats": [
                {"id": "a", "speed_mps": 50, "altitude_m": 300, "path": [[44.0, 28.0], [44.1, 28.1]]}
            ],
            "events": [campaign],
        }
    )


@pytest.mark.parametrize(
    ("kind", "value", "form", "reported"),
    [
        (T.URL, URL, F.EXACT, URL),
        (T.URL, URL, F.UPPER, "HTTPS://EVIL.EXAMPLE/x"),
        (T.URL, URL, F.TRAILING_SLASH, "https://evil.example/x/"),
        (T.URL, URL, F.DEFAULT_PORT, "https://evil.example:443/x"),
        (T.URL, URL, F.DEFANGED, "hxxps://evil[.]example/x"),
        (T.URL, "http://evil.example/x.php", F.DEFANGED, "hxxp://evil[.]example/x.php"),
        (T.URL, "http://evil.example", F.DEFAULT_PORT, "http://evil.example:80"),
        (T.URL, "http://evil.example", F.TRAILING_SLASH, "http://evil.example/"),
        (T.URL, "http://evil.example/a?q=1#f", F.TRAILING_SLASH, "http://evil.example/a/?q=1#f"),
        (T.URL, "ftp://u@192.0.2.1/f.bin", F.UPPER, "FTP://u@192.0.2.1/f.bin"),
        (T.URL, "ftp://u@192.0.2.1/f.bin", F.DEFAULT_PORT, "ftp://u@192.0.2.1:21/f.bin"),
        (T.URL, "ftp://u@192.0.2.1/f.bin", F.DEFANGED, "fxp://u@192[.]0[.]2[.]1/f.bin"),
        (T.URL, "https://Mail.Example.org:8443/Login", F.UPPER, "HTTPS://MAIL.EXAMPLE.ORG:8443/Login"),
        (T.EMAIL, "billing@example.com", F.EXACT, "billing@example.com"),
        (T.EMAIL, "billing@example.com", F.UPPER, "BILLING@EXAMPLE.COM"),
        (T.EMAIL, "a.b@mail.example.com", F.DEFANGED, "a.b[@]mail[.]example[.]com"),
        (T.DOMAIN, "evil.example", F.EXACT, "evil.example"),
        (T.DOMAIN, "evil.example", F.UPPER, "EVIL.EXAMPLE"),
        (T.DOMAIN, "mail.evil.example", F.DEFANGED, "mail[.]evil[.]example"),
        (T.IPV4, "192.0.2.10", F.EXACT, "192.0.2.10"),
        (T.IPV4, "192.0.2.10", F.DEFANGED, "192.0.2[.]10"),
        (T.SHA256, SHA256, F.EXACT, SHA256),
        (T.SHA256, SHA256, F.UPPER, SHA256.upper()),
        (T.MD5, MD5, F.EXACT, MD5),
        (T.MD5, MD5, F.UPPER, MD5.upper()),
    ],
)
def test_each_form_of_each_type(kind: ObservableType, value: str, form: ReportForm, reported: str) -> None:
    """Each form writes the value as a CERT would: case, slash, port or defanging, nothing else."""
    assert report_as(kind, value, form) == reported


@pytest.mark.parametrize(
    ("kind", "value", "forms"),
    [
        (T.URL, URL, [F.EXACT, F.UPPER, F.TRAILING_SLASH, F.DEFAULT_PORT, F.DEFANGED, F.MIXED]),
        (T.URL, "https://evil.example/", [F.EXACT, F.UPPER, F.DEFAULT_PORT, F.DEFANGED, F.MIXED]),
        (T.URL, "https://evil.example:8443/x", [F.EXACT, F.UPPER, F.TRAILING_SLASH, F.DEFANGED, F.MIXED]),
        (T.EMAIL, "a@evil.example", [F.EXACT, F.UPPER, F.DEFANGED, F.MIXED]),
        (T.DOMAIN, "evil.example", [F.EXACT, F.UPPER, F.DEFANGED, F.MIXED]),
        (T.IPV4, "192.0.2.10", [F.EXACT, F.DEFANGED, F.MIXED]),
        (T.SHA256, SHA256, [F.EXACT, F.UPPER, F.MIXED]),
        (T.MD5, MD5, [F.EXACT, F.UPPER, F.MIXED]),
    ],
)
def test_forms_valid_for_each_value(kind: ObservableType, value: str, forms: list[ReportForm]) -> None:
    """Which forms apply: URL-only forms for URLs, no case for IPv4, no defanging for hashes."""
    assert list(report_forms(kind, value)) == forms


@pytest.mark.parametrize(
    ("kind", "value", "form"),
    [
        ("domain", "evil.example", "trailing_slash"),
        ("email", "a@evil.example", "default_port"),
        ("ipv4", "192.0.2.10", "upper"),
        ("sha256", SHA256, "defanged"),
        ("md5", MD5, "trailing_slash"),
        ("url", "https://evil.example/", "trailing_slash"),
        ("url", "https://evil.example:8443/x", "default_port"),
    ],
)
def test_invalid_form_for_the_value_is_a_scenario_error(kind: str, value: str, form: str) -> None:
    """A form that does not apply names the sighting's field path, the form and the forms that do."""
    sightings = [{"node": "RO", "at_s": 1}, {"node": "BG", "at_s": 2, "form": form}]
    with pytest.raises(ScenarioError) as info:
        scenario([{"type": kind, "value": value, "observed_by": sightings}])
    err = info.value
    assert err.field == "events[0].observables[0].observed_by[1].form"
    assert f"{form!r} does not apply to the {kind}" in err.problem
    assert "expected one of: exact" in err.problem


def test_every_bad_form_is_reported() -> None:
    """Two bad sightings of one observable give two problems, each with its own path."""
    sightings = [
        {"node": "RO", "at_s": 1, "form": "upper"},
        {"node": "BG", "at_s": 2, "form": "default_port"},
    ]
    with pytest.raises(ScenarioError) as info:
        scenario([{"type": "ipv4", "value": "192.0.2.10", "observed_by": sightings}])
    assert [p.field for p in info.value.problems] == [
        "events[0].observables[0].observed_by[0].form",
        "events[0].observables[0].observed_by[1].form",
    ]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"form": "sideways"}, "events[0].observables[0].observed_by[0].form", ["'exact'", "'mixed'"]),
        ({"colour": "red"}, "events[0].observables[0].observed_by[0].colour", ["unknown key 'colour'"]),
    ],
)
def test_unknown_form_or_key_in_a_sighting(change: dict[str, str], field: str, words: list[str]) -> None:
    """A form outside the list, or a key the format does not know, is refused (strict schema)."""
    with pytest.raises(ScenarioError) as info:
        scenario([{"type": "url", "value": URL, "observed_by": [{"node": "RO", "at_s": 1, **change}]}])
    assert info.value.field == field
    for word in words:
        assert word in info.value.problem


@pytest.mark.parametrize(
    ("where", "change", "field"),
    [
        ("observable", {"tlp": "white"}, "events[0].observables[0].tlp"),
        ("observable", {"confidence": 101}, "events[0].observables[0].confidence"),
        ("observable", {"confidence": -1}, "events[0].observables[0].confidence"),
        ("campaign", {"tlp": "purple"}, "events[0].tlp"),
    ],
)
def test_bad_tlp_or_confidence(where: str, change: dict[str, Any], field: str) -> None:
    """TLP is clear, green, amber or red; confidence is 0..100."""
    data = scenario([{"type": "url", "value": URL, "observed_by": [{"node": "RO", "at_s": 1}]}]).to_dict()
    target = data["events"][0] if where == "campaign" else data["events"][0]["observables"][0]
    target.update(change)
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data)
    assert info.value.field == field


def test_tlp_confidence_and_defaults() -> None:
    """The campaign's TLP (default amber) applies unless an observable sets its own; confidence 70."""
    obs: list[dict[str, Any]] = [
        {"type": "url", "value": URL, "observed_by": [{"node": "RO", "at_s": 1}]},
        {
            "type": "sha256",
            "value": SHA256,
            "tlp": "red",
            "confidence": 95,
            "observed_by": [{"node": "RO", "at_s": 2}],
        },
    ]
    default, green = scenario(obs), scenario(obs, tlp="green")
    assert [(o.tlp, o.confidence) for o in cert_observations(default)] == [(Tlp.AMBER, 70), (Tlp.RED, 95)]
    assert [o.tlp for o in cert_observations(green)] == [Tlp.GREEN, Tlp.RED]
    assert scenario_from_dict(green.to_dict()) == green


def test_sorted_by_time_node_and_index_and_filtered_by_node() -> None:
    """Observations come by (at_s, node, observable index), ties in scenario order; per node, filtered."""
    s = scenario(
        [
            {
                "type": "url",
                "value": URL,
                "observed_by": [{"node": "RO", "at_s": 30}, {"node": "BG", "at_s": 10}],
            },
            {
                "type": "domain",
                "value": "evil.example",
                "observed_by": [{"node": "BG", "at_s": 10}, {"node": "AA", "at_s": 10, "form": "upper"}],
            },
            {"type": "ipv4", "value": "192.0.2.10", "observed_by": [{"node": "BG", "at_s": 5}]},
        ]
    )
    got = [(o.at_s, o.node, o.observable_index, o.reported) for o in cert_observations(s)]
    assert got == [
        (5.0, "BG", 2, "192.0.2.10"),
        (10.0, "AA", 1, "EVIL.EXAMPLE"),
        (10.0, "BG", 0, URL),
        (10.0, "BG", 1, "evil.example"),
        (30.0, "RO", 0, URL),
    ]
    assert [(o.at_s, o.observable_index) for o in cert_observations_for(s, "BG")] == [
        (5.0, 2),
        (10.0, 0),
        (10.0, 1),
    ]
    assert cert_observations_for(s, "ZZ") == []


NODES = [f"N{i:02d}" for i in range(24)]


def mixed_scenario(seed: int) -> Scenario:
    """Every node reports a URL and a hash in the ``mixed`` form."""
    sightings = [{"node": n, "at_s": 1, "form": "mixed"} for n in NODES]
    return scenario(
        [
            {"type": "url", "value": URL, "observed_by": sightings},
            {"type": "sha256", "value": SHA256, "observed_by": sightings},
        ],
        seed=seed,
    )


def test_mixed_is_a_deterministic_draw_among_valid_forms() -> None:
    """``mixed`` resolves to a concrete valid form, the same for the same seed, and covers every form."""
    first, again, other = (cert_observations(mixed_scenario(seed)) for seed in (7, 7, 8))
    assert first == again
    assert [o.form for o in first] != [o.form for o in other]
    for o in first:
        assert o.form is not F.MIXED
        assert o.form in report_forms(o.kind, o.value)
        assert o.reported == report_as(o.kind, o.value, o.form)
    url_forms = {o.form for o in first if o.kind is T.URL}
    assert url_forms == {F.EXACT, F.UPPER, F.TRAILING_SLASH, F.DEFAULT_PORT, F.DEFANGED}
    assert {o.form for o in first if o.kind is T.SHA256} == {F.EXACT, F.UPPER}


@pytest.mark.timeout(60)
def test_mixed_does_not_depend_on_python_hash_seed() -> None:
    """Two interpreters with different hash seeds draw the same ``mixed`` forms."""
    code = (
        "import json; from tests.grid.world.test_cert import mixed_scenario;"
        "from grid.world.cert import cert_observations;"
        "print(json.dumps([o.reported for o in cert_observations(mixed_scenario(7))]))"
    )
    runs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO)}
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=50,
        )
        runs.append(json.loads(out.stdout))
    assert runs[0] == runs[1] == [o.reported for o in cert_observations(mixed_scenario(7))]


def test_observation_is_frozen_and_never_mixed() -> None:
    """An observation is an immutable value; ``mixed`` must be drawn before one is made."""
    (obs,) = cert_observations(
        scenario([{"type": "url", "value": URL, "observed_by": [{"node": "RO", "at_s": 1}]}])
    )
    with pytest.raises(AttributeError):
        obs.node = "BG"  # type: ignore[misc]
    with pytest.raises(ValueError, match="mixed"):
        dataclasses.replace(obs, form=F.MIXED)
    with pytest.raises(ValueError, match="confidence"):
        dataclasses.replace(obs, confidence=101)
    with pytest.raises(ValueError, match="does not apply"):
        report_as(T.IPV4, "192.0.2.10", F.UPPER)


_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_DOMAIN = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(_LABEL, min_size=1, max_size=3),
    st.sampled_from(["com", "org", "example"]),
)


def _refang(kind: ObservableType, reported: str) -> str:
    """The test's own undoing of the noise (the hub uses iocextract and url-normalize)."""
    text = reported.replace("[.]", ".").replace("[@]", "@")
    if kind is not T.URL:
        return text.lower()
    scheme, _, rest = text.partition("://")
    scheme = {"hxxp": "http", "hxxps": "https", "fxp": "ftp"}.get(scheme.lower(), scheme.lower())
    host_end = next((i for i, c in enumerate(rest) if c in "/?#"), len(rest))
    host, path = rest[:host_end].lower(), rest[host_end:]
    for port in (":80", ":443", ":21"):
        host = host.removesuffix(port)
    return f"{scheme}://{host}{path.removesuffix('/')}"


@given(
    st.one_of(
        st.tuples(
            st.just(T.URL),
            st.builds(
                lambda s, d, p: f"{s}://{d}{p}",
                st.sampled_from(["http", "https", "ftp"]),
                _DOMAIN,
                st.sampled_from(["", "/x", "/a/b.php"]),
            ),
        ),
        st.tuples(st.just(T.EMAIL), st.builds(lambda lp, d: f"{lp}@{d}", _LABEL, _DOMAIN)),
        st.tuples(st.just(T.DOMAIN), _DOMAIN),
        st.tuples(st.just(T.IPV4), st.ip_addresses(v=4).map(str)),
        st.tuples(st.just(T.SHA256), st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)),
    )
)
def test_every_form_is_noise_a_refang_undoes(case: tuple[ObservableType, str]) -> None:
    """Each concrete form refangs and normalises back to the value; only defanged ones stop being valid."""
    kind, value = case
    assert check_observable(kind, value) is None
    for form in report_forms(kind, value):
        if form is F.MIXED:
            continue
        reported = report_as(kind, value, form)
        assert _refang(kind, reported) == _refang(kind, value)
        assert (check_observable(kind, reported) is None) == (form is not F.DEFANGED)


def test_bundled_phishing_campaign(roster: Roster) -> None:
    """The bundled campaign: the URL by five members in five forms, and every TLP rule played."""
    s = load_scenario(REPO / "scenarios" / "cyber-phishing.yaml", roster=roster)
    observations = cert_observations(s)
    url = [o for o in observations if o.kind is T.URL]
    assert len({o.node for o in url}) == 5
    assert {o.form for o in url} == {F.EXACT, F.UPPER, F.TRAILING_SLASH, F.DEFAULT_PORT, F.DEFANGED}
    assert len({o.reported for o in url}) == 5
    assert {o.kind for o in observations} == {T.URL, T.EMAIL, T.DOMAIN, T.SHA256}
    assert {o.tlp for o in observations} == {Tlp.CLEAR, Tlp.AMBER, Tlp.RED}
    assert {o.tlp for o in observations if o.kind is T.SHA256} == {Tlp.RED}
    assert {o.tlp for o in observations if o.kind is T.DOMAIN} == {Tlp.CLEAR}
    assert cert_observations(s.with_seed(99)) == observations  # no mixed forms: the seed does not matter
