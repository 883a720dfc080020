"""STIX 2.1 objects of the cyber exchange, with deterministic ids and timestamps.

Every id is a UUIDv5 under :data:`NAMESPACE` of what the object stands for (a node's identity,
an observable key and its creator, ...), and every timestamp comes from a ``datetime`` the caller
derives from the run's epoch (:func:`sim_time`), so the same seed and epoch give the same bundle.
The exceptions are the ATT&CK attack patterns, which carry ATT&CK's own ids so that platforms
link them to their copy of ATT&CK, and the TLP markings (:mod:`grid.cyber.markings`).

Patterns are one comparison of one observable, because misp-stix maps those to typed MISP
attributes and cannot map a mixed ``url OR email`` pattern. Email observables are phishing
senders, so their pattern is ``[email-message:from_ref.value = '...']`` (MISP ``email-src``);
received indicators may also use ``[email-addr:value = '...']``.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import stix2

from grid.cyber.markings import Tlp, marking_of
from grid.cyber.observables import HASH_NAMES, Observed
from grid.world.events import ObservableType

__all__ = [
    "ATTACK_PATTERNS",
    "HUB_IDENTITY",
    "JCC_IDENTITY",
    "NAMESPACE",
    "attack_pattern_for",
    "course_of_action",
    "indicates",
    "indicator",
    "member_identity",
    "mitigates",
    "observable_of_pattern",
    "parse",
    "pattern_of",
    "sighting",
    "sim_time",
    "stix_id",
]

NAMESPACE = uuid.UUID(
    "04db53d1-af6b-5bc3-9577-2139c9fb52b7"
)  # uuid5(NAMESPACE_URL, "https://gridsim.invalid/cyber")
"""Namespace of every UUIDv5 the exchange makes (fixed forever: ids must not change between runs)."""

# Identities and attack patterns do not belong to a run, so they carry one fixed timestamp.
_TIMELESS = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
_KILL_CHAIN = [{"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}]


def stix_id(kind: str, *parts: str) -> str:
    """The deterministic id ``kind--uuid5(NAMESPACE, kind|part|...)``."""
    return f"{kind}--{uuid.uuid5(NAMESPACE, '|'.join((kind, *parts)))}"


def sim_time(epoch: datetime, time_s: float) -> datetime:
    """The wall time of simulation second ``time_s`` of a run that started at ``epoch``."""
    return epoch + timedelta(seconds=time_s)


def _identity(key: str, name: str, description: str) -> Any:
    return stix2.Identity(
        id=stix_id("identity", key),
        name=name,
        description=description,
        identity_class="organization",
        created=_TIMELESS,
        modified=_TIMELESS,
    )


def member_identity(node_id: str) -> Any:
    """The identity of a member node's CERT (the same node always has the same id)."""
    return _identity(f"node:{node_id}", f"{node_id} CERT", f"Computer emergency response team of {node_id}")


HUB_IDENTITY = _identity("hub", "Cyber Exchange Hub", "The grid's cyber-exchange hub")
JCC_IDENTITY = _identity("jcc", "Joint Cyber Centre", "Flags shared indicators and issues mitigations")


def _technique(stix_uuid: str, technique: str, name: str) -> Any:
    return stix2.AttackPattern(
        id=f"attack-pattern--{stix_uuid}",
        name=name,
        created=_TIMELESS,
        modified=_TIMELESS,
        kill_chain_phases=_KILL_CHAIN,
        external_references=[
            {
                "source_name": "mitre-attack",
                "external_id": technique,
                "url": f"https://attack.mitre.org/techniques/{technique.replace('.', '/')}/",
            }
        ],
    )


ATTACK_PATTERNS = {
    "T1566.002": _technique("2b742742-28c3-4e1b-bab7-8350d6300fa7", "T1566.002", "Spearphishing Link"),
    "T1566.001": _technique("2e34237d-8574-43f6-aace-ae2915de8597", "T1566.001", "Spearphishing Attachment"),
}
"""ATT&CK techniques, under ATT&CK's own STIX ids."""


def attack_pattern_for(kind: ObservableType) -> Any:
    """Spearphishing Attachment for file hashes; Spearphishing Link for the rest."""
    return ATTACK_PATTERNS["T1566.001" if kind in HASH_NAMES else "T1566.002"]


_PATHS = {
    ObservableType.URL: "url:value",
    ObservableType.EMAIL: "email-message:from_ref.value",
    ObservableType.DOMAIN: "domain-name:value",
    ObservableType.IPV4: "ipv4-addr:value",
    ObservableType.SHA256: "file:hashes.'SHA-256'",
    ObservableType.MD5: "file:hashes.MD5",
}
_KINDS = {path: kind for kind, path in _PATHS.items()} | {
    "email-addr:value": ObservableType.EMAIL,
    "file:hashes.'MD5'": ObservableType.MD5,
    "file:hashes.SHA256": ObservableType.SHA256,
    "file:hashes.'SHA256'": ObservableType.SHA256,
}
# One comparison, its string literal as the STIX grammar has it (only \' and \\ escaped): a pattern
# this matches is always valid STIX syntax.
_SIMPLE = re.compile(
    r"\[\s*(?P<path>[a-z0-9-]+:[A-Za-z0-9_.'-]+)\s*=\s*'(?P<value>(?:[^'\\]|\\['\\])*)'\s*\]"
)


