"""Scenario files: YAML in ``scenarios/``, read with ``yaml.safe_load`` into frozen, validated models.

A scenario that breaks the schema is refused before anything starts, with the file, the line,
the field path, the bad value and what was expected (:class:`~grid.errors.ScenarioError`).
Unknown keys are errors, not silently ignored. ``scenarios/README.md`` is the format reference.

Threats (``threats:``, one or more) fly a :class:`~grid.world.flight.FlightPlan` from ``start_s``:

- ``kind``: ``drone`` (default), ``fixed_wing``, ``cruise`` or ``swarm``.
- ``rcs_m2``: radar cross-section in m²; default by kind: drone 0.01, fixed_wing 1, cruise 0.1.
- ``emits_rf``: whether passive RF direction finders can hear it; default true for drone and
  fixed_wing, false for cruise.
- ``kind: swarm``: ``count`` members (2..200) of ``member_kind`` (default drone; its RCS and RF
  defaults apply to each member) fly the leader's plan, each shifted by a fixed offset in the
  theater plane: ``offsets_m`` ([[east, north], ...], one per member) or, with ``spread_m``, an
  offset drawn uniformly in a disc of that radius from the scenario seed and the swarm id. The
  members are threats of their own, with ids ``<id>.1`` .. ``<id>.<count>``; the leader is not.

Events (``events:``, optional) are described in :mod:`grid.world.events`. Checks that need the roster
(node and sensor ids) are in :func:`validate_against_roster`.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import math
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grid.bundled import bundled_dir
from grid.errors import FileProblem, ScenarioError
from grid.geo import LocalFrame
from grid.world.events import (
    EVENT_KINDS,
    BrokerOutage,
    CyberCampaign,
    Event,
    Forgery,
    LinkImpairment,
    NodeOutage,
    SensorFailure,
    Spoofing,
)
from grid.world.flight import PATH_ITEM_TAGS, FlightPlan, LatLon, LoiterItem, Waypoint
from grid.world.roster import Roster
from grid.world.schema_errors import field_path, line_of, parse_path, problems
from grid.world.yaml_text import read_yaml

__all__ = [
    "DEFAULT_EMITS_RF",
    "DEFAULT_RCS_M2",
    "DEFAULT_SCENARIO",
    "Scenario",
    "Threat",
    "ThreatKind",
    "default_scenario_path",
    "load_scenario",
    "scenario_from_dict",
    "scenario_from_yaml",
    "validate_against_roster",
    "validate_paths",
]

DEFAULT_SCENARIO = "western-black-sea-drone"
_UNION_TAGS = PATH_ITEM_TAGS | set(EVENT_KINDS)


class ThreatKind(StrEnum):
    """Kinds of threat."""

    DRONE = "drone"  # rotary, slow, small
    FIXED_WING = "fixed_wing"
    CRUISE = "cruise"
    SWARM = "swarm"  # several members of member_kind around a leader plan


DEFAULT_RCS_M2 = {ThreatKind.DRONE: 0.01, ThreatKind.FIXED_WING: 1.0, ThreatKind.CRUISE: 0.1}
DEFAULT_EMITS_RF = {ThreatKind.DRONE: True, ThreatKind.FIXED_WING: True, ThreatKind.CRUISE: False}
_SWARM_ONLY = ("count", "spread_m", "offsets_m", "member_kind")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Threat(FlightPlan):
    """One simulated target (or swarm) flying its path in order from ``start_s``, then gone."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")]
    kind: ThreatKind = ThreatKind.DRONE
    start_s: Annotated[float, Field(ge=0)] = 0.0
    rcs_m2: Annotated[float, Field(gt=0, le=10_000)] = 0.01  # default by kind: see _kind_defaults
    emits_rf: bool = True  # default by kind: see _kind_defaults
    count: Annotated[int, Field(ge=2, le=200)] | None = None
    spread_m: Annotated[float, Field(gt=0, le=100_000)] | None = None
    offsets_m: list[tuple[float, float]] | None = None
    member_kind: ThreatKind | None = None

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kind = (
            (data.get("member_kind") or "drone") if data.get("kind") == "swarm" else data.get("kind", "drone")
        )
        try:
            resolved = ThreatKind(kind)
        except ValueError:
            return data  # the field check reports the bad kind
        if resolved is ThreatKind.SWARM:
            return data
        return {"rcs_m2": DEFAULT_RCS_M2[resolved], "emits_rf": DEFAULT_EMITS_RF[resolved], **data}

    @model_validator(mode="after")
    def _check_swarm(self) -> Self:
        if self.kind is not ThreatKind.SWARM:
            found = [
                f"{key}: only a swarm has {key} (kind is {self.kind.value})"
                for key in _SWARM_ONLY
                if getattr(self, key) is not None
            ]
            if found:
                raise ValueError("\n".join(found))
            return self
        if self.count is None:
            raise ValueError("count: required field is missing (a swarm needs its number of members)")
        if self.member_kind is ThreatKind.SWARM:
            raise ValueError(
                "member_kind: a swarm's members cannot be swarms; expected drone, fixed_wing or cruise"
            )
        if (self.spread_m is None) == (self.offsets_m is None):
            raise ValueError("spread_m: give exactly one of spread_m or offsets_m for a swarm")
        if self.offsets_m is not None and len(self.offsets_m) != self.count:
            raise ValueError(
                f"offsets_m: {len(self.offsets_m)} offsets given; expected one per member ({self.count})"
            )
        if len(self.id) + 1 + len(str(self.count)) > 48:
            raise ValueError(
                f"id: {self.id!r} is too long for member ids like '{self.id}.{self.count}' (48 at most)"
            )
        return self

    def member_ids(self) -> list[str]:
        """The ids of the threats this entry puts in the air: its own, or one per swarm member."""
        if self.count is None:
            return [self.id]
        return [f"{self.id}.{k}" for k in range(1, self.count + 1)]

    def member_offsets(self, seed: int) -> list[tuple[float, float]]:
        """(east, north) offsets in metres of each swarm member from the leader (deterministic)."""
        if self.offsets_m is not None:
            return list(self.offsets_m)
        assert self.count is not None  # only called for swarms
        assert self.spread_m is not None
        digest = hashlib.sha256(self.id.encode()).digest()
        rng = np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])
        radius = self.spread_m * np.sqrt(rng.random(self.count))
        angle = 2 * math.pi * rng.random(self.count)
        return [(float(r * math.sin(a)), float(r * math.cos(a))) for r, a in zip(radius, angle, strict=True)]


