"""Tests of scenario files and :func:`grid.world.scenario.load_scenario` error reporting."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from grid.errors import ConfigError, ScenarioError
from grid.geo import LocalFrame
from grid.world.flight import LoiterItem, Turn, Waypoint
from grid.world.roster import Roster
from grid.world.scenario import (
    DEFAULT_SCENARIO,
    Scenario,
    Threat,
    ThreatKind,
    default_scenario_path,
    load_scenario,
    scenario_from_dict,
    validate_paths,
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


# --- threat kinds, flight plans and swarms ---------------------------------------------------------


def threat_of(**fields: object) -> Threat:
    """A threat from a YAML-like map with a default two-point path."""
    data: dict[str, object] = {
        "id": "t",
        "speed_mps": 50,
        "altitude_m": 300,
        "path": [[44.0, 28.0], [44.1, 28.1]],
    }
    return Threat.model_validate({**data, **fields})


@pytest.mark.parametrize(
    ("kind", "rcs", "emits"),
    [("drone", 0.01, True), ("fixed_wing", 1.0, True), ("cruise", 0.1, False)],
)
def test_rcs_and_rf_defaults_by_kind(kind: str, rcs: float, emits: bool) -> None:
    """rcs_m2 and emits_rf default by kind, and explicit values win."""
    t = threat_of(kind=kind)
    assert (t.rcs_m2, t.emits_rf) == (rcs, emits)
    assert threat_of(kind=kind, rcs_m2=7.5, emits_rf=not emits).rcs_m2 == 7.5
    assert threat_of(kind=kind, emits_rf=not emits).emits_rf is (not emits)


def test_swarm_defaults_come_from_member_kind() -> None:
    """A swarm's RCS and RF defaults are those of its member kind (drone unless given)."""
    drones = threat_of(kind="swarm", count=3, spread_m=200)
    cruise = threat_of(kind="swarm", count=3, spread_m=200, member_kind="cruise")
    assert (drones.rcs_m2, drones.emits_rf) == (0.01, True)
    assert (cruise.rcs_m2, cruise.emits_rf) == (0.1, False)


def swarm_scenario(seed: int, **fields: object) -> Scenario:
    """A scenario holding one five-member swarm spread over 400 m, and a drone."""
    swarm = {"id": "sw", "kind": "swarm", "count": 5, "spread_m": 400, **fields}
    return scenario_from_dict(
        {
            "name": "swarm",
            "duration_s": 600,
            "seed": seed,
            "threats": [
                {**swarm, "speed_mps": 40, "altitude_m": 150, "path": [[44.0, 28.9], [44.2, 28.7]]},
                {"id": "uav", "speed_mps": 60, "altitude_m": 300, "path": [[44.0, 28.0], [44.1, 28.1]]},
            ],
        }
    )


def test_swarm_expands_to_members_with_stable_ids_and_offsets() -> None:
    """Members are <id>.1..<id>.count, offset within spread_m, the same for the same seed."""
    s = swarm_scenario(seed=4)
    members = s.expanded_threats()
    assert [t.id for t in members] == ["sw.1", "sw.2", "sw.3", "sw.4", "sw.5", "uav"]
    assert all(t.kind is ThreatKind.DRONE for t in members)
    offsets = s.threats[0].member_offsets(4)
    assert len(offsets) == 5
    assert all(0 < math.hypot(*o) <= 400.0 for o in offsets)
    assert len(set(offsets)) == 5
    assert offsets == swarm_scenario(seed=4).threats[0].member_offsets(4)
    assert swarm_scenario(seed=5).threats[0].member_offsets(5) != offsets
    assert [t.path for t in swarm_scenario(seed=4).expanded_threats()] == [t.path for t in members]
    frame = LocalFrame(*s.origin)
    lead = frame.to_enu(*s.threats[0].path[0], 0.0)[:2]  # type: ignore[misc]
    for member, offset in zip(members, offsets, strict=False):
        start = frame.to_enu(*member.path[0], 0.0)[:2]  # type: ignore[misc]
        np.testing.assert_allclose(start - lead, offset, atol=0.01)


def test_swarm_explicit_offsets() -> None:
    """offsets_m gives each member's offset as written."""
    s = swarm_scenario(seed=1, spread_m=None, count=2, offsets_m=[[100, 0], [0, -250]])
    assert s.threats[0].member_offsets(1) == [(100.0, 0.0), (0.0, -250.0)]
    assert [t.id for t in s.expanded_threats()][:2] == ["sw.1", "sw.2"]


