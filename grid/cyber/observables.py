"""Observable keys: one identity for every noisy form in which CERTs report the same observable.

A CERT may report ``hxxp://Evil[.]Example:80/login/?b=2&a=1`` where another reports
``http://evil.example/login?a=1&b=2``. :func:`observable_key` refangs the raw value
(``iocextract``), normalises it, checks it with the scenario schema's own rules
(:func:`grid.world.events.check_observable`), and builds the STIX cyber observable. STIX 2.1
gives cyber observables deterministic UUIDv5 ids computed from their id-contributing properties
(``value``; ``hashes`` for files), so that id is the dedup key: equal normalised values, equal key.

Normalisation per type:

``url``
    ``url_normalize`` (lower-case scheme and host, default port dropped, percent-encoding
    tidied, an empty path becomes ``/``), then the query parameters are sorted and a trailing
    slash after a non-empty path is dropped (``/login/`` and ``/login`` name one phishing page).
``email``, ``domain``
    lower-case (a trailing dot of a domain is dropped).
``ipv4``
    the dotted quad as :mod:`ipaddress` writes it.
``sha256``, ``md5``
    lower-case hex.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import iocextract
import stix2
from url_normalize import url_normalize

from grid.errors import CyberRejected
from grid.world.events import ObservableType, check_observable

__all__ = ["Observed", "observable_key"]

# STIX hash algorithm names of the file observables (the vocabulary's spelling).
HASH_NAMES = {ObservableType.SHA256: "SHA-256", ObservableType.MD5: "MD5"}


@dataclass(frozen=True)
class Observed:
    """An observable reduced to its canonical form.

    Attributes:
        kind: the observable type.
        value: the normalised value (lower-case hex for hashes).
        key: the STIX cyber observable's deterministic id, e.g. ``url--7b0d...``: the dedup key.
        sco: the STIX cyber observable itself (``stix2.URL``, ``EmailAddress``, ``DomainName``,
            ``IPv4Address`` or ``File`` from hashes only).
    """

    kind: ObservableType
    value: str
    key: str
    sco: Any

    def __post_init__(self) -> None:
        if self.sco.id != self.key:
            raise ValueError(f"key {self.key!r} is not the observable's id {self.sco.id!r}")


# http, https, ftp and their defanged spellings (hxxp, hXXps, fxp, ...). iocextract turns any
# other scheme into http, which would merge gopher://x or mailto:x with http://x.
_SCHEME = re.compile(r"^(?:h[xt]{2}ps?|f[xt]ps?|ftx)(?:\[?:\]?//|://)", re.IGNORECASE)


def _refang(kind: ObservableType, raw: str) -> str:
    value = raw.strip()
    if kind is ObservableType.URL:
        if ":" in value.partition("/")[0] and not _SCHEME.match(value):
            raise CyberRejected("bad_observable", f"{raw!r} is not an http, https or ftp URL")
        return str(iocextract.refang_data(value))
    if kind is ObservableType.EMAIL:
        # refang_email also rewrites every "dot" and " at " inside a name (anecdote@ -> anec.e@),
        # so only values that are not already valid addresses go through it.
        return value if check_observable(kind, value) is None else str(iocextract.refang_email(value))
    if kind in (ObservableType.DOMAIN, ObservableType.IPV4):
        # The same clean-up of [.], (dot) and brackets that refang_ipv4 does fits domain names.
        return str(iocextract.refang_ipv4(value))
    return value


def _normal_url(value: str) -> str:
    try:
        normal = url_normalize(value)
    except (ValueError, UnicodeError) as exc:
        raise CyberRejected("bad_observable", f"{value!r} is not a URL: {exc}") from exc
    if not normal:
        raise CyberRejected("bad_observable", f"{value!r} is not a URL")
    parts = urlsplit(normal)
    path = parts.path.rstrip("/") or "/"
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))


def _normalise(kind: ObservableType, value: str) -> str:
    if kind is ObservableType.URL:
        return _normal_url(value)
    if kind is ObservableType.DOMAIN:
        return value.lower().rstrip(".")
    if kind is ObservableType.IPV4:
        try:
            return str(ipaddress.IPv4Address(value))
        except ValueError as exc:
            raise CyberRejected("bad_observable", f"{value!r} is not an IPv4 address") from exc
    return value.lower()


# Building an observable canonicalises its properties to hash them into the id (about 0.4 ms);
# sightings and duplicates bring the same values again. stix2 objects are immutable, so shared.
@functools.lru_cache(maxsize=8192)
def _sco(kind: ObservableType, value: str) -> Any:
    if kind is ObservableType.URL:
        return stix2.URL(value=value)
    if kind is ObservableType.EMAIL:
        return stix2.EmailAddress(value=value)
    if kind is ObservableType.DOMAIN:
        return stix2.DomainName(value=value)
    if kind is ObservableType.IPV4:
        return stix2.IPv4Address(value=value)
    return stix2.File(hashes={HASH_NAMES[kind]: value})


def observable_key(kind: ObservableType, raw: str) -> Observed:
    """The canonical form and dedup key of ``raw``, a value of ``kind`` as a CERT reported it.

    Raises:
        CyberRejected: ``bad_observable`` when the value, once refanged and normalised, is not a
            valid observable of ``kind``.
    """
    if len(raw) > 2048:
        raise CyberRejected("bad_observable", f"{kind.value} value of {len(raw)} characters; at most 2048")
    value = _normalise(kind, _refang(kind, raw))
    expected = check_observable(kind, value)
    if expected is not None:
        raise CyberRejected("bad_observable", f"{raw!r} is not a valid {kind.value}; expected {expected}")
    try:
        sco = _sco(kind, value)
    except stix2.exceptions.STIXError as exc:
        raise CyberRejected("bad_observable", f"{raw!r}: {exc}") from exc
    return Observed(kind=kind, value=value, key=sco.id, sco=sco)