def _shift(item: Any, frame: LocalFrame, offset: tuple[float, float]) -> Any:
    """A path item moved by ``offset`` metres in ``frame``'s plane."""

    def moved(lat: float, lon: float) -> tuple[float, float]:
        e, n = (float(v) for v in frame.to_enu(lat, lon, 0.0)[:2])
        new_lat, new_lon, _ = frame.surface_point(e + offset[0], n + offset[1], 0.0)
        return new_lat, new_lon

    if isinstance(item, LoiterItem):
        return LoiterItem(loiter=item.loiter.model_copy(update={"center": moved(*item.loiter.center)}))
    if isinstance(item, Waypoint):
        lat, lon = moved(item.lat, item.lon)
        return item.model_copy(update={"lat": lat, "lon": lon})
    return moved(*item)


class Scenario(_Strict):
    """A scripted run: threats and events over a time span, with a seed for every random draw."""

    name: Annotated[str, Field(min_length=1, max_length=80)]
    description: str = ""
    duration_s: Annotated[float, Field(gt=0, le=86_400)]
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    locate_radius_m: Annotated[float, Field(gt=0, le=100_000)] = 150.0
    origin: LatLon = (44.2, 28.8)  # theater tangent-plane origin used for estimation and metrics
    threats: Annotated[list[Threat], Field(min_length=1, max_length=1000)]
    events: Annotated[list[Event], Field(max_length=10_000)] = []

    @model_validator(mode="after")
    def _check(self) -> Self:
        found: list[str] = []  # every problem, one "field.path: message" a line
        seen: set[str] = set()
        for i, threat in enumerate(self.threats):
            for member in threat.member_ids():
                if member in seen:
                    found.append(f"threats[{i}].id: duplicate threat id {member!r}")
                seen.add(member)
            if threat.start_s >= self.duration_s:
                found.append(
                    f"threats[{i}].start_s: {threat.start_s} is not before duration_s {self.duration_s}"
                )
        found += self._check_events(seen)
        if found:
            raise ValueError("\n".join(found))
        return self

    def _check_events(self, threat_ids: set[str]) -> list[str]:
        found: list[str] = []
        outages: list[tuple[float, float, int]] = []
        found += _phantom_problems(self.events, threat_ids)
        for i, event in enumerate(self.events):
            where = f"events[{i}]"
            if event.at_s >= self.duration_s:
                found.append(f"{where}.at_s: {event.at_s} is not before duration_s {self.duration_s}")
            if event.duration_s is not None and event.end_s > self.duration_s:
                found.append(
                    f"{where}.duration_s: {event.duration_s} runs past the end of the scenario; expected "
                    f"at most {self.duration_s - event.at_s:g} (duration_s {self.duration_s:g} minus at_s)"
                )
            if isinstance(event, BrokerOutage):
                outages.append((event.at_s, event.end_s, i))
            if isinstance(event, CyberCampaign):
                end = min(event.end_s, self.duration_s)
                for j, obs in enumerate(event.observables):
                    for k, sighting in enumerate(obs.observed_by):
                        if not event.at_s <= sighting.at_s <= end:
                            found.append(
                                f"{where}.observables[{j}].observed_by[{k}].at_s: {sighting.at_s} is outside "
                                f"the campaign; expected from at_s {event.at_s:g} to {end:g}"
                            )
        outages.sort()
        for (_, end, _), (start, _, i) in itertools.pairwise(outages):
            if start < end:
                found.append(f"events[{i}].at_s: {start} is during another broker outage (ending at {end:g})")
        return found

    def expanded_threats(self) -> list[Threat]:
        """Every threat that flies, in scenario order, each swarm replaced by its members."""
        frame = LocalFrame(*self.origin)
        out: list[Threat] = []
        for threat in self.threats:
            if threat.kind is not ThreatKind.SWARM:
                out.append(threat)
                continue
            member_kind = threat.member_kind or ThreatKind.DRONE
            common = threat.model_dump(exclude={"id", "kind", "path", *_SWARM_ONLY})
            for member_id, offset in zip(threat.member_ids(), threat.member_offsets(self.seed), strict=True):
                path = [_shift(item, frame, offset) for item in threat.path]
                out.append(Threat(**common, id=member_id, kind=member_kind, path=path))
        return out

    def with_seed(self, seed: int | None) -> Scenario:
        """This scenario with ``seed`` replacing its own (``None`` keeps it)."""
        if seed is None:
            return self
        return scenario_from_dict({**self.to_dict(), "seed": seed}, source=f"{self.name} with --seed {seed}")

    def to_dict(self) -> dict[str, Any]:
        """A plain map that :func:`scenario_from_dict` reads back to an equal scenario."""
        return self.model_dump(mode="json", exclude_none=True)


