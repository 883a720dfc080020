"""Tests of the member-state roster in ``nodes/`` and of :func:`grid.world.roster.load_roster`."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from grid.errors import RosterError, UnknownNodeError
from grid.geo import LocalFrame, observe
from grid.world.roster import MemberState, Roster, SensorKind, SensorSpec, load_roster
from grid.world.sensors import detection_probability, radar_horizon_m, radar_snr, swerling1_pd

MEMBER_IDS = {"RO", "BG", "TR", "GR", "PL", "HU", "SK", "CZ", "IT", "DE", "FR", "GB", "US", "NL", "ES"}
BOX_LAT = (43.6, 44.8)
BOX_LON = (28.2, 29.8)
LATTICE_STEP_DEG = 0.05
TARGET_ALT_M = 300.0
DRONE_START = (44.25, 29.10)
DRONE_END = (44.15, 28.85)

Point = tuple[float, float, float]


def sensor_positions(spec: SensorSpec) -> list[Point]:
    """Where a sensor looks from: its site, or its orbit position at t = 0 and a quarter orbit later."""
    if spec.site is not None:
        return [(spec.site.lat, spec.site.lon, spec.site.alt_m)]
    assert spec.orbit is not None
    orbit = spec.orbit
    frame = LocalFrame(orbit.center.lat, orbit.center.lon)
    quarter_s = (math.pi / 2) * orbit.radius_m / orbit.speed_mps
    return [frame.surface_point(*orbit.position_enu_offset(t), orbit.center.alt_m) for t in (0.0, quarter_s)]


def covering(roster: Roster, target: Point) -> list[tuple[str, SensorSpec]]:
    """(member id, sensor) pairs whose range window contains ``target`` from any of their positions."""
    hits: list[tuple[str, SensorSpec]] = []
    for member in roster.values():
        for spec in member.sensors:
            for pos in sensor_positions(spec):
                if spec.min_range_m <= observe(pos, target).slant_range_m <= spec.range_m:
                    hits.append((member.id, spec))
                    break
    return hits


def box_lattice() -> list[Point]:
    """The 0.05-degree lattice of the theater box at the target altitude."""
    n_lat = round((BOX_LAT[1] - BOX_LAT[0]) / LATTICE_STEP_DEG) + 1
    n_lon = round((BOX_LON[1] - BOX_LON[0]) / LATTICE_STEP_DEG) + 1
    return [
        (BOX_LAT[0] + i * LATTICE_STEP_DEG, BOX_LON[0] + j * LATTICE_STEP_DEG, TARGET_ALT_M)
        for i in range(n_lat)
        for j in range(n_lon)
    ]


def coverage_fraction(roster: Roster, min_states: int = 2) -> float:
    """Share of the box lattice seen by sensors of at least ``min_states`` different member states."""
    points = box_lattice()
    seen = sum(1 for p in points if len({m for m, _ in covering(roster, p)}) >= min_states)
    return seen / len(points)


def drone_path(step_m: float = 1000.0) -> list[Point]:
    """The default drone path, sampled every ``step_m`` metres, both ends included."""
    frame = LocalFrame(*DRONE_START)
    east, north, _ = (float(v) for v in frame.to_enu(*DRONE_END))
    n = math.ceil(math.hypot(east, north) / step_m)
    return [frame.surface_point(east * k / n, north * k / n, TARGET_ALT_M) for k in range(n + 1)]


@pytest.fixture(scope="module")
def roster() -> Roster:
    """The roster shipped in ``nodes/``."""
    return load_roster()


def test_roster_has_the_fifteen_members(roster: Roster) -> None:
    """The shipped roster holds exactly the 15 allied member states, by ISO alpha-2 id."""
    assert set(roster) == MEMBER_IDS
    assert len(roster) == 15
    assert roster.member("TR").name == "Türkiye"


def test_unknown_member_is_refused(roster: Roster) -> None:
    """Asking for a node id outside the roster raises UnknownNodeError listing the known ids."""
    with pytest.raises(UnknownNodeError, match="known ids: BG"):
        roster.member("XX")


def test_sensor_ids_are_unique(roster: Roster) -> None:
    """No sensor id appears twice across the whole roster."""
    ids = [s.id for m in roster.values() for s in m.sensors]
    assert len(ids) == len(set(ids))
    assert len(roster.sensor_owner()) == len(ids)


def test_members_own_one_to_five_sensors(roster: Roster) -> None:
    """Every member has 1-5 sensors and the littoral states have at least three each."""
    for member in roster.values():
        assert 1 <= len(member.sensors) <= 5, member.id
    for littoral in ("RO", "BG", "TR"):
        assert len(roster[littoral].sensors) >= 3


def test_sensor_mix(roster: Roster) -> None:
    """The roster's sensor mix: 10-14 radars and direction finders, 6-10 acoustic arrays, one AEW."""
    kinds = Counter(s.kind for m in roster.values() for s in m.sensors)
    assert 10 <= kinds[SensorKind.RADAR] <= 14
    assert 10 <= kinds[SensorKind.RF_DF] <= 14
    assert 6 <= kinds[SensorKind.ACOUSTIC] <= 10
    assert kinds[SensorKind.AEW] == 1