def test_path_forms_round_trip() -> None:
    """Points, waypoint maps and loiters load and survive to_dict / scenario_from_dict."""
    s = scenario_from_dict(
        {
            "name": "forms",
            "duration_s": 900,
            "threats": [
                {
                    "id": "fw",
                    "kind": "fixed_wing",
                    "path": [
                        {"lat": 44.0, "lon": 28.0, "speed_mps": 120, "alt_m": 2_000},
                        [44.1, 28.1],
                        {
                            "loiter": {
                                "center": [44.2, 28.2],
                                "radius_m": 5_000,
                                "turns": 1.5,
                                "direction": "ccw",
                            }
                        },
                        {"lat": 44.3, "lon": 28.3, "alt_m": 500},
                        [44.4, 28.4],
                    ],
                }
            ],
        }
    )
    path = s.threats[0].path
    assert isinstance(path[0], Waypoint)
    assert path[1] == (44.1, 28.1)
    assert isinstance(path[2], LoiterItem)
    assert path[2].loiter.direction is Turn.CCW
    assert s.threats[0].speed_mps is None
    assert scenario_from_dict(s.to_dict()) == s
    assert scenario_from_dict(s.with_seed(3).to_dict()).threats == s.threats


THREAT_BASE = """\
name: test
duration_s: 100
threats:
  - id: a
    speed_mps: 50
    altitude_m: 300
    path:
      - [44.0, 28.0]
      - [44.1, 28.1]
"""


@pytest.mark.parametrize(
    ("old", "new", "field", "line", "words"),
    [
        (
            "    speed_mps: 50\n",
            "    speed_mps: 50\n    count: 3\n",
            "threats[0].count",
            6,
            ["only a swarm", "drone"],
        ),
        ("    speed_mps: 50\n", "    kind: swarm\n    speed_mps: 50\n", "threats[0].count", 4, ["missing"]),
        (
            "    speed_mps: 50\n",
            "    kind: swarm\n    count: 3\n    speed_mps: 50\n",
            "threats[0].spread_m",
            4,
            ["exactly one of spread_m or offsets_m"],
        ),
        (
            "    speed_mps: 50\n",
            "    kind: swarm\n    count: 2\n    offsets_m: [[1, 2]]\n    speed_mps: 50\n",
            "threats[0].offsets_m",
            7,
            ["1 offsets", "expected one per member (2)"],
        ),
        (
            "      - [44.0, 28.0]\n",
            "      - {loiter: {center: [44.0, 28.0], radius_m: 100, turns: 1}}\n",
            "threats[0].path[0]",
            8,
            ["starts at a waypoint"],
        ),
        (
            "      - [44.1, 28.1]\n",
            "      - {loiter: {center: [44.0, 28.0], radius_m: 100, turns: 1, duration_s: 5}}\n",
            "threats[0].path[1].loiter.turns",
            9,
            ["exactly one of turns or duration_s"],
        ),
        (
            "      - [44.1, 28.1]\n",
            "      - {loiter: {center: [44.0, 28.0], radius_m: -5, turns: 1}}\n",
            "threats[0].path[1].loiter.radius_m",
            9,
            ["greater than 0", "-5"],
        ),
        (
            "      - [44.1, 28.1]\n",
            "      - {lat: 44.1, lon: 28.1, speed: 5}\n",
            "threats[0].path[1].speed",
            9,
            ["unknown key", "'speed'"],
        ),
        (
            "      - [44.1, 28.1]\n",
            "      - somewhere\n",
            "threats[0].path[1]",
            9,
            ["expected [lat, lon]", "'somewhere'"],
        ),
        ("    altitude_m: 300\n", "", "threats[0].altitude_m", 4, ["missing", "first waypoint"]),
        (
            "    speed_mps: 50\n",
            "    rcs_m2: 0\n    speed_mps: 50\n",
            "threats[0].rcs_m2",
            5,
            ["greater than 0", "got 0"],
        ),
    ],
    ids=[
        "count-on-drone",
        "swarm-without-count",
        "swarm-without-spread",
        "offsets-count",
        "loiter-first",
        "loiter-turns-and-duration",
        "loiter-radius",
        "waypoint-unknown-key",
        "path-item-string",
        "missing-altitude",
        "zero-rcs",
    ],
)
def test_broken_threat(tmp_path: Path, old: str, new: str, field: str, line: int, words: list[str]) -> None:  # noqa: PLR0917
    """Each break in the new threat fields names the file, line, field path, the value and the expectation."""
    assert old in THREAT_BASE
    path = write(tmp_path, THREAT_BASE.replace(old, new))
    err = error_of(path)
    assert (err.file, err.field, err.line) == (str(path), field, line)
    for word in words:
        assert word in err.problem