def pattern_of(observed: Observed) -> str:
    """The STIX pattern matching ``observed``, e.g. ``[url:value = 'http://evil.example/']``."""
    escaped = observed.value.replace("\\", "\\\\").replace("'", "\\'")
    return f"[{_PATHS[observed.kind]} = '{escaped}']"


def observable_of_pattern(pattern: str) -> tuple[ObservableType, str] | None:
    """The observable type and raw value of a one-comparison pattern; None for any other pattern."""
    match = _SIMPLE.fullmatch(pattern.strip())
    if match is None or match["path"] not in _KINDS:
        return None
    value = re.sub(r"\\(['\\])", r"\1", match["value"])
    return _KINDS[match["path"]], value


def indicator(
    observed: Observed,
    *,
    creator: str,
    tlp: Tlp,
    at: datetime,
    confidence: int = 70,
    description: str = "",
    pattern: str | None = None,
) -> Any:
    """The indicator of ``observed`` by identity ``creator``, marked ``tlp``, valid from ``at``.

    Args:
        observed: the observable.
        creator: identity id of the reporting party (``created_by_ref``).
        tlp: its marking.
        at: its creation and ``valid_from`` time.
        confidence: 0..100.
        description: free text (a default naming the observable when empty).
        pattern: the pattern to publish, when not :func:`pattern_of` ``observed`` (a CERT reports
            the value as it saw it; the hub shares the normalised form).
    """
    technique = attack_pattern_for(observed.kind)
    return stix2.Indicator(
        id=stix_id("indicator", observed.key, creator),
        created=at,
        modified=at,
        valid_from=at,
        name=f"Phishing {observed.kind.value}: {observed.value}",
        description=description or f"{technique.name} observable {observed.value}",
        indicator_types=["malicious-activity"],
        pattern=pattern_of(observed) if pattern is None else pattern,
        pattern_type="stix",
        kill_chain_phases=_KILL_CHAIN,
        confidence=confidence,
        object_marking_refs=[marking_of(tlp).id],
        created_by_ref=creator,
    )


def _relationship(kind: str, source: Any, target_id: str, *, at: datetime, creator: str) -> Any:
    """``source`` --kind--> ``target_id``, under ``source``'s markings, its id fixed by all three."""
    return stix2.Relationship(
        id=stix_id("relationship", kind, source.id, target_id),
        relationship_type=kind,
        source_ref=source.id,
        target_ref=target_id,
        created=at,
        modified=at,
        created_by_ref=creator,
        object_marking_refs=source.object_marking_refs,
    )


def indicates(indicator_obj: Any, kind: ObservableType, *, at: datetime, creator: str) -> Any:
    """The ``indicates`` relationship of an indicator of a ``kind`` observable to its ATT&CK technique."""
    return _relationship("indicates", indicator_obj, attack_pattern_for(kind).id, at=at, creator=creator)


def sighting(
    indicator_obj: Any,
    *,
    where: list[str],
    first_seen: datetime,
    last_seen: datetime,
    modified: datetime,
    creator: str,
) -> Any:
    """The one sighting of an indicator: ``len(where)`` sightings by the identities ``where``."""
    return stix2.Sighting(
        id=stix_id("sighting", indicator_obj.id),
        sighting_of_ref=indicator_obj.id,
        count=len(where),
        first_seen=first_seen,
        last_seen=last_seen,
        where_sighted_refs=where,
        created=first_seen,
        modified=modified,
        created_by_ref=creator,
        object_marking_refs=indicator_obj.object_marking_refs,
    )


def course_of_action(observed: Observed, *, at: datetime, tlp: Tlp, creator: str) -> Any:
    """The mitigation of ``observed``: block it where phishing enters."""
    where = "mail gateways" if observed.kind is ObservableType.EMAIL else "mail gateways and proxies"
    if observed.kind in HASH_NAMES:
        where = "mail gateways and endpoint protection"
    return stix2.CourseOfAction(
        id=stix_id("course-of-action", observed.key),
        name=f"Block {observed.value} at {where}",
        description=f"Block the {observed.kind.value} {observed.value} at {where}, and report any hit.",
        created=at,
        modified=at,
        created_by_ref=creator,
        object_marking_refs=[marking_of(tlp).id],
    )


def mitigates(coa: Any, indicator_obj: Any, *, at: datetime, creator: str) -> Any:
    """The ``mitigates`` relationship of a course of action to the indicator it answers."""
    return _relationship("mitigates", coa, indicator_obj.id, at=at, creator=creator)


def parse(text: str | bytes | dict[str, Any]) -> Any:
    """A STIX 2.1 object or bundle from JSON (no custom content allowed)."""
    return stix2.parse(text, allow_custom=False)
