"""The member-state roster: one YAML file per member state in ``nodes/``.

A member state runs one node. Each node belongs to one or more *grids* (overlapping sharing
groups) and owns sensors: fixed ground sites or, for the airborne early-warning platform, a
circular orbit. Files are validated strictly (unknown keys are errors). ``nodes/README.md`` is
the file format reference.

Sensor parameters (units: metres, seconds, degrees, m², dB; defaults in brackets):

- ``period_s`` [1]: time between scans. ``range_m``: instrumented range, nothing beyond it is
  reported. ``min_range_m`` [0]: blind zone. ``sigma_*``: measurement noise standard deviations.
- ``pd`` [0.9]: detection probability of a target in coverage; for a radar or AEW with the radar
  equation (``ref_range_m`` set) it is the ceiling, multiplied by the SNR-based probability.
- ``ref_range_m`` [none; radar and aew only]: range at which a target of ``ref_rcs_m2`` [1]
  gives a signal-to-noise ratio of ``ref_snr_db`` [13]; ``pfa`` [1e-6] is the false-alarm
  probability the detection threshold is set for (see :mod:`grid.world.sensors`). Without
  ``ref_range_m`` a radar detects with the constant ``pd`` within range.
- ``false_alarm_rate`` [0]: mean number of false alarms (clutter) per scan, Poisson.
- Line of sight: radars, AEW and RF direction finders need it over the 4/3-Earth horizon,
  from the site's (or orbit's) ``alt_m`` (the antenna height above the ellipsoid); acoustic
  arrays do not.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grid.bundled import bundled_dir
from grid.errors import FileProblem, RosterError, UnknownNodeError
from grid.world.schema_errors import field_path, problems
from grid.world.yaml_text import read_yaml

__all__ = [
    "GeoPoint",
    "MemberState",
    "Orbit",
    "Roster",
    "SensorKind",
    "SensorSpec",
    "default_roster_dir",
    "load_roster",
    "member_from_yaml",
]

_ID = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SensorKind(StrEnum):
    """What a sensor measures."""

    RADAR = "radar"  # range, bearing, elevation
    RF_DF = "rf_df"  # passive RF direction finder: bearing of emitting targets
    ACOUSTIC = "acoustic"  # acoustic array: bearing, short range
    AEW = "aew"  # airborne early-warning radar on an orbit: range, bearing, elevation

    @property
    def measures_range(self) -> bool:
        """Whether reports of this kind carry a range."""
        return self in (SensorKind.RADAR, SensorKind.AEW)

    @property
    def line_of_sight(self) -> bool:
        """Whether this kind sees only targets above its radio horizon (not acoustic arrays)."""
        return self is not SensorKind.ACOUSTIC


class GeoPoint(_Strict):
    """A WGS84 point."""

    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    alt_m: Annotated[float, Field(ge=-500, le=20000)] = 0.0


class Orbit(_Strict):
    """A circular orbit flown at constant speed, clockwise seen from above."""

    center: GeoPoint
    radius_m: Annotated[float, Field(gt=0, le=200_000)]
    speed_mps: Annotated[float, Field(gt=0, le=400)]
    phase_deg: float = 0.0  # bearing from the centre at t = 0

    def position_enu_offset(self, t: float) -> tuple[float, float]:
        """(east, north) offset from the orbit centre at simulation time ``t``."""
        angle = math.radians(self.phase_deg) + self.speed_mps * t / self.radius_m
        return self.radius_m * math.sin(angle), self.radius_m * math.cos(angle)


class SensorSpec(_Strict):
    """One sensor. Units: metres, seconds, degrees."""

    id: _ID
    kind: SensorKind
    site: GeoPoint | None = None
    orbit: Orbit | None = None
    period_s: Annotated[float, Field(gt=0, le=600)] = 1.0
    range_m: Annotated[float, Field(gt=0, le=600_000)]
    min_range_m: Annotated[float, Field(ge=0)] = 0.0
    pd: Annotated[float, Field(gt=0, le=1)] = 0.9
    sigma_bearing_deg: Annotated[float, Field(gt=0, le=30)] = 1.0
    sigma_range_m: Annotated[float, Field(gt=0, le=10_000)] | None = None
    sigma_elevation_deg: Annotated[float, Field(gt=0, le=30)] | None = None
    ref_range_m: Annotated[float, Field(gt=0, le=2_000_000)] | None = None
    ref_rcs_m2: Annotated[float, Field(gt=0, le=10_000)] = 1.0
    ref_snr_db: Annotated[float, Field(ge=-30, le=60)] = 13.0
    pfa: Annotated[float, Field(gt=0, lt=1)] = 1e-6
    false_alarm_rate: Annotated[float, Field(ge=0, le=20)] = 0.0

    @model_validator(mode="after")
    def _check_geometry(self) -> Self:
        if self.kind is SensorKind.AEW:
            if self.orbit is None or self.site is not None:
                raise ValueError("an aew sensor needs an 'orbit' and no 'site'")
        elif self.site is None or self.orbit is not None:
            raise ValueError(f"a {self.kind.value} sensor needs a 'site' and no 'orbit'")
        if self.kind.measures_range:
            if self.sigma_range_m is None or self.sigma_elevation_deg is None:
                raise ValueError(f"a {self.kind.value} sensor needs sigma_range_m and sigma_elevation_deg")
        elif self.sigma_range_m is not None:
            raise ValueError(f"a {self.kind.value} sensor measures no range: drop sigma_range_m")
        radar_keys = sorted({"ref_range_m", "ref_rcs_m2", "ref_snr_db", "pfa"} & self.model_fields_set)
        if radar_keys and not self.kind.measures_range:
            raise ValueError(
                f"a {self.kind.value} sensor has no radar equation: drop {', '.join(radar_keys)}"
            )
        if radar_keys and self.ref_range_m is None:
            raise ValueError(f"{', '.join(radar_keys)} without ref_range_m: give ref_range_m too")
        if self.min_range_m >= self.range_m:
            raise ValueError("min_range_m must be below range_m")
        return self


class MemberState(_Strict):
    """One member state: its node id, sharing grids and sensors."""

    id: _ID
    name: str
    grids: Annotated[list[_ID], Field(min_length=1)]
    sensors: Annotated[list[SensorSpec], Field(min_length=1)]


class Roster(Mapping[str, MemberState]):
    """All member states, keyed by node id, in a stable order."""

    def __init__(self, members: list[MemberState]) -> None:
        self._members = {m.id: m for m in sorted(members, key=lambda m: m.id)}

    def __getitem__(self, node_id: str) -> MemberState:
        return self._members[node_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def member(self, node_id: str) -> MemberState:
        """The member state for ``node_id``, or :class:`UnknownNodeError`."""
        try:
            return self._members[node_id]
        except KeyError:
            raise UnknownNodeError(node_id, list(self._members)) from None

    @property
    def grids(self) -> dict[str, list[str]]:
        """Grid name -> member node ids."""
        out: dict[str, list[str]] = {}
        for m in self._members.values():
            for g in m.grids:
                out.setdefault(g, []).append(m.id)
        return dict(sorted(out.items()))

    def peers(self, node_id: str) -> tuple[str, ...]:
        """Sorted ids of the other members sharing at least one grid with ``node_id``: whose
        reports it receives, and who receives its own (:class:`UnknownNodeError` if not a member)."""
        grids = set(self.member(node_id).grids)
        return tuple(m.id for m in self._members.values() if m.id != node_id and grids & set(m.grids))

    def sensor_owner(self) -> dict[str, str]:
        """Sensor id -> node id."""
        return {s.id: m.id for m in self._members.values() for s in m.sensors}


def default_roster_dir() -> Path:
    """``nodes/`` of the source tree, else the copy packaged inside the wheel."""
    return bundled_dir("nodes")


def _load_member(file: Path) -> MemberState:
    """One member-state file, validated; every schema problem of it in one :class:`RosterError`."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise RosterError(str(file), f"cannot read: {exc}") from exc
    return member_from_yaml(data, source=str(file))


