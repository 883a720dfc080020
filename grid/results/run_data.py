"""The run's data files for the run report: ground truth, the air picture, latency samples, sites.

Written by ``gridsim run`` into ``RUN_DIR`` beside ``summary.json``, once the run is over (nothing
is written while it plays). Each file names its format and version; a reader refuses any other.

``truth.jsonl``
    A header line ``{"format": "gridsim-truth", "version": 1, "origin": [lat, lon], "step_s": 1.0}``,
    then one line per threat (swarm members expanded) per ``step_s`` of its flight (and its last
    instant): ``{"threat", "t", "lat", "lon", "alt_m", "east_m", "north_m"}`` (simulation s,
    degrees, metres in the theatre's tangent plane at ``origin``).
``tracks.jsonl``
    A header line ``{"format": "gridsim-tracks", "version": 1, "origin": [lat, lon]}``, then every
    fused track the run controller received (the rate-bounded air picture), in arrival order:
    ``{"t", "received_s", "track", "status", "lat", "lon", "alt_m", "east_m", "north_m",
    "vel_east_mps", "vel_north_mps", "cov", "truth_ids"}``; ``cov`` is the 4x4 covariance of
    ``[east, north, vel_east, vel_north]``, row-major (m², m²/s, m²/s²).
``latency.json``
    ``{"format": "gridsim-latency", "version": 1, "unit": "ms", "by_node": {node: [ms, ...]}}``:
    every report's wall-clock delay from its publish to its arrival at the fusion centre, per
    publishing node (the samples behind ``summary["latency_ms"]``).
``sites.json``
    ``{"format": "gridsim-sites", "version": 1, "scenario", "origin", "locate_radius_m",
    "duration_s", "members": [{"id", "name", "sensors": [{"id", "kind", "lat", "lon", "range_m",
    "min_range_m", "orbit"}]}]}``; ``orbit`` is ``{"lat", "lon", "radius_m"}`` for the AEW sensor
    (whose ``lat``/``lon`` are then its orbit's centre), else null.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from grid.errors import RunDataError
from grid.results.observed import Observed
from grid.world.roster import Roster
from grid.world.scenario import Scenario
from grid.world.truth import GroundTruth

__all__ = [
    "DATA_FILES",
    "LATENCY_FILE",
    "SITES_FILE",
    "TRACKS_FILE",
    "TRUTH_FILE",
    "read_json",
    "read_jsonl",
    "write_run_data",
]

TRUTH_FILE = "truth.jsonl"
TRACKS_FILE = "tracks.jsonl"
LATENCY_FILE = "latency.json"
SITES_FILE = "sites.json"
DATA_FILES = (TRUTH_FILE, TRACKS_FILE, LATENCY_FILE, SITES_FILE)
VERSION = 1
_TRUTH_STEP_S = 1.0


def _truth_rows(scenario: Scenario) -> Iterator[dict[str, Any]]:
    truth = GroundTruth(scenario)
    for threat_id, trajectory in truth.trajectories.items():
        start, end = trajectory.threat.start_s, min(trajectory.end_s, scenario.duration_s)
        steps = int((end - start) // _TRUTH_STEP_S)
        times = [start + k * _TRUTH_STEP_S for k in range(steps + 1)]
        if times[-1] < end:
            times.append(end)
        for t in times:
            state = trajectory.state(t)
            if state is None:
                continue
            yield {
                "threat": threat_id,
                "t": round(t, 3),
                "lat": round(state.lat, 6),
                "lon": round(state.lon, 6),
                "alt_m": round(state.alt_m, 1),
                "east_m": round(state.east, 1),
                "north_m": round(state.north, 1),
            }


def _track_rows(seen: Observed) -> Iterator[dict[str, Any]]:
    for received_s, track in seen.fused_tracks:
        yield {
            "t": track.time_s,
            "received_s": round(received_s, 3),
            "track": track.track_id,
            "status": track.status,
            "lat": track.lat,
            "lon": track.lon,
            "alt_m": round(track.alt_m, 1),
            "east_m": round(track.east_m, 2),
            "north_m": round(track.north_m, 2),
            "vel_east_mps": round(track.vel_east_mps, 3),
            "vel_north_mps": round(track.vel_north_mps, 3),
            "cov": [float(f"{v:.6g}") for v in track.covariance],
            "truth_ids": list(track.truth_ids),
        }


def _sites(scenario: Scenario, roster: Roster) -> dict[str, Any]:
    members = []
    for member in roster.values():
        sensors = []
        for spec in member.sensors:
            orbit = spec.orbit
            where = orbit.center if orbit is not None else spec.site
            assert where is not None  # the roster's schema: a site, or an orbit
            sensors.append(
                {
                    "id": spec.id,
                    "kind": spec.kind.value,
                    "lat": where.lat,
                    "lon": where.lon,
                    "range_m": spec.range_m,
                    "min_range_m": spec.min_range_m,
                    "orbit": None
                    if orbit is None
                    else {"lat": orbit.center.lat, "lon": orbit.center.lon, "radius_m": orbit.radius_m},
                }
            )
        members.append({"id": member.id, "name": member.name, "sensors": sensors})
    return {
        "format": "gridsim-sites",
        "version": VERSION,
        "scenario": scenario.name,
        "origin": list(scenario.origin),
        "locate_radius_m": scenario.locate_radius_m,
        "duration_s": scenario.duration_s,
        "members": members,
    }


def _write_jsonl(path: Path, header: dict[str, Any], rows: Iterator[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(header) + "\n")
        for row in rows:
            out.write(json.dumps(row, separators=(",", ":")) + "\n")


def write_run_data(out_dir: Path, *, scenario: Scenario, roster: Roster, seen: Observed) -> list[str]:
    """Write the four data files of the run ``seen`` into ``out_dir``; returns their names."""
    out_dir.mkdir(parents=True, exist_ok=True)
    origin = list(scenario.origin)
    _write_jsonl(
        out_dir / TRUTH_FILE,
        {"format": "gridsim-truth", "version": VERSION, "origin": origin, "step_s": _TRUTH_STEP_S},
        _truth_rows(scenario),
    )
    _write_jsonl(
        out_dir / TRACKS_FILE,
        {"format": "gridsim-tracks", "version": VERSION, "origin": origin},
        _track_rows(seen),
    )
    samples = {} if seen.fusion is None else {n: list(v) for n, v in seen.fusion.latency_samples_ms.items()}
    latency = {"format": "gridsim-latency", "version": VERSION, "unit": "ms", "by_node": samples}
    (out_dir / LATENCY_FILE).write_text(json.dumps(latency, separators=(",", ":")) + "\n", encoding="utf-8")
    (out_dir / SITES_FILE).write_text(json.dumps(_sites(scenario, roster), indent=1) + "\n", encoding="utf-8")
    return list(DATA_FILES)


def _missing(path: Path) -> RunDataError:
    if path.name == "summary.json":
        return RunDataError(str(path), "missing: is this a run's output folder?")
    return RunDataError(str(path), "missing: `gridsim run` writes it since the run report (an older run?)")


def _check_header(path: Path, header: Any, kind: str) -> None:
    if not isinstance(header, dict) or header.get("format") != f"gridsim-{kind}":
        raise RunDataError(str(path), f"not a gridsim {kind} file (no format gridsim-{kind} header)")
    if header.get("version") != VERSION:
        raise RunDataError(
            str(path), f"format version {header.get('version')!r}; this gridsim reads {VERSION}"
        )


def read_json(path: Path, kind: str) -> dict[str, Any]:
    """A versioned JSON data file (``latency``, ``sites``; ``summary`` has no header)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _missing(path) from None
    except (OSError, ValueError) as exc:
        raise RunDataError(str(path), f"unreadable: {exc}") from None
    if kind != "summary":
        _check_header(path, data, kind)
    if not isinstance(data, dict):
        raise RunDataError(str(path), "not a JSON object")
    return data


def read_jsonl(path: Path, kind: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A versioned JSON-lines data file: its header and its rows."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise _missing(path) from None
    except OSError as exc:
        raise RunDataError(str(path), f"unreadable: {exc}") from None
    try:
        rows = [json.loads(line) for line in lines if line.strip()]
    except ValueError as exc:
        raise RunDataError(str(path), f"not JSON lines: {exc}") from None
    if not rows:
        raise RunDataError(str(path), "empty (no header line)")
    _check_header(path, rows[0], kind)
    return rows[0], rows[1:]
