"""What each member's CERT observes of a scenario's cyber campaigns, when, and how it writes it down.

:func:`cert_observations` flattens every ``cyber_campaign`` into one :class:`CertObservation` per
``observed_by`` entry: the canonical value, the string the CERT reports (:func:`report_as` of its
:class:`~grid.world.events.ReportForm`), the resolved TLP and the confidence. ``mixed`` is
resolved here to one concrete form, drawn from a SHA-256 of the scenario seed, the campaign
name, the observable's index and the node (not Python's salted ``hash()``), so a scenario and
seed always give the same schedule, in every process.

Every reported form is one a refang and normalise step undoes (``hxxp``, ``fxp``, ``[.]``,
``[@]``, upper-case scheme, host, address or hex, a trailing "/" on the path, the scheme's
default port); the hub, not this module, does that undoing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from grid.world.events import CyberCampaign, ObservableType, ReportForm, Tlp, report_forms
from grid.world.scenario import Scenario

__all__ = ["DEFAULT_PORTS", "CertObservation", "cert_observations", "cert_observations_for", "report_as"]

DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}
_DEFANGED_SCHEMES = {"http": "hxxp", "https": "hxxps", "ftp": "fxp"}


@dataclass(frozen=True, slots=True)
class CertObservation:
    """One member CERT's observation of one observable: what it is and what the CERT reports.

    Attributes:
        node: the member node whose CERT observes it.
        at_s: simulation time of the observation.
        campaign: the campaign's name.
        kind: the observable's type.
        value: the observable as the scenario gives it (the ground truth).
        reported: the string the CERT writes (``value`` in ``form``).
        form: the form reported in; never ``mixed`` (that is resolved to the form drawn).
        tlp: the releasability: the observable's own, else the campaign's.
        confidence: 0..100.
        observable_index: the observable's index in its campaign's ``observables``.
    """

    node: str
    at_s: float
    campaign: str
    kind: ObservableType
    value: str
    reported: str
    form: ReportForm
    tlp: Tlp
    confidence: int
    observable_index: int

    def __post_init__(self) -> None:
        if self.form is ReportForm.MIXED:
            raise ValueError("form: 'mixed' is drawn before an observation is made; expected a concrete form")
        if not 0 <= self.confidence <= 100:
            raise ValueError(f"confidence: {self.confidence} is outside 0..100")
        if self.at_s < 0 or self.observable_index < 0:
            raise ValueError(f"at_s {self.at_s} and observable_index {self.observable_index} must be >= 0")


def _url_parts(value: str) -> tuple[str, str, str, str, str]:
    """(scheme, userinfo and its "@", host, ":port" or "", the rest: path, query, fragment) of a URL.

    Split by hand, not with ``urlsplit``, so that each part keeps the case it was written in.
    """
    scheme, _, after = value.partition("://")
    end = next((i for i, c in enumerate(after) if c in "/?#"), len(after))
    netloc, rest = after[:end], after[end:]
    userinfo, at, hostport = netloc.rpartition("@")
    host, colon, port = hostport.partition(":")
    return scheme, userinfo + at, host, colon + port, rest


def _report_url(value: str, form: ReportForm) -> str:
    scheme, userinfo, host, port, rest = _url_parts(value)
    if form is ReportForm.UPPER:
        scheme, host = scheme.upper(), host.upper()
    elif form is ReportForm.TRAILING_SLASH:
        cut = next((i for i, c in enumerate(rest) if c in "?#"), len(rest))
        rest = rest[:cut] + "/" + rest[cut:]
    elif form is ReportForm.DEFAULT_PORT:
        port = f":{DEFAULT_PORTS[scheme.lower()]}"
    elif form is ReportForm.DEFANGED:
        scheme = _DEFANGED_SCHEMES[scheme.lower()]
        host = host.replace(".", "[.]")
    return f"{scheme}://{userinfo}{host}{port}{rest}"


def report_as(kind: ObservableType, value: str, form: ReportForm) -> str:
    """``value`` (a valid observable of ``kind``) as a CERT reporting in ``form`` writes it.

    Raises:
        ValueError: ``form`` is ``mixed`` (draw it first) or not one of :func:`report_forms`.
    """
    if form is ReportForm.MIXED or form not in report_forms(kind, value):
        raise ValueError(f"form: {form.value!r} does not apply to the {kind.value} {value!r}")
    if form is ReportForm.EXACT:
        return value
    if kind is ObservableType.URL:
        return _report_url(value, form)
    if form is ReportForm.UPPER:  # email, domain, hash; an IPv4 address has no case
        return value.upper()
    if kind is ObservableType.EMAIL:
        local, _, domain = value.rpartition("@")
        return f"{local}[@]{domain.replace('.', '[.]')}"
    if kind is ObservableType.IPV4:
        head, _, tail = value.rpartition(".")  # the usual defang: the last dot only
        return f"{head}[.]{tail}"
    return value.replace(".", "[.]")  # a domain


def _drawn_form(seed: int, campaign: str, index: int, node: str, forms: tuple[ReportForm, ...]) -> ReportForm:
    """A concrete form among ``forms`` (``mixed`` left out), the same for the same inputs everywhere."""
    concrete = [f for f in forms if f is not ReportForm.MIXED]
    key = "\x1f".join((str(seed), campaign, str(index), node)).encode()
    digest = hashlib.sha256(key).digest()
    return concrete[int.from_bytes(digest[:8], "big") % len(concrete)]


def _campaign_observations(seed: int, campaign: CyberCampaign) -> list[CertObservation]:
    out: list[CertObservation] = []
    for index, obs in enumerate(campaign.observables):
        forms = report_forms(obs.type, obs.value)
        for sighting in obs.observed_by:
            form = sighting.form
            if form is ReportForm.MIXED:
                form = _drawn_form(seed, campaign.name, index, sighting.node, forms)
            out.append(
                CertObservation(
                    node=sighting.node,
                    at_s=sighting.at_s,
                    campaign=campaign.name,
                    kind=obs.type,
                    value=obs.value,
                    reported=report_as(obs.type, obs.value, form),
                    form=form,
                    tlp=obs.tlp or campaign.tlp,
                    confidence=obs.confidence,
                    observable_index=index,
                )
            )
    return out


def cert_observations(scenario: Scenario) -> list[CertObservation]:
    """Every CERT observation of every cyber campaign, sorted by (at_s, node, observable_index).

    Ties keep scenario order (campaigns in event order, then ``observed_by`` order): the sort is
    stable.
    """
    out = [
        o
        for event in scenario.events
        if isinstance(event, CyberCampaign)
        for o in _campaign_observations(scenario.seed, event)
    ]
    out.sort(key=lambda o: (o.at_s, o.node, o.observable_index))
    return out


def cert_observations_for(scenario: Scenario, node_id: str) -> list[CertObservation]:
    """The observations of ``node_id``'s CERT, in time order (those of :func:`cert_observations`)."""
    return [o for o in cert_observations(scenario) if o.node == node_id]