def test_threat_base_is_valid(tmp_path: Path) -> None:
    """The base text of the broken-threat cases loads."""
    assert load_scenario(write(tmp_path, THREAT_BASE)).threats[0].path == [(44.0, 28.0), (44.1, 28.1)]


def test_member_ids_must_be_unique(tmp_path: Path) -> None:
    """A threat whose id equals a swarm member id is a duplicate."""
    text = BASE.replace(
        "  - id: a\n", "  - id: a\n    kind: swarm\n    count: 2\n    spread_m: 10\n"
    ) + SECOND_THREAT.replace("id: a", "id: a.2")
    err = error_of(write(tmp_path, text))
    assert err.field == "threats[1].id"
    assert "'a.2'" in err.problem


def test_validate_paths(tmp_path: Path, roster: Roster) -> None:
    """validate_paths gives each file with its error, or None when it is valid."""
    good = write(tmp_path, BASE)
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("duration_s: 100", "duration_s: -1"), encoding="utf-8")
    missing = tmp_path / "missing.yaml"
    results = validate_paths([good, bad, str(missing)], roster)
    assert [p for p, _ in results] == [good, bad, missing]
    assert results[0][1] is None
    assert results[1][1] is not None
    assert results[1][1].field == "duration_s"
    assert results[2][1] is not None
    assert "no such file" in results[2][1].problem


def test_bundled_scenarios_are_valid(roster: Roster) -> None:
    """Every scenario shipped in scenarios/ validates against the roster."""
    files = sorted(default_scenario_path().parent.glob("*.yaml"))
    assert len(files) >= 2
    assert [(p.name, e) for p, e in validate_paths(files, roster)] == [(p.name, None) for p in files]


# --- every problem, named as the user wrote it ------------------------------------------------------


def test_misspelt_required_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    """``paths:`` for ``path:`` is reported as the key written, with the key meant, and nothing else."""
    path = write(tmp_path, BASE.replace("    path:", "    paths:"))
    err = error_of(path)
    assert [(p.field, p.line) for p in err.problems] == [("threats[0].paths", 7)]
    assert err.problem == "unknown key 'paths'; did you mean 'path'?"
    assert str(err) == f"{path}:7: threats[0].paths: unknown key 'paths'; did you mean 'path'?"


def test_misspelt_optional_key_suggests_the_known_one(tmp_path: Path) -> None:
    """A misspelt key with a default (``sed`` for ``seed``) also gets the closest known key."""
    err = error_of(write(tmp_path, BASE + "sed: 3\n"))
    assert (err.field, err.line) == ("sed", 8)
    assert "did you mean 'seed'?" in err.problem


def test_key_already_written_is_not_suggested(tmp_path: Path) -> None:
    """Next to ``speed_mps:``, ``speed_mpss:`` is not told it meant ``speed_mps``, a key already there."""
    text = BASE.replace("    speed_mps: 50\n", "    speed_mps: 50\n    speed_mpss: 5\n")
    err = error_of(write(tmp_path, text))
    assert err.field == "threats[0].speed_mpss"
    assert "did you mean 'speed_mps'" not in err.problem
    assert err.problem == "unknown key 'speed_mpss'; did you mean 'spread_m'?"


def test_unknown_key_far_from_any_known_one_lists_the_known_keys(tmp_path: Path) -> None:
    """A key like no known one gets no suggestion but the keys allowed at that place."""
    err = error_of(write(tmp_path, BASE + "zzqqxx: 1\n"))
    assert (err.field, err.line) == ("zzqqxx", 8)
    assert "did you mean" not in err.problem
    assert err.problem == (
        "unknown key 'zzqqxx'; expected one of: "
        "name, description, duration_s, seed, locate_radius_m, origin, threats, events"
    )


