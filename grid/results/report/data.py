"""A run folder loaded for the report: the summary and the data files, checked and arranged."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from grid.errors import RunDataError
from grid.results.run_data import LATENCY_FILE, SITES_FILE, TRACKS_FILE, TRUTH_FILE, read_json, read_jsonl

__all__ = ["Path2D", "ReportData", "Site", "TrackPath", "load_run"]

SUMMARY_FILE = "summary.json"
Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Path2D:
    """A threat's true flight: times, positions in degrees and in the theatre plane."""

    t: Array
    lat: Array
    lon: Array
    east: Array
    north: Array

    def at(self, times: Array) -> tuple[Array, Array]:
        """(east, north) at ``times``, linear between samples (NaN outside the flight)."""
        east = np.interp(times, self.t, self.east, left=np.nan, right=np.nan)
        north = np.interp(times, self.t, self.north, left=np.nan, right=np.nan)
        return east, north


@dataclass(frozen=True)
class TrackPath:
    """One fused track as the grid received it: its states in time order, covariance included."""

    track_id: str
    t: Array
    lat: Array
    lon: Array
    east: Array
    north: Array
    cov: Array  # (n, 4, 4)
    confirmed: npt.NDArray[np.bool_]
    truth_ids: frozenset[str]


@dataclass(frozen=True)
class Site:
    """One sensor: where it is, what it is and how far it reaches."""

    sensor_id: str
    member: str
    kind: str
    lat: float
    lon: float
    range_m: float
    orbit_radius_m: float | None


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows of one run."""

    run_dir: Path
    summary: dict[str, Any]
    origin: tuple[float, float]
    locate_radius_m: float
    truth: dict[str, Path2D]
    tracks: dict[str, TrackPath]
    latency_ms: dict[str, Array]
    sites: list[Site]
    member_names: dict[str, str] = field(default_factory=dict)

    def threat_start_s(self, threat_id: str) -> float:
        """The simulation time the threat took off (its first truth sample)."""
        path = self.truth.get(threat_id)
        return float(path.t[0]) if path is not None and path.t.size else 0.0


def _field(path: Path, row: dict[str, Any], key: str, line: int) -> Any:
    try:
        return row[key]
    except (KeyError, TypeError):
        raise RunDataError(str(path), f"line {line}: no {key!r}") from None


def _truth(path: Path) -> dict[str, Path2D]:
    _, rows = read_jsonl(path, "truth")
    by_threat: dict[str, list[tuple[float, ...]]] = {}
    for line, row in enumerate(rows, start=2):
        keys = ("t", "lat", "lon", "east_m", "north_m")
        values = tuple(float(_field(path, row, k, line)) for k in keys)
        by_threat.setdefault(str(_field(path, row, "threat", line)), []).append(values)
    paths = {}
    for threat, samples in by_threat.items():
        arr = np.asarray(sorted(samples), dtype=float)
        paths[threat] = Path2D(*(arr[:, k] for k in range(5)))
    return paths


def _tracks(path: Path) -> dict[str, TrackPath]:
    _, rows = read_jsonl(path, "tracks")
    by_track: dict[str, list[dict[str, Any]]] = {}
    for line, row in enumerate(rows, start=2):
        cov = _field(path, row, "cov", line)
        if not isinstance(cov, list) or len(cov) != 16:
            raise RunDataError(str(path), f"line {line}: cov is not 16 numbers")
        by_track.setdefault(str(_field(path, row, "track", line)), []).append(row)
    tracks = {}
    for track_id, states in by_track.items():
        states.sort(key=lambda r: float(r["t"]))
        tracks[track_id] = TrackPath(
            track_id=track_id,
            t=np.asarray([float(r["t"]) for r in states]),
            lat=np.asarray([float(r["lat"]) for r in states]),
            lon=np.asarray([float(r["lon"]) for r in states]),
            east=np.asarray([float(r["east_m"]) for r in states]),
            north=np.asarray([float(r["north_m"]) for r in states]),
            cov=np.asarray([r["cov"] for r in states], dtype=float).reshape(-1, 4, 4),
            confirmed=np.asarray([r.get("status") == "confirmed" for r in states]),
            truth_ids=frozenset(str(i) for r in states for i in r.get("truth_ids", ())),
        )
    return tracks


def _sites(path: Path) -> tuple[list[Site], dict[str, str]]:
    data = read_json(path, "sites")
    sites, names = [], {}
    try:
        for member in data["members"]:
            names[str(member["id"])] = str(member["name"])
            for s in member["sensors"]:
                orbit = s.get("orbit")
                sites.append(
                    Site(
                        sensor_id=str(s["id"]),
                        member=str(member["id"]),
                        kind=str(s["kind"]),
                        lat=float(s["lat"]),
                        lon=float(s["lon"]),
                        range_m=float(s["range_m"]),
                        orbit_radius_m=None if orbit is None else float(orbit["radius_m"]),
                    )
                )
    except (KeyError, TypeError, ValueError) as exc:
        raise RunDataError(str(path), f"bad member or sensor entry: {exc!r}") from None
    return sites, names


def load_run(run_dir: Path) -> ReportData:
    """Load ``run_dir`` for the report.

    Raises:
        RunDataError: the folder, ``summary.json`` or a data file is missing, unreadable or of
            another format version (the message names the file).
    """
    if not run_dir.is_dir():
        raise RunDataError(str(run_dir), "not a folder (give the run's output folder, e.g. runs/<timestamp>)")
    summary = read_json(run_dir / SUMMARY_FILE, "summary")
    sites_path = run_dir / SITES_FILE
    sites, names = _sites(sites_path)
    raw_sites = read_json(sites_path, "sites")
    latency = read_json(run_dir / LATENCY_FILE, "latency")
    by_node = latency.get("by_node")
    if not isinstance(by_node, dict):
        raise RunDataError(str(run_dir / LATENCY_FILE), "no by_node map")
    try:
        origin = (float(raw_sites["origin"][0]), float(raw_sites["origin"][1]))
        latency_ms = {str(n): np.asarray(v, dtype=float) for n, v in by_node.items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise RunDataError(str(run_dir / LATENCY_FILE), f"bad samples: {exc!r}") from None
    return ReportData(
        run_dir=run_dir,
        summary=summary,
        origin=origin,
        locate_radius_m=float(summary.get("locate_radius_m") or raw_sites.get("locate_radius_m") or 150.0),
        truth=_truth(run_dir / TRUTH_FILE),
        tracks=_tracks(run_dir / TRACKS_FILE),
        latency_ms=latency_ms,
        sites=sites,
        member_names=names,
    )
