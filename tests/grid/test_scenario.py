"""Tests of scenario files and :func:`grid.scenario.load_scenario` error reporting."""

from __future__ import annotations

from pathlib import Path

import pytest

from grid.errors import ConfigError, ScenarioError
from grid.scenario import (
    DEFAULT_SCENARIO,
    Scenario,
    Threat,
    ThreatKind,
    default_scenario_path,
    load_scenario,
    scenario_from_dict,
)

# Line numbers below refer to this text (1-based).
BASE = """\
name: test
duration_s: 100
threats:
  - id: a
    speed_mps: 50
    altitude_m: 300
    path: [[44.0, 28.0], [44.1, 28.1]]
"""

SECOND_THREAT = """\
  - id: a
    speed_mps: 40
    altitude_m: 200
    path: [[44.0, 28.0], [44.2, 28.2]]
"""


def test_default_scenario_has_the_file_values() -> None:
    """The bundled default scenario loads with the values written in the file."""
    s = load_scenario()
    assert s.name == DEFAULT_SCENARIO == "western-black-sea-drone"
    assert s.description == "A single drone crossing from the western Black Sea toward Constanța."
    assert s.duration_s == 400
    assert s.seed == 7
    assert s.locate_radius_m == 150
    assert s.origin == (44.2, 28.8)
    assert len(s.threats) == 1
    uav = s.threats[0]
    assert uav.id == "uav-1"
    assert uav.kind is ThreatKind.DRONE
    assert uav.start_s == 5
    assert uav.speed_mps == 60
    assert uav.altitude_m == 300
    assert uav.path == [(44.25, 29.10), (44.15, 28.85)]
    assert uav.emits_rf is True


def test_default_scenario_path() -> None:
    """The default path is the bundled file, and loading it by path gives the same scenario."""
    path = default_scenario_path()
    assert path.is_file()
    assert path.name == f"{DEFAULT_SCENARIO}.yaml"
    assert load_scenario(path) == load_scenario(str(path)) == load_scenario()


def test_dump_then_load_is_equal() -> None:
    """scenario_from_dict(s.to_dict()) == s for the default scenario."""
    s = load_scenario()
    assert scenario_from_dict(s.to_dict()) == s


def test_dump_then_load_every_field() -> None:
    """A scenario with every optional field set survives to_dict / scenario_from_dict."""
    s = Scenario(
        name="full",
        description="all fields",
        duration_s=3_600.5,
        seed=3,
        locate_radius_m=500.0,
        origin=(43.5, 28.1),
        threats=[
            Threat(
                id="cm-1",
                kind=ThreatKind.CRUISE,
                start_s=12.5,
                speed_mps=250.0,
                altitude_m=50.0,
                path=[(44.0, 30.0), (44.1, 29.5), (44.2, 28.9)],
                emits_rf=False,
            ),
            Threat(
                id="fw.2",
                kind=ThreatKind.FIXED_WING,
                speed_mps=90.0,
                altitude_m=2_000.0,
                path=[(1, 2), (3, 4)],
            ),
        ],
    )
    assert scenario_from_dict(s.to_dict()) == s


def test_with_seed() -> None:
    """with_seed replaces the seed, and None keeps the scenario's own."""
    s = load_scenario()
    assert s.with_seed(None) is s
    reseeded = s.with_seed(42)
    assert reseeded.seed == 42
    assert reseeded.threats == s.threats
    assert s.seed == 7


