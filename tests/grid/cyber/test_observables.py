"""Tests of grid.cyber.observables: every noisy form of one observable has one key."""

from __future__ import annotations

import pytest

from grid.cyber.observables import observable_key
from grid.errors import CyberRejected
from grid.world.events import ObservableType

URL, EMAIL, DOMAIN, IPV4, SHA256, MD5 = (
    ObservableType.URL,
    ObservableType.EMAIL,
    ObservableType.DOMAIN,
    ObservableType.IPV4,
    ObservableType.SHA256,
    ObservableType.MD5,
)

# (type, canonical value, noisy forms as CERTs report them)
NOISY: list[tuple[ObservableType, str, list[str]]] = [
    (
        URL,
        "http://evil.example/login?a=1&b=2",
        [
            "http://evil.example/login?a=1&b=2",
            "HTTP://EVIL.EXAMPLE/login?a=1&b=2",
            "http://evil.example/login/?a=1&b=2",
            "http://evil.example:80/login?a=1&b=2",
            "hxxp://evil[.]example/login?a=1&b=2",
            "http://evil.example/login?b=2&a=1",
            "hxxp://Evil[.]Example:80/login/?b=2&a=1",
            "  http://evil.example/login?a=1&b=2 ",
        ],
    ),
    (
        URL,
        "https://evil.example/",
        ["https://evil.example", "https://evil.example:443/", "hxxps://evil[.]example/"],
    ),
    (
        EMAIL,
        "billing@example.com",
        [
            "billing@example.com",
            "Billing@Example.COM",
            "billing[@]example[.]com",
            "billing[at]example[dot]com",
        ],
    ),
    (
        DOMAIN,
        "evil.example",
        ["evil.example", "EVIL.example", "evil[.]example", "evil(dot)example", "evil.example."],
    ),
    (IPV4, "192.0.2.10", ["192.0.2.10", "192[.]0[.]2[.]10", "192.0.2[.]10"]),
    (SHA256, "ab" * 32, ["ab" * 32, "AB" * 32, " " + "aB" * 32]),
    (MD5, "cd" * 16, ["cd" * 16, "CD" * 16]),
]


@pytest.mark.parametrize(("kind", "canonical", "forms"), NOISY, ids=[f"{k}-{c[:20]}" for k, c, _ in NOISY])
def test_noisy_forms_share_one_key(kind: ObservableType, canonical: str, forms: list[str]) -> None:
    """All noisy forms of one observable normalise to one value and one STIX id."""
    keys = {observable_key(kind, form).key for form in forms}
    values = {observable_key(kind, form).value for form in forms}
    assert values == {canonical}
    assert len(keys) == 1


def test_key_is_the_stix_observable_id() -> None:
    """The key is the STIX cyber observable's id, of the type STIX gives the observable."""
    prefixes = {URL: "url--", EMAIL: "email-addr--", DOMAIN: "domain-name--", IPV4: "ipv4-addr--"}
    for kind, canonical, _ in NOISY:
        observed = observable_key(kind, canonical)
        assert observed.key == observed.sco.id
        assert observed.key.startswith(prefixes.get(kind, "file--"))
    assert observable_key(SHA256, "ab" * 32).sco.hashes == {"SHA-256": "ab" * 32}


DIFFERENT: list[tuple[ObservableType, str]] = [
    (URL, "http://evil.example/login"),
    (URL, "https://evil.example/login"),
    (URL, "http://evil.example/login?a=1"),
    (URL, "http://evil.example/Login"),
    (URL, "http://evil.example:8080/login"),
    (URL, "http://other.example/login"),
    (EMAIL, "billing@example.com"),
    (EMAIL, "billing@example.org"),
    (DOMAIN, "evil.example"),
    (DOMAIN, "mail.evil.example"),
    (IPV4, "192.0.2.10"),
    (IPV4, "192.0.2.11"),
    (SHA256, "ab" * 32),
    (MD5, "ab" * 16),
]


def test_different_observables_differ() -> None:
    """Different URLs (scheme, path case, query, port, host) and other observables get different keys."""
    keys = [observable_key(kind, value).key for kind, value in DIFFERENT]
    assert len(set(keys)) == len(DIFFERENT)


def test_valid_names_are_not_mangled() -> None:
    """An address with "dot" or "at" in its name is kept (only defanged forms are refanged)."""
    assert observable_key(EMAIL, "anecdote.at@data.example").value == "anecdote.at@data.example"


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        (URL, "not a url"),
        (URL, "mailto:billing@example.com"),
        (URL, "gopher://evil.example/"),
        (URL, "http://evil.example:99999/"),
        (EMAIL, "billing"),
        (DOMAIN, "localhost"),
        (IPV4, "300.1.2.3"),
        (IPV4, "192.0.2"),
        (SHA256, "ab" * 31),
        (MD5, "zz" * 16),
        (URL, "http://evil.example/" + "a" * 2100),
    ],
)
def test_bad_values_are_rejected(kind: ObservableType, raw: str) -> None:
    """A value that is not a valid observable, even once refanged, raises CyberRejected(bad_observable)."""
    with pytest.raises(CyberRejected) as info:
        observable_key(kind, raw)
    assert info.value.reason == "bad_observable"
