"""Scenario events: what happens to the grid on the timeline (the schema only).

Each event has ``kind``, ``at_s`` (simulation seconds, >= 0, before the scenario's
``duration_s``) and an optional ``duration_s`` (> 0; the event ends at ``at_s + duration_s``,
which must not pass the scenario's end; absent: it lasts to the end of the run). Unknown keys
are errors. Kinds and their fields:

``node_outage``
    ``node``: the member node stops (no scans, no messages) and comes back after ``duration_s``.
``link_impairment``
    ``node``; ``latency_ms`` (added one-way delay, default 0), ``jitter_ms`` (added random
    delay spread, default 0), ``loss`` (fraction of messages dropped, 0..1, default 0),
    ``bandwidth_kbps`` (link cap, default none). At least one must be set.
``sensor_failure``
    ``sensor``: one roster sensor stops scanning.
``jamming``
    ``center`` [lat, lon], ``radius_m`` (> 0): sensors inside the circle, of the kinds in
    ``affects`` (default ``[radar, aew, rf_df]``; acoustic arrays cannot be jammed), have their
    detection probability multiplied by ``pd_factor`` (0..1, default 0.3) and their noise
    standard deviations by ``noise_factor`` (>= 1, default 3).
``spoofing``
    ``node`` publishes reports of ``phantom``, a target that does not exist: ``{id, speed_mps?,
    altitude_m?, path, rcs_m2 (default 1), emits_rf (default true)}`` with the path language of
    :mod:`grid.world.flight`, flown from ``at_s``.
``forgery``
    An outsider, who holds no key of the grid, publishes forged reports on ``as_node``'s report
    topic, pretending to be that member: ``phantom`` (as for ``spoofing``) seen by ``as_node``'s
    first ranging sensor, ``rate_hz`` messages a second (default 1, up to 20), round the
    ``forms`` (:class:`ForgeryForm`, default all five, each at most once): ``unsigned``,
    ``foreign_key`` (signed in ``as_node``'s name with the outsider's own key), ``wrong_signer``
    (another member's genuine signed report, captured, sent on ``as_node``'s topic),
    ``replayed`` (``as_node``'s genuine report, captured, sent again) and ``stale`` (a report
    of ``as_node`` recorded longer ago than the replay window). The phantom id must be new.
``broker_outage``
    The broker gridsim started is stopped at ``at_s`` and restarted after ``duration_s``
    (required). Broker outages may not overlap. ``signal``: ``term`` (default; the broker saves
    its state and exits) or ``kill`` (SIGKILL: it keeps only what it had saved, a crash).
``cyber_campaign``
    ``name``, ``tlp`` (``clear``, ``green``, ``amber``, ``amber+strict`` or ``red``, default ``amber``) and
    ``observables``: each ``{type, value, tlp?, confidence?, observed_by: [{node, at_s, form?}]}``
    with ``type`` one of ``url`` (http, https or ftp URL with a host), ``email`` (local@domain),
    ``domain`` (LDH labels, a TLD of letters), ``ipv4`` (dotted quad), ``sha256`` (64 hex
    digits), ``md5`` (32 hex digits). An observable's ``tlp`` overrides the campaign's;
    ``confidence`` is 0..100 (default 70). ``observed_by`` says which member nodes' CERTs see the
    observable, at what simulation time (not before the campaign's ``at_s``), and in which
    ``form`` the CERT writes it (:class:`ReportForm`, default ``exact``; :func:`report_forms`
    gives the forms valid for a value). A CERT that sees only some of a campaign's observables
    is one that only some observables list.

Node and sensor ids are checked against the roster by :func:`grid.world.scenario.validate_against_roster`.
"""

from __future__ import annotations

import ipaddress
import math
import re
from enum import StrEnum
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from grid.world.flight import FlightPlan, LatLon
from grid.world.roster import SensorKind

__all__ = [
    "EVENT_KINDS",
    "BrokerOutage",
    "CyberCampaign",
    "Event",
    "Forgery",
    "ForgeryForm",
    "Jamming",
    "LinkImpairment",
    "NodeOutage",
    "Observable",
    "ObservableType",
    "Phantom",
    "ReportForm",
    "SensorFailure",
    "Sighting",
    "Spoofing",
    "Tlp",
    "check_observable",
    "report_forms",
]

