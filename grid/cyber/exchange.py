"""The cyber-exchange hub's logic, sans-IO: reports in, shared STIX objects and metrics out.

Members' CERTs report indicators (:meth:`CyberExchange.receive`). The exchange checks each one
(:func:`grid.cyber.references.check_indicator`), keys it by its normalised observable, and:

- the first report of a key becomes the **shared indicator**. The hub issues it under its own
  identity ("Cyber Exchange Hub"), with the normalised pattern, the originator's TLP marking and
  confidence, and an ``indicates`` relationship to the ATT&CK technique. The hub re-issues rather
  than forwards because a CERT's pattern holds the value as that CERT saw it (defanged, other
  casing), and what the grid shares and exports must be the canonical form. The originator is
  named in the description and in the metrics' ``observed_by``. Outcome ``new``.
- a later report of the key by **another** member updates the key's one ``sighting``: its
  ``count`` and ``where_sighted_refs`` grow by that member, ``first_seen``/``last_seen`` span the
  sighting members' observation times. Outcome ``sighting``.
- a report of the key by a member that already reported it is absorbed. Outcome ``duplicate``.

The Joint Cyber Centre flags a shared indicator (:meth:`CyberExchange.flag`), which yields its
mitigation: a course of action and a ``mitigates`` relationship, for the recipients that the
indicator's TLP allows (:func:`grid.cyber.releasability.recipients`). Members acknowledge it
(:meth:`CyberExchange.acknowledge`).

Times are simulation seconds. A report's **observation time** is its indicator's ``created``
time relative to the epoch, clamped to ``[0, receipt time]`` (a CERT stamps the indicator when it
observes; the clamp keeps a skewed clock from bending the metrics).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import stix2

from grid.cyber.markings import Tlp, marking_of
from grid.cyber.observables import Observed
from grid.cyber.references import MAX_BYTES, check_indicator
from grid.cyber.releasability import recipients
from grid.cyber.stix import (
    HUB_IDENTITY,
    JCC_IDENTITY,
    attack_pattern_for,
    course_of_action,
    indicates,
    indicator,
    member_identity,
    mitigates,
    pattern_of,
    sighting,
    sim_time,
    stix_id,
)
from grid.errors import CyberRejected

__all__ = ["CyberExchange", "Mitigation", "Outcome"]


@dataclass(frozen=True)
class Outcome:
    """What one accepted report did.

    Attributes:
        kind: ``new`` (first report of the key), ``sighting`` (another member's report) or
            ``duplicate`` (a member's repeat).
        key: the observable key.
        member: the reporting member node id.
        shared: the hub's shared indicator of the key.
        objects: the STIX objects this report created or updated, to publish: the indicator and
            its ``indicates`` relationship (new), the sighting's new version (sighting), none
            (duplicate).
    """

    kind: Literal["new", "sighting", "duplicate"]
    key: str
    member: str
    shared: Any
    objects: tuple[Any, ...]


@dataclass(frozen=True)
class Mitigation:
    """The Joint Cyber Centre's answer to a shared indicator.

    Attributes:
        key: the observable key.
        course_of_action: the STIX course of action (created by the Joint Cyber Centre).
        relationship: its ``mitigates`` relationship to the shared indicator.
        recipients: the member (and other) ids it may reach.
        tlp: the indicator's marking, which the course of action carries too.
    """

    key: str
    course_of_action: Any
    relationship: Any
    recipients: frozenset[str]
    tlp: Tlp


@dataclass
class _Entry:
    observed: Observed
    tlp: Tlp
    originator: str
    first_observed_s: float
    shared: Any
    relationship: Any
    observed_by: list[str]
    sighters: list[str] = field(default_factory=list)
    sighting_seen_s: list[float] = field(default_factory=list)
    sighting: Any = None
    duplicates: int = 0
    flagged_s: float | None = None
    mitigation: Mitigation | None = None
    acks: dict[str, float] = field(default_factory=dict)


def _by_observation(entry: _Entry) -> list[str]:
    """The members that reported ``entry``, by when their CERT observed it (then by id): the
    same whatever order the reports arrived in."""
    seen = {
        entry.originator: entry.first_observed_s,
        **dict(zip(entry.sighters, entry.sighting_seen_s, strict=True)),
    }
    return sorted(entry.observed_by, key=lambda member: (seen.get(member, float("inf")), member))


class CyberExchange:
    """The hub's state: shared indicators by key, their sightings, flags, mitigations and acks.

    Args:
        members: the member node ids (each reports under :func:`grid.cyber.stix.member_identity`).
        epoch: the wall time of simulation time 0 (timezone-aware).
        others: parties outside the membership that may receive TLP:GREEN and TLP:CLEAR mitigations.
        max_bytes: size limit of a received indicator's JSON.
    """

    def __init__(
        self,
        members: Iterable[str],
        epoch: datetime,
        *,
        others: Iterable[str] = (),
        max_bytes: int = MAX_BYTES,
    ) -> None:
        if epoch.utcoffset() is None:
            raise ValueError("epoch must be timezone-aware")
        self._members = tuple(dict.fromkeys(members))
        self._identities = {m: member_identity(m) for m in self._members}
        self._by_identity = {ident.id: m for m, ident in self._identities.items()}
        self._epoch = epoch
        self._others = frozenset(others)
        self._max_bytes = max_bytes
        self._entries: dict[str, _Entry] = {}
        self._rejected: Counter[str] = Counter()
        self._reports = 0

    @property
    def members(self) -> tuple[str, ...]:
        """The member node ids, in the order given."""
        return self._members

    def identity(self, member: str) -> Any:
        """The STIX identity of ``member``."""
        return self._identities[member]

    def rejections(self) -> dict[str, int]:
        """How many reports were rejected, by reason code."""
        return dict(sorted(self._rejected.items()))

    def _observed_s(self, obj: Any, time_s: float) -> float:
        created_s: float = (obj.created - self._epoch).total_seconds()
        return min(max(created_s, 0.0), time_s)

    def receive(self, time_s: float, raw: str | bytes | Mapping[str, Any]) -> Outcome:
        """Take one member's indicator, received at simulation time ``time_s``.

        Raises:
            CyberRejected: the report failed a check (the reason is counted in :meth:`rejections`).
        """
        try:
            checked = check_indicator(raw, self._by_identity, max_bytes=self._max_bytes)
        except CyberRejected as exc:
            self._rejected[exc.reason] += 1
            raise
        self._reports += 1
        member = self._by_identity[checked.creator]
        key = checked.observed.key
        observed_s = self._observed_s(checked.indicator, time_s)
        entry = self._entries.get(key)
        if entry is None:
            at = sim_time(self._epoch, time_s)
            shared = indicator(
                checked.observed,
                creator=HUB_IDENTITY.id,
                tlp=checked.tlp,
                at=at,
                confidence=checked.indicator.get("confidence", 50),
                description=f"{attack_pattern_for(checked.observed.kind).name} observable "
                f"{checked.observed.value}, first reported by {member} CERT",
            )
            relationship = indicates(shared, checked.observed.kind, at=at, creator=HUB_IDENTITY.id)
            self._entries[key] = _Entry(
                observed=checked.observed,
                tlp=checked.tlp,
                originator=member,
                first_observed_s=observed_s,
                shared=shared,
                relationship=relationship,
                observed_by=[member],
            )
            return Outcome("new", key, member, shared, (shared, relationship))
        if member in entry.observed_by:
            entry.duplicates += 1
            return Outcome("duplicate", key, member, entry.shared, ())
        entry.observed_by.append(member)
        entry.sighters.append(member)
        entry.sighting_seen_s.append(observed_s)
        entry.sighting = self._sighting(entry, time_s)
        return Outcome("sighting", key, member, entry.shared, (entry.sighting,))

    def _sighting(self, entry: _Entry, time_s: float) -> Any:
        modified = sim_time(self._epoch, time_s)
        if entry.sighting is not None and modified <= entry.sighting.modified:
            # A new version must be later than the last; two reports in one millisecond stay ordered.
            modified = entry.sighting.modified + timedelta(milliseconds=1)
        return sighting(
            entry.shared,
            where=[self._identities[m].id for m in entry.sighters],
            first_seen=sim_time(self._epoch, min(entry.sighting_seen_s)),
            last_seen=sim_time(self._epoch, max(entry.sighting_seen_s)),
            modified=modified,
            creator=HUB_IDENTITY.id,
        )

    def _entry(self, key: str) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            raise CyberRejected("unknown_key", f"no shared indicator has key {key!r}")
        return entry

    def flag(self, key: str, time_s: float) -> Mitigation:
        """The Joint Cyber Centre flags the shared indicator of ``key``; its mitigation.

        A repeated flag changes nothing and returns the first one's mitigation.

        Raises:
            CyberRejected: ``unknown_key``.
        """
        entry = self._entry(key)
        if entry.mitigation is not None:
            return entry.mitigation
        at = sim_time(self._epoch, time_s)
        coa = course_of_action(entry.observed, at=at, tlp=entry.tlp, creator=JCC_IDENTITY.id)
        entry.flagged_s = time_s
        entry.mitigation = Mitigation(
            key=key,
            course_of_action=coa,
            relationship=mitigates(coa, entry.shared, at=at, creator=JCC_IDENTITY.id),
            recipients=recipients(entry.tlp, entry.originator, self._members, self._others),
            tlp=entry.tlp,
        )
        return entry.mitigation

    def mitigation(self, key: str) -> Mitigation:
        """The mitigation of a flagged indicator.

        Raises:
            CyberRejected: ``unknown_key``, or ``not_flagged`` before the Joint Cyber Centre's flag.
        """
        entry = self._entry(key)
        if entry.mitigation is None:
            raise CyberRejected("not_flagged", f"the indicator of {key!r} is not flagged yet")
        return entry.mitigation

    def acknowledge(self, key: str, member: str, time_s: float) -> bool:
        """``member`` acknowledges the mitigation of ``key``; False when it already had.

        Raises:
            CyberRejected: ``unknown_key``, ``not_flagged``, or ``not_entitled`` when the
                indicator's TLP does not allow ``member`` to receive the mitigation.
        """
        mitigation = self.mitigation(key)
        if member not in mitigation.recipients:
            raise CyberRejected("not_entitled", f"{member!r} may not receive TLP:{mitigation.tlp.upper()}")
        acks = self._entries[key].acks
        if member in acks:
            return False
        acks[member] = time_s
        return True

    def metrics(self) -> dict[str, Any]:
        """The ``cyber`` section of the run summary.

        ``indicators``: one per key, in first-report order: ``key``, ``pattern`` (the shared,
        normalised one), ``observed_by`` (members in report order, the originator first),
        ``sightings`` (reports by members other than the originator), ``time_to_flag_s`` (first
        observation to the Joint Cyber Centre's flag; None before it) and
        ``time_to_mitigate_s`` (first observation to the acknowledgement of the last member
        entitled to the mitigation; None until every entitled member has acknowledged).

        ``duplicates_absorbed``: reports of a key by a member that had already reported it.

        ``analysis_saved``: the share of accepted reports that needed no new analysis, that is
        (sightings + duplicates) / reports, over all keys; 0.0 with no reports. In a campaign of
        one observable seen by 5 members, 4 of the 5 reports are sightings: 0.8.

        ``time_to_warning_s``: per member, from the first observation of an indicator to that
        member's acknowledgement of its mitigation, the smallest over the indicators it is
        entitled to; None when it acknowledged none.
        """
        indicators = []
        warned: dict[str, float] = {}
        sightings = duplicates = 0
        for key, e in self._entries.items():
            sightings += len(e.sighters)
            duplicates += e.duplicates
            mitigate_s = None
            if e.mitigation is not None:
                entitled = e.mitigation.recipients & frozenset(self._members)
                if entitled <= e.acks.keys():
                    mitigate_s = max(e.acks[m] for m in entitled) - e.first_observed_s
            for member, ack_s in e.acks.items():
                warned[member] = min(
                    warned.get(member, ack_s - e.first_observed_s), ack_s - e.first_observed_s
                )
            indicators.append(
                {
                    "key": key,
                    "pattern": pattern_of(e.observed),
                    "observed_by": _by_observation(e),
                    "sightings": len(e.sighters),
                    "time_to_flag_s": None if e.flagged_s is None else e.flagged_s - e.first_observed_s,
                    "time_to_mitigate_s": mitigate_s,
                }
            )
        return {
            "indicators": indicators,
            "duplicates_absorbed": duplicates,
            "analysis_saved": (sightings + duplicates) / self._reports if self._reports else 0.0,
            "time_to_warning_s": {m: warned.get(m) for m in self._members},
        }

    def bundle(self) -> Any:
        """Everything the exchange shared, as one STIX 2.1 bundle (deterministic given the epoch).

        Identities (hub, Joint Cyber Centre, reporting members), the TLP markings used, the ATT&CK
        attack patterns used, then per key: the shared indicator, its ``indicates`` relationship,
        the latest version of its sighting, the course of action and its ``mitigates``
        relationship.
        """
        reporters = {m for e in self._entries.values() for m in e.observed_by}
        objects: list[Any] = [HUB_IDENTITY, JCC_IDENTITY]
        objects += [self._identities[m] for m in self._members if m in reporters]
        objects += [marking_of(tlp) for tlp in Tlp if any(e.tlp is tlp for e in self._entries.values())]
        patterns = {
            attack_pattern_for(e.observed.kind).id: attack_pattern_for(e.observed.kind)
            for e in self._entries.values()
        }
        objects += [patterns[k] for k in sorted(patterns)]
        for e in self._entries.values():
            objects += [e.shared, e.relationship]
            if e.sighting is not None:
                objects.append(e.sighting)
            if e.mitigation is not None:
                objects += [e.mitigation.course_of_action, e.mitigation.relationship]
        return stix2.Bundle(
            id=stix_id("bundle", self._epoch.isoformat(), *self._entries), objects=objects, allow_custom=False
        )
