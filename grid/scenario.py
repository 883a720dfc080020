"""Scenario files: YAML in ``scenarios/``, read with ``yaml.safe_load`` into frozen, validated models.

A scenario that breaks the schema is refused before anything starts, with the file, the line,
the field path and what was expected (:class:`~grid.errors.ScenarioError`). Unknown keys are
errors, not silently ignored.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grid.errors import ScenarioError

__all__ = [
    "DEFAULT_SCENARIO",
    "Scenario",
    "Threat",
    "ThreatKind",
    "default_scenario_path",
    "load_scenario",
    "scenario_from_dict",
]

DEFAULT_SCENARIO = "western-black-sea-drone"

_LatLon = Annotated[
    tuple[Annotated[float, Field(ge=-90, le=90)], Annotated[float, Field(ge=-180, le=180)]],
    Field(description="[lat, lon] in WGS84 degrees"),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThreatKind(StrEnum):
    """Kinds of threat; the spine flies each at constant speed and altitude along its path."""

    DRONE = "drone"
    FIXED_WING = "fixed_wing"
    CRUISE = "cruise"


class Threat(_Strict):
    """One simulated target flying its waypoints in order, then gone."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")]
    kind: ThreatKind = ThreatKind.DRONE
    start_s: Annotated[float, Field(ge=0)] = 0.0
    speed_mps: Annotated[float, Field(gt=0, le=1500)]
    altitude_m: Annotated[float, Field(ge=0, le=20_000)]
    path: Annotated[list[_LatLon], Field(min_length=2, max_length=500)]
    emits_rf: bool = True  # whether passive RF direction finders can hear it


class Scenario(_Strict):
    """A scripted run: threats over a time span, with a seed for every random draw."""

    name: Annotated[str, Field(min_length=1, max_length=80)]
    description: str = ""
    duration_s: Annotated[float, Field(gt=0, le=86_400)]
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    locate_radius_m: Annotated[float, Field(gt=0, le=100_000)] = 150.0
    origin: _LatLon = (44.2, 28.8)  # theater tangent-plane origin used for estimation and metrics
    threats: Annotated[list[Threat], Field(min_length=1, max_length=1000)]

    @model_validator(mode="after")
    def _check(self) -> Self:
        seen: set[str] = set()
        for i, threat in enumerate(self.threats):
            if threat.id in seen:
                raise ValueError(f"threats[{i}].id: duplicate threat id {threat.id!r}")
            seen.add(threat.id)
            if threat.start_s >= self.duration_s:
                raise ValueError(
                    f"threats[{i}].start_s: {threat.start_s} is not before duration_s {self.duration_s}"
                )
        return self

    def with_seed(self, seed: int | None) -> Scenario:
        """This scenario with ``seed`` replacing its own (``None`` keeps it)."""
        if seed is None:
            return self
        return scenario_from_dict({**self.to_dict(), "seed": seed}, source=f"{self.name} with --seed {seed}")

    def to_dict(self) -> dict[str, Any]:
        """A plain map that :func:`scenario_from_dict` reads back to an equal scenario."""
        return self.model_dump(mode="json")


def default_scenario_path() -> Path:
    """The bundled default scenario (source tree first, then the copy inside the wheel)."""
    here = Path(__file__).resolve().parent
    for folder in (here.parent / "scenarios", here / "_data" / "scenarios"):
        candidate = folder / f"{DEFAULT_SCENARIO}.yaml"
        if candidate.is_file():
            return candidate
    return here.parent / "scenarios" / f"{DEFAULT_SCENARIO}.yaml"


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the YAML node at ``loc`` (the deepest node that exists)."""
    node = root
    line = None if node is None else node.start_mark.line + 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _expected(err: Any) -> str:
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return "unknown key (not part of the scenario format)"
    if err["type"] == "missing":
        return "required field is missing"
    got = err.get("input")
    if isinstance(got, dict | list):
        return msg
    return f"{msg} (got {got!r})"


def scenario_from_dict(
    data: Any, *, source: str = "<scenario>", yaml_root: yaml.Node | None = None
) -> Scenario:
    """Validate a decoded scenario map; raises :class:`ScenarioError` naming the field."""
    if not isinstance(data, dict):
        raise ScenarioError(source, "", f"expected a mapping at the top level, got {type(data).__name__}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        msg = str(err["msg"])
        if err["type"] == "value_error" and ": " in msg:  # a cross-field check naming its own path
            path, _, problem = msg.removeprefix("Value error, ").partition(": ")
            return _raise(source, path, problem, yaml_root, _parse_path(path))
        return _raise(source, _field_path(loc), _expected(err), yaml_root, loc)


def _parse_path(path: str) -> tuple[int | str, ...]:
    out: list[int | str] = []
    for part in path.replace("]", "").replace("[", ".").split("."):
        if part:
            out.append(int(part) if part.isdigit() else part)
    return tuple(out)


def _raise(
    source: str, path: str, problem: str, root: yaml.Node | None, loc: tuple[int | str, ...]
) -> Scenario:
    raise ScenarioError(source, path, problem, line=_line_of(root, loc))


def load_scenario(path: Path | str | None = None) -> Scenario:
    """Read and validate a scenario file (default: the bundled default scenario)."""
    file = Path(path) if path is not None else default_scenario_path()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(str(file), "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(file), "", f"cannot read: {exc}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = None if mark is None else mark.line + 1
        raise ScenarioError(
            str(file), "", f"not valid YAML: {getattr(exc, 'problem', exc)}", line=line
        ) from exc
    return scenario_from_dict(data, source=str(file), yaml_root=root)