def test_several_problems_are_reported_together_with_their_lines(tmp_path: Path) -> None:
    """Every schema problem of the file is listed, in file order, one ``file:line: field: problem`` a line."""
    text = (
        BASE.replace("duration_s: 100", "duration_s: -1")
        .replace("    speed_mps: 50\n", "    sped_mps: 50\n")
        .replace("    path:", "    paths:")
        + "colour: red\n"
    )
    path = write(tmp_path, text)
    err = error_of(path)
    assert [(p.line, p.field) for p in err.problems] == [
        (2, "duration_s"),
        (5, "threats[0].sped_mps"),
        (7, "threats[0].paths"),
        (8, "colour"),
    ]
    lines = str(err).splitlines()
    assert len(lines) == 4
    assert lines[1] == f"{path}:5: threats[0].sped_mps: unknown key 'sped_mps'; did you mean 'speed_mps'?"
    assert all(
        line.startswith(f"{path}:{p.line}: {p.field}: ") for line, p in zip(lines, err.problems, strict=True)
    )
    assert (err.field, err.line) == ("duration_s", 2)  # the first problem


EVENTS = """\
events:
  - kind: link_impairment
    at_s: 1
    nod: RO
    loss: 0.1
  - kind: node_outage
    at_s: 2
    node: RO
    duraton_s: 3
"""


def test_nested_event_keys_are_named_with_suggestions(tmp_path: Path) -> None:
    """Misspelt keys inside events are matched with that event kind's keys, the kind tag not in the path."""
    err = error_of(write(tmp_path, BASE + EVENTS))
    assert [(p.line, p.field, p.problem) for p in err.problems] == [
        (11, "events[0].nod", "unknown key 'nod'; did you mean 'node'?"),
        (16, "events[1].duraton_s", "unknown key 'duraton_s'; did you mean 'duration_s'?"),
    ]


def test_misspelt_waypoint_key_is_matched_with_the_waypoint_keys(tmp_path: Path) -> None:
    """Inside a path, ``{lat, lon, sped_mps}`` is a waypoint whose ``sped_mps`` is ``speed_mps``."""
    text = BASE.replace("[[44.0, 28.0], [44.1, 28.1]]", "[[44.0, 28.0], {lat: 44.1, lon: 28.1, sped_mps: 9}]")
    err = error_of(write(tmp_path, text))
    assert (err.field, err.line) == ("threats[0].path[1].sped_mps", 7)
    assert err.problem == "unknown key 'sped_mps'; did you mean 'speed_mps'?"


def test_every_unknown_roster_id_is_reported(tmp_path: Path, roster: Roster) -> None:
    """Two events naming node ids the roster lacks give two problems, each with its line."""
    text = BASE + EVENTS.replace("nod: RO", "node: XX").replace("node: RO", "node: YY").replace(
        "    duraton_s: 3\n", ""
    )
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, roster=roster)
    assert [(p.line, p.field) for p in info.value.problems] == [
        (11, "events[0].node"),
        (15, "events[1].node"),
    ]
    assert all("unknown node id" in p.problem for p in info.value.problems)


def test_every_whole_scenario_check_is_reported(tmp_path: Path) -> None:
    """Checks across threats report every breach, each on its own field and line, not only the first."""
    late = SECOND_THREAT.replace("    speed_mps: 40\n", "    start_s: 200\n    speed_mps: 40\n")
    path = write(tmp_path, BASE + late)
    err = error_of(path)
    assert [(p.line, p.field) for p in err.problems] == [(8, "threats[1].id"), (9, "threats[1].start_s")]
    assert "duplicate threat id 'a'" in err.problems[0].problem
    assert "is not before duration_s" in err.problems[1].problem
    assert len(str(err).splitlines()) == 2


def test_every_swarm_only_key_of_a_drone_is_reported(tmp_path: Path) -> None:
    """A drone given two swarm-only keys gets a problem for each, on its own line."""
    text = BASE.replace("    speed_mps: 50\n", "    count: 3\n    spread_m: 10\n    speed_mps: 50\n")
    err = error_of(write(tmp_path, text))
    assert [(p.line, p.field) for p in err.problems] == [(5, "threats[0].count"), (6, "threats[0].spread_m")]
    assert all("only a swarm has" in p.problem for p in err.problems)