def test_exactly_one_aew_on_an_orbit(roster: Roster) -> None:
    """There is one AEW sensor, flown on an orbit at altitude."""
    aew = [s for m in roster.values() for s in m.sensors if s.kind is SensorKind.AEW]
    assert len(aew) == 1
    assert aew[0].orbit is not None
    assert aew[0].orbit.center.alt_m >= 5000


def test_grids_are_shared_and_reach_romania(roster: Roster) -> None:
    """Every grid has three or more members and every member shares a grid with RO."""
    grids = roster.grids
    assert grids
    for name, members in grids.items():
        assert len(members) >= 3, name
    ro_grids = set(roster["RO"].grids)
    for member in roster.values():
        assert 1 <= len(member.grids) <= 3, member.id
        assert ro_grids & set(member.grids), member.id


def test_theater_box_is_seen_by_two_states(roster: Roster) -> None:
    """At least 60% of the theater box lattice is covered by sensors of two or more member states."""
    assert coverage_fraction(roster) >= 0.6


def test_default_drone_path_is_covered(roster: Roster) -> None:
    """Every 1 km sample of the default drone path is seen by three states and at least one radar."""
    samples = drone_path()
    assert len(samples) >= 20
    for point in samples:
        hits = covering(roster, point)
        assert len({m for m, _ in hits}) >= 3, point
        assert any(s.kind is SensorKind.RADAR for _, s in hits), point


def _member(node_id: str = "XX", sensors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": node_id,
        "name": "Testland",
        "grids": ["test"],
        "sensors": sensors if sensors is not None else [_radar(f"{node_id}-RAD-1")],
    }


def _radar(sensor_id: str) -> dict[str, Any]:
    return {
        "id": sensor_id,
        "kind": "radar",
        "site": {"lat": 44.0, "lon": 28.6, "alt_m": 20.0},
        "range_m": 100_000,
        "min_range_m": 500,
        "sigma_range_m": 30,
        "sigma_elevation_deg": 1.0,
    }


def _write(directory: Path, name: str, doc: dict[str, Any]) -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _expect_roster_error(directory: Path, file: Path) -> RosterError:
    with pytest.raises(RosterError) as excinfo:
        load_roster(directory)
    assert excinfo.value.file == str(file)
    assert str(file) in str(excinfo.value)
    return excinfo.value


def test_valid_minimal_file_loads(tmp_path: Path) -> None:
    """The minimal file used by the rejection tests is itself valid."""
    _write(tmp_path, "XX.yaml", _member())
    roster = load_roster(tmp_path)
    assert list(roster) == ["XX"]
    assert roster.sensor_owner() == {"XX-RAD-1": "XX"}


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    """A key outside the schema is an error naming the file and the key."""
    doc = _member()
    doc["sensors"][0]["colour"] = "grey"
    path = _write(tmp_path, "XX.yaml", doc)
    assert "colour" in _expect_roster_error(tmp_path, path).problem


def test_aew_without_orbit_is_rejected(tmp_path: Path) -> None:
    """An AEW sensor given a site instead of an orbit is an error naming the file."""
    aew = _radar("XX-AEW-1") | {"kind": "aew"}
    path = _write(tmp_path, "XX.yaml", _member(sensors=[aew]))
    assert "orbit" in _expect_roster_error(tmp_path, path).problem


def test_radar_without_sigma_range_is_rejected(tmp_path: Path) -> None:
    """A radar without sigma_range_m is an error naming the file."""
    radar = _radar("XX-RAD-1")
    del radar["sigma_range_m"]
    path = _write(tmp_path, "XX.yaml", _member(sensors=[radar]))
    assert "sigma_range_m" in _expect_roster_error(tmp_path, path).problem