def write(tmp_path: Path, text: str) -> Path:
    """Write ``text`` as a scenario file and return its path."""
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> ScenarioError:
    """The ScenarioError raised loading ``path``."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return info.value


def test_base_text_is_valid(tmp_path: Path) -> None:
    """The base text the broken files derive from loads, so each failure is due to its change."""
    s = load_scenario(write(tmp_path, BASE))
    assert s.threats[0].speed_mps == 50
    assert load_scenario(write(tmp_path, BASE + SECOND_THREAT.replace("id: a", "id: b"))).threats[1].id == "b"


@pytest.mark.parametrize(
    ("text", "field", "line", "word"),
    [
        (BASE.replace("duration_s: 100\n", ""), "duration_s", 1, "missing"),
        (BASE.replace("    speed_mps: 50\n", ""), "threats[0].speed_mps", 4, "missing"),
        (BASE + "colour: red\n", "colour", 8, "unknown key"),
        (
            BASE.replace("    altitude_m: 300\n", "    altitude_m: 300\n    colour: red\n"),
            "threats[0].colour",
            7,
            "unknown key",
        ),
        (BASE.replace("speed_mps: 50", "speed_mps: -5"), "threats[0].speed_mps", 5, "greater than 0"),
        (BASE.replace("speed_mps: 50", "speed_mps: fast"), "threats[0].speed_mps", 5, "number"),
        (BASE.replace("[[44.0, 28.0], [44.1, 28.1]]", "[[44.0, 28.0]]"), "threats[0].path", 7, "at least 2"),
        (
            BASE.replace("[[44.0, 28.0],", "[[100, 28.0],"),
            "threats[0].path[0][0]",
            7,
            "less than or equal to 90",
        ),
        (BASE + SECOND_THREAT, "threats[1].id", 8, "duplicate"),
        (
            BASE.replace("    speed_mps: 50\n", "    start_s: 100\n    speed_mps: 50\n"),
            "threats[0].start_s",
            5,
            "before",
        ),
        (BASE + "origin: [95, 28]\n", "origin[0]", 8, "less than or equal to 90"),
        (
            BASE.replace("    speed_mps: 50\n", "    kind: balloon\n    speed_mps: 50\n"),
            "threats[0].kind",
            5,
            "drone",
        ),
    ],
    ids=[
        "missing-top-level",
        "missing-in-threat",
        "unknown-top-level",
        "unknown-in-threat",
        "negative-speed",
        "string-speed",
        "one-point-path",
        "lat-100",
        "duplicate-id",
        "start-after-end",
        "origin-lat",
        "unknown-kind",
    ],
)
def test_broken_file(tmp_path: Path, text: str, field: str, line: int, word: str) -> None:
    """Each schema break names the file, the field path, the line and the problem."""
    path = write(tmp_path, text)
    err = error_of(path)
    assert err.file == str(path)
    assert err.field == field
    assert err.line == line
    assert word in err.problem
    assert str(err).startswith(f"{path}:{line}: {field}: ")


def test_invalid_yaml(tmp_path: Path) -> None:
    """YAML that does not parse is reported with its line and no field."""
    path = write(tmp_path, BASE.replace("name: test", "name: [test"))
    err = error_of(path)
    assert err.file == str(path)
    assert err.field == ""
    assert err.line == 2
    assert "not valid YAML" in err.problem


@pytest.mark.parametrize(("text", "got"), [("- a\n- b\n", "list"), ("", "NoneType"), ("just text\n", "str")])
def test_top_level_not_a_mapping(tmp_path: Path, text: str, got: str) -> None:
    """A file whose top level is not a mapping is refused as a whole-file problem."""
    path = write(tmp_path, text)
    err = error_of(path)
    assert err.file == str(path)
    assert err.field == ""
    assert err.line is None
    assert "expected a mapping" in err.problem
    assert got in err.problem


def test_missing_file(tmp_path: Path) -> None:
    """A file that does not exist is a ScenarioError naming it."""
    path = tmp_path / "nope.yaml"
    err = error_of(path)
    assert err.file == str(path)
    assert err.field == ""
    assert err.line is None
    assert "no such file" in err.problem


def test_directory_is_unreadable(tmp_path: Path) -> None:
    """A path that is a directory is refused as unreadable, not with a raw OSError."""
    err = error_of(tmp_path)
    assert err.file == str(tmp_path)
    assert "cannot read" in err.problem


def test_from_dict_errors_name_the_source() -> None:
    """scenario_from_dict reports under its source name, with no line when there is no YAML."""
    data = load_scenario().to_dict()
    data["threats"][0]["speed_mps"] = 0
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, source="<message>")
    assert info.value.file == "<message>"
    assert info.value.field == "threats[0].speed_mps"
    assert info.value.line is None
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict([1, 2])
    assert info.value.file == "<scenario>"


def test_scenario_error_is_a_config_error(tmp_path: Path) -> None:
    """Scenario errors are ConfigErrors, so the CLI can report them all alike."""
    with pytest.raises(ConfigError):
        load_scenario(tmp_path / "nope.yaml")


def test_models_are_frozen() -> None:
    """A loaded scenario cannot be changed in place."""
    s = load_scenario()
    with pytest.raises(ValueError, match="frozen"):
        s.seed = 3  # type: ignore[misc]