def _phantom_problems(events: list[Event], threat_ids: set[str]) -> list[str]:
    """Each phantom (spoofing, forgery) needs an id of its own: no threat's, no other phantom's."""
    found: list[str] = []
    phantoms: set[str] = set()
    for i, event in enumerate(events):
        if not isinstance(event, Spoofing | Forgery):
            continue
        where, pid = f"events[{i}].phantom.id", event.phantom.id
        if pid in threat_ids:
            found.append(f"{where}: {pid!r} is a threat id; expected a new id")
        elif pid in phantoms:
            found.append(f"{where}: {pid!r} is another event's phantom; expected a new id")
        phantoms.add(pid)
    return found


def default_scenario_path() -> Path:
    """The bundled default scenario (source tree first, then the copy inside the wheel)."""
    return bundled_dir("scenarios") / f"{DEFAULT_SCENARIO}.yaml"


def scenario_from_dict(
    data: Any, *, source: str = "<scenario>", yaml_root: yaml.Node | None = None
) -> Scenario:
    """Validate a decoded scenario map; raises :class:`ScenarioError` naming every problem's field."""
    if not isinstance(data, dict):
        raise ScenarioError(source, "", f"expected a mapping at the top level, got {type(data).__name__}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        found = problems(exc, model=Scenario, tags=_UNION_TAGS, kinds=EVENT_KINDS, yaml_root=yaml_root)
        raise ScenarioError.of(
            source, [FileProblem(field_path(loc), message, line) for loc, message, line in found]
        ) from None


# --- checks against the roster ---------------------------------------------------------------------


def _unknown(what: str, value: str, known: list[str], *, list_all: bool) -> str:
    if list_all:
        return f"unknown {what} {value!r}; expected one of: {', '.join(known)}"
    close = difflib.get_close_matches(value, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {value!r}; expected a {what} of the roster{hint}"


def validate_against_roster(
    scenario: Scenario, roster: Roster, *, source: str = "<scenario>", yaml_root: yaml.Node | None = None
) -> None:
    """Check the node and sensor ids a scenario names against ``roster``; raises :class:`ScenarioError`.

    Every unknown id is reported, not only the first.
    """
    nodes = list(roster)
    sensors = sorted(roster.sensor_owner())
    found: list[FileProblem] = []

    def fail(path: str, problem: str) -> None:
        found.append(FileProblem(path, problem, line_of(yaml_root, parse_path(path))))

    for i, event in enumerate(scenario.events):
        if isinstance(event, NodeOutage | LinkImpairment | Spoofing) and event.node not in roster:
            fail(f"events[{i}].node", _unknown("node id", event.node, nodes, list_all=True))
        if isinstance(event, Forgery) and event.as_node not in roster:
            fail(f"events[{i}].as_node", _unknown("node id", event.as_node, nodes, list_all=True))
        if isinstance(event, SensorFailure) and event.sensor not in sensors:
            fail(f"events[{i}].sensor", _unknown("sensor id", event.sensor, sensors, list_all=False))
        if isinstance(event, CyberCampaign):
            for j, obs in enumerate(event.observables):
                for k, sighting in enumerate(obs.observed_by):
                    if sighting.node not in roster:
                        path = f"events[{i}].observables[{j}].observed_by[{k}].node"
                        fail(path, _unknown("node id", sighting.node, nodes, list_all=True))
    if found:
        raise ScenarioError.of(source, found)


def load_scenario(path: Path | str | None = None, *, roster: Roster | None = None) -> Scenario:
    """Read and validate a scenario file (default: the bundled one), and against ``roster`` if given."""
    file = Path(path) if path is not None else default_scenario_path()
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(str(file), "", "no such file") from None
    except OSError as exc:
        raise ScenarioError(str(file), "", f"cannot read: {exc}") from exc
    return scenario_from_yaml(data, source=str(file), roster=roster)


def scenario_from_yaml(data: bytes | str, *, source: str, roster: Roster | None = None) -> Scenario:
    """Validate a scenario file's text (named ``source`` in errors), and against ``roster`` if given."""
    read = read_yaml(data)
    if isinstance(read, FileProblem):
        raise ScenarioError.of(source, [read])
    root, loaded = read
    scenario = scenario_from_dict(loaded, source=source, yaml_root=root)
    if roster is not None:
        validate_against_roster(scenario, roster, source=source, yaml_root=root)
    return scenario


def validate_paths(paths: Iterable[Path | str], roster: Roster) -> list[tuple[Path, ScenarioError | None]]:
    """Load and check each file without running it: (path, the error or None), in order."""
    out: list[tuple[Path, ScenarioError | None]] = []
    for path in paths:
        try:
            load_scenario(path, roster=roster)
        except ScenarioError as exc:
            out.append((Path(path), exc))
        else:
            out.append((Path(path), None))
    return out