_ID = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")]
_Time = Annotated[float, Field(ge=0, le=86_400)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Event(_Strict):
    at_s: _Time
    duration_s: Annotated[float, Field(gt=0, le=86_400)] | None = None

    @property
    def end_s(self) -> float:
        """When the event ends (inf when it lasts to the end of the run)."""
        return math.inf if self.duration_s is None else self.at_s + self.duration_s

    def active(self, t: float) -> bool:
        """Whether the event is in force at ``t`` (from ``at_s`` inclusive to its end exclusive)."""
        return self.at_s <= t < self.end_s


class NodeOutage(_Event):
    """A member node stops, and comes back after ``duration_s``."""

    kind: Literal["node_outage"]
    node: _ID


class LinkImpairment(_Event):
    """A node's link to the broker gets slower, lossier or narrower."""

    kind: Literal["link_impairment"]
    node: _ID
    latency_ms: Annotated[float, Field(ge=0, le=60_000)] = 0.0
    jitter_ms: Annotated[float, Field(ge=0, le=60_000)] = 0.0
    loss: Annotated[float, Field(ge=0, le=1)] = 0.0
    bandwidth_kbps: Annotated[float, Field(gt=0, le=10_000_000)] | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not (self.latency_ms or self.jitter_ms or self.loss or self.bandwidth_kbps is not None):
            raise ValueError(
                "latency_ms: no impairment given; expected one of latency_ms, jitter_ms, loss, bandwidth_kbps"
            )
        return self


class SensorFailure(_Event):
    """One sensor stops scanning."""

    kind: Literal["sensor_failure"]
    sensor: _ID


class Jamming(_Event):
    """Sensors inside a circle lose detection probability and gain noise."""

    kind: Literal["jamming"]
    center: LatLon
    radius_m: Annotated[float, Field(gt=0, le=1_000_000)]
    affects: Annotated[list[SensorKind], Field(min_length=1)] = [
        SensorKind.RADAR,
        SensorKind.AEW,
        SensorKind.RF_DF,
    ]
    pd_factor: Annotated[float, Field(ge=0, le=1)] = 0.3
    noise_factor: Annotated[float, Field(ge=1, le=100)] = 3.0

    @model_validator(mode="after")
    def _jammable(self) -> Self:
        for i, kind in enumerate(self.affects):
            if kind is SensorKind.ACOUSTIC:
                raise ValueError(
                    f"affects[{i}]: acoustic arrays cannot be jammed; expected radar, aew or rf_df"
                )
        return self


class Phantom(FlightPlan):
    """A target that does not exist, reported by a spoofing node."""

    id: _ID
    rcs_m2: Annotated[float, Field(gt=0, le=10_000)] = 1.0
    emits_rf: bool = True


class Spoofing(_Event):
    """A node publishes false reports of a phantom target."""

    kind: Literal["spoofing"]
    node: _ID
    phantom: Phantom


class ForgeryForm(StrEnum):
    """How an outsider forges a member's report (what a signed grid refuses it as, in brackets)."""

    UNSIGNED = "unsigned"  # no signature at all (unsigned)
    FOREIGN_KEY = "foreign_key"  # signed in the member's name with the outsider's key (bad_signature)
    WRONG_SIGNER = "wrong_signer"  # another member's captured report on this member's topic (wrong_signer)
    REPLAYED = "replayed"  # the member's captured report sent again (replayed)
    STALE = "stale"  # the member's report recorded before the replay window (stale)


class Forgery(_Event):
    """An outsider publishes forged reports of a phantom on a member's report topic."""

    kind: Literal["forgery"]
    as_node: _ID
    phantom: Phantom
    rate_hz: Annotated[float, Field(gt=0, le=20)] = 1.0
    forms: Annotated[list[ForgeryForm], Field(min_length=1, max_length=5)] = list(ForgeryForm)

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        for i, form in enumerate(self.forms):
            if form in self.forms[:i]:
                raise ValueError(f"forms[{i}]: {form.value!r} is given twice; expected each form once")
        return self


class BrokerOutage(_Event):
    """The broker gridsim started is stopped, then restarted after ``duration_s``."""

    kind: Literal["broker_outage"]
    duration_s: Annotated[float, Field(gt=0, le=86_400)]
    signal: Literal["term", "kill"] = "term"


class ObservableType(StrEnum):
    """Kinds of cyber observable."""

    URL = "url"
    EMAIL = "email"
    DOMAIN = "domain"
    IPV4 = "ipv4"
    SHA256 = "sha256"
    MD5 = "md5"


_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_HEX_DIGITS = {ObservableType.SHA256: 64, ObservableType.MD5: 32}


def _is_domain(value: str) -> bool:
    labels = value.rstrip(".").split(".")
    return (
        len(value) <= 253
        and len(labels) >= 2
        and all(_LABEL.match(label) for label in labels)
        and labels[-1].isalpha()
        and len(labels[-1]) >= 2
    )


def _is_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https", "ftp") or not host or any(c.isspace() for c in value):
        return False
    return _is_domain(host) or _is_ipv4(host)


def _is_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def check_observable(kind: ObservableType, value: str) -> str | None:
    """What was expected, when ``value`` is not a valid observable of ``kind``; None when it is."""
    if kind is ObservableType.URL:
        ok, expected = (
            _is_url(value),
            "an http, https or ftp URL with a host name, e.g. https://example.org/x",
        )
    elif kind is ObservableType.EMAIL:
        local, at, domain = value.rpartition("@")
        ok = bool(at) and len(local) <= 64 and bool(_LOCAL.match(local)) and _is_domain(domain)
        expected = "an address local@domain, e.g. billing@example.org"
    elif kind is ObservableType.DOMAIN:
        ok, expected = _is_domain(value), "a domain name of two or more labels, e.g. mail.example.org"
    elif kind is ObservableType.IPV4:
        ok, expected = _is_ipv4(value), "an IPv4 address in dotted-quad form, e.g. 192.0.2.10"
    else:
        digits = _HEX_DIGITS[kind]
        ok = len(value) == digits and all(c in "0123456789abcdefABCDEF" for c in value)
        expected = f"{digits} hexadecimal digits"
    return None if ok else expected


class ReportForm(StrEnum):
    """How a member's CERT writes an observable down: the noise a hub must see through."""

    EXACT = "exact"  # as the scenario gives it
    UPPER = "upper"  # scheme and host, local part and domain, a domain, or hex digits in upper case
    TRAILING_SLASH = "trailing_slash"  # url only: "/" added to the path
    DEFAULT_PORT = "default_port"  # url only: the scheme's default port written out (:80, :443, :21)
    DEFANGED = "defanged"  # hxxp://evil[.]example/x, billing[@]example[.]com, 192.0.2[.]10
    MIXED = "mixed"  # one of the forms valid for the value, drawn from the scenario seed


class Tlp(StrEnum):
    """Traffic Light Protocol 2.0 releasability, most open first."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"


def report_forms(kind: ObservableType, value: str) -> tuple[ReportForm, ...]:
    """The forms a CERT may report ``value`` (a valid observable of ``kind``) in, ``mixed`` last.

    Each one differs from the value only by noise a refang and normalise step undoes. A URL
    takes ``trailing_slash`` only when its path does not already end in "/" (a second slash is a
    different path) and ``default_port`` only when it names no port. An IPv4 address has no case
    and a hash is not defanged.
    """
    f = ReportForm
    if kind is ObservableType.URL:
        parts = urlsplit(value)
        forms = [f.EXACT, f.UPPER]
        if not parts.path.endswith("/"):
            forms.append(f.TRAILING_SLASH)
        if parts.port is None:
            forms.append(f.DEFAULT_PORT)
        forms.append(f.DEFANGED)
    elif kind in (ObservableType.EMAIL, ObservableType.DOMAIN):
        forms = [f.EXACT, f.UPPER, f.DEFANGED]
    elif kind is ObservableType.IPV4:
        forms = [f.EXACT, f.DEFANGED]
    else:
        forms = [f.EXACT, f.UPPER]
    return (*forms, f.MIXED)


class Sighting(_Strict):
    """A member node's CERT observes an observable at a simulation time, and reports it in a form."""

    node: _ID
    at_s: _Time
    form: ReportForm = ReportForm.EXACT


class Observable(_Strict):
    """One indicator of a cyber campaign, and who sees it when."""

    type: ObservableType
    value: Annotated[str, Field(min_length=1, max_length=2048)]
    tlp: Tlp | None = None  # None: the campaign's
    confidence: Annotated[int, Field(ge=0, le=100)] = 70
    observed_by: Annotated[list[Sighting], Field(min_length=1)]

    @model_validator(mode="after")
    def _valid_value(self) -> Self:
        expected = check_observable(self.type, self.value)
        if expected is not None:
            raise ValueError(f"value: {self.value!r} is not a valid {self.type.value}; expected {expected}")
        forms = report_forms(self.type, self.value)
        found = [
            f"observed_by[{k}].form: {s.form.value!r} does not apply to the {self.type.value} "
            f"{self.value!r}; expected one of: {', '.join(f.value for f in forms)}"
            for k, s in enumerate(self.observed_by)
            if s.form not in forms
        ]
        if found:
            raise ValueError("\n".join(found))
        return self


class CyberCampaign(_Event):
    """Observables of a cyber campaign and which member nodes' CERTs observe them when."""

    kind: Literal["cyber_campaign"]
    name: Annotated[str, Field(min_length=1, max_length=80)]
    tlp: Tlp = Tlp.AMBER
    observables: Annotated[list[Observable], Field(min_length=1, max_length=10_000)]


Event = Annotated[
    NodeOutage | LinkImpairment | SensorFailure | Jamming | Spoofing | Forgery | BrokerOutage | CyberCampaign,
    Field(discriminator="kind"),
]

EVENT_KINDS = (
    "node_outage",
    "link_impairment",
    "sensor_failure",
    "jamming",
    "spoofing",
    "forgery",
    "broker_outage",
    "cyber_campaign",
)