def member_from_yaml(data: bytes | str, *, source: str) -> MemberState:
    """A member-state file's text (named ``source`` in errors), validated: a :class:`RosterError`."""
    read = read_yaml(data)
    if isinstance(read, FileProblem):
        raise RosterError.of(source, [read])
    root, loaded = read
    try:
        return MemberState.model_validate(loaded)
    except ValidationError as exc:
        found = problems(exc, model=MemberState, tags=(), kinds=(), yaml_root=root)
        raise RosterError.of(
            source, [FileProblem(field_path(loc), message, line) for loc, message, line in found]
        ) from None


def load_roster(directory: Path | None = None) -> Roster:
    """Load and validate every ``*.yaml`` file of ``directory`` (default: :func:`default_roster_dir`)."""
    directory = directory or default_roster_dir()
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise RosterError(str(directory), "no member-state files (*.yaml) found")
    members: list[MemberState] = []
    for f in files:
        members.append(_load_member(f))
    seen_nodes: dict[str, str] = {}
    seen_sensors: dict[str, str] = {}
    for f, m in zip(files, members, strict=True):
        if m.id in seen_nodes:
            raise RosterError(str(f), f"node id {m.id!r} also used in {seen_nodes[m.id]}")
        seen_nodes[m.id] = str(f)
        for s in m.sensors:
            if s.id in seen_sensors:
                raise RosterError(str(f), f"sensor id {s.id!r} also used in {seen_sensors[s.id]}")
            seen_sensors[s.id] = str(f)
    return Roster(members)