def test_duplicate_node_id_is_rejected(tmp_path: Path) -> None:
    """Two files declaring the same node id: the second file is named, and the first mentioned."""
    first = _write(tmp_path, "A.yaml", _member("XX", [_radar("XX-RAD-1")]))
    second = _write(tmp_path, "B.yaml", _member("XX", [_radar("XX-RAD-2")]))
    error = _expect_roster_error(tmp_path, second)
    assert str(first) in error.problem
    assert "'XX'" in error.problem


def test_duplicate_sensor_id_is_rejected(tmp_path: Path) -> None:
    """Two members owning the same sensor id: the later file is named."""
    _write(tmp_path, "AA.yaml", _member("AA", [_radar("SHARED-RAD")]))
    second = _write(tmp_path, "BB.yaml", _member("BB", [_radar("SHARED-RAD")]))
    assert "SHARED-RAD" in _expect_roster_error(tmp_path, second).problem


def test_invalid_yaml_is_rejected(tmp_path: Path) -> None:
    """A file that is not YAML is an error naming the file."""
    path = tmp_path / "XX.yaml"
    path.write_text("id: XX\nsensors: [unclosed\n", encoding="utf-8")
    assert "not valid YAML" in _expect_roster_error(tmp_path, path).problem


def test_misspelt_sensor_key_suggests_the_known_one(tmp_path: Path) -> None:
    """``rang_m`` for ``range_m`` is named as written, with the key meant and its line."""
    doc = _member()
    doc["sensors"][0]["rang_m"] = doc["sensors"][0].pop("range_m")
    path = _write(tmp_path, "XX.yaml", doc)
    error = _expect_roster_error(tmp_path, path)
    assert error.problem == "sensors[0].rang_m: unknown key 'rang_m'; did you mean 'range_m'?"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert error.line is not None
    assert lines[error.line - 1].strip().startswith("rang_m:")
    assert len(error.problems) == 1  # the missing range_m is the same mistake, not a second one


def test_every_problem_of_a_member_file_is_reported(tmp_path: Path) -> None:
    """Two bad sensors in one file give two problems, in file order, one ``file:line: ...`` a line."""
    bad_kind = _radar("XX-RAD-1") | {"kind": "laser"}
    bad_range = _radar("XX-RAD-2") | {"range_m": -1}
    path = _write(tmp_path, "XX.yaml", _member(sensors=[bad_kind, bad_range]))
    error = _expect_roster_error(tmp_path, path)
    assert [p.problem.split(":")[0] for p in error.problems] == ["sensors[0].kind", "sensors[1].range_m"]
    lines = str(error).splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{path}:{p.line}: ") for line, p in zip(lines, error.problems, strict=True))
    first, second = (p.line for p in error.problems)
    assert first is not None
    assert second is not None
    assert first < second


def test_empty_directory_is_rejected(tmp_path: Path) -> None:
    """A directory with no member-state files is an error naming the directory."""
    (tmp_path / "README.txt").write_text("not a roster file", encoding="utf-8")
    _expect_roster_error(tmp_path, tmp_path)


# --- sensor realism parameters --------------------------------------------------------------------


def test_every_shipped_radar_uses_the_radar_equation(roster: Roster) -> None:
    """Every radar and the AEW have ref_range_m; direction finders and acoustic arrays do not."""
    for member in roster.values():
        for spec in member.sensors:
            assert (spec.ref_range_m is not None) == spec.kind.measures_range, spec.id


def test_shipped_clutter_is_modest(roster: Roster) -> None:
    """Radars and the AEW report some clutter, at most one false alarm per scan; other sensors none."""
    for member in roster.values():
        for spec in member.sensors:
            if spec.kind.measures_range:
                assert 0.0 < spec.false_alarm_rate <= 1.0, spec.id
            else:
                assert spec.false_alarm_rate == 0.0, spec.id


def test_shipped_radars_see_a_small_drone_near_and_lose_it_far(roster: Roster) -> None:
    """For a 0.01 m² drone, every ground radar's SNR-based Pd is >= 0.8 at 20 km and <= 0.05 at 100 km."""
    radars = [s for m in roster.values() for s in m.sensors if s.kind is SensorKind.RADAR]
    for spec in radars:
        assert swerling1_pd(radar_snr(spec, 0.01, 20_000.0), spec.pfa) >= 0.8, spec.id
        assert swerling1_pd(radar_snr(spec, 0.01, 100_000.0), spec.pfa) <= 0.05, spec.id
        assert 0.8 <= detection_probability(spec, 0.01, 20_000.0) <= 1.0, spec.id


def test_default_drone_path_has_a_likely_radar(roster: Roster) -> None:
    """Along the default drone path some radar, in line of sight, detects it with Pd >= 0.6."""
    for point in drone_path(step_m=2_000.0):
        best = 0.0
        for member in roster.values():
            for spec in member.sensors:
                if spec.kind is not SensorKind.RADAR or spec.site is None:
                    continue
                seen = observe((spec.site.lat, spec.site.lon, spec.site.alt_m), point)
                if not spec.min_range_m <= seen.slant_range_m <= spec.range_m:
                    continue
                if seen.ground_range_m > radar_horizon_m(spec.site.alt_m, point[2]):
                    continue
                best = max(best, detection_probability(spec, 0.01, seen.slant_range_m))
        assert best >= 0.6, point


@pytest.mark.parametrize(
    ("update", "word"),
    [
        (
            {"kind": "rf_df", "sigma_range_m": None, "sigma_elevation_deg": None, "ref_range_m": 1000},
            "no radar equation",
        ),
        ({"ref_snr_db": 10}, "without ref_range_m"),
        ({"ref_range_m": 0}, "ref_range_m"),
        ({"ref_range_m": 90_000, "pfa": 1.5}, "pfa"),
        ({"false_alarm_rate": -1}, "false_alarm_rate"),
    ],
    ids=["rf-df-radar-equation", "snr-without-range", "zero-ref-range", "pfa-above-one", "negative-clutter"],
)
def test_bad_radar_parameters_are_rejected(tmp_path: Path, update: dict[str, Any], word: str) -> None:
    """Radar-equation and clutter parameters are checked, naming the file and the parameter."""
    sensor = {k: v for k, v in (_radar("XX-S-1") | update).items() if v is not None}
    path = _write(tmp_path, "XX.yaml", _member(sensors=[sensor]))
    assert word in _expect_roster_error(tmp_path, path).problem


def test_radar_parameters_default(tmp_path: Path) -> None:
    """Without them, a radar has no radar equation, the documented references and no clutter."""
    _write(tmp_path, "XX.yaml", _member())
    spec = load_roster(tmp_path)["XX"].sensors[0]
    assert spec.ref_range_m is None
    assert (spec.ref_rcs_m2, spec.ref_snr_db, spec.pfa, spec.false_alarm_rate) == (1.0, 13.0, 1e-6, 0.0)


def test_peers_share_a_grid_and_exclude_the_node() -> None:
    """A member's peers are the others in any of its grids, sorted; a member alone has none."""
    grids = {"A": ["north"], "B": ["north", "south"], "C": ["south"], "D": ["east"], "E": ["south", "north"]}
    roster = Roster([MemberState.model_validate({**_member(node), "grids": g}) for node, g in grids.items()])
    assert roster.peers("A") == ("B", "E")
    assert roster.peers("B") == ("A", "C", "E")
    assert roster.peers("C") == ("B", "E")
    assert roster.peers("D") == ()
    assert roster.peers("E") == ("A", "B", "C")


def test_shipped_peers_are_the_grids_members(roster: Roster) -> None:
    """In the shipped roster peers are symmetric and the union of the node's grids less itself."""
    for node_id, member in roster.items():
        peers = roster.peers(node_id)
        expected = {m for g in member.grids for m in roster.grids[g]} - {node_id}
        assert peers == tuple(sorted(expected)), node_id
        assert all(node_id in roster.peers(p) for p in peers), node_id
    # RO shares a grid with every member (test_grids_are_shared_and_reach_romania): all 14 others.
    assert roster.peers("RO") == tuple(sorted(MEMBER_IDS - {"RO"}))
    assert len(roster.peers("CZ")) == 8


def test_peers_of_an_unknown_node_are_refused(roster: Roster) -> None:
    """Peers of a node id outside the roster: UnknownNodeError, as for member()."""
    with pytest.raises(UnknownNodeError, match="known ids: BG"):
        roster.peers("XX")
