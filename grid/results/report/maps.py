"""The report's two maps: the theatre with every sensor's coverage, and a close-up of the tracks.

Plate carrée with the aspect set for the theatre's latitude: over a few hundred km that is close
enough to a conformal map for range circles to look round, and it needs no projection library.
Circles and ellipses are computed in metres and converted to degrees point by point. matplotlib
(Agg backend) is imported on first use: it costs about a second.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from grid.results.report.data import Array, ReportData, Site, TrackPath
from grid.world.basemap import countries

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["SIGMA", "draw_engagement", "draw_map", "pyplot", "save", "threat_colour", "track_threat"]

_EARTH_M = 6_371_000.0
_DPI = 110
_KIND_STYLE = {  # marker, colour, coverage line style
    "radar": ("^", "#1f77b4", "-"),
    "aew": ("P", "#9467bd", "-"),
    "rf_df": ("D", "#2ca02c", "--"),
    "acoustic": ("o", "#ff7f0e", ":"),
}
_ELLIPSE_SIGMA = 2.0  # ellipses enclose 2 standard deviations (86% of a 2-D Gaussian)
_ELLIPSES_PER_TRACK = 25
_ELLIPSES_MAX = 250  # over every track: a swarm's picture stays readable
SIGMA = "\N{GREEK SMALL LETTER SIGMA}"


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _circle(lat: float, lon: float, radius_m: float, n: int = 90) -> tuple[Array, Array]:
    """(lon, lat) degrees of a circle of ``radius_m`` around a point (small-circle approximation)."""
    theta = np.linspace(0.0, 2 * math.pi, n)
    dlat = np.degrees(radius_m * np.cos(theta) / _EARTH_M)
    dlon = np.degrees(radius_m * np.sin(theta) / (_EARTH_M * math.cos(math.radians(lat))))
    return lon + dlon, lat + dlat


def _ellipse(lat: float, lon: float, cov: Array, n: int = 40) -> tuple[Array, Array]:
    """(lon, lat) degrees of the ``_ELLIPSE_SIGMA`` ellipse of a 2x2 east/north covariance (m²)."""
    values, vectors = np.linalg.eigh(cov)
    radii = _ELLIPSE_SIGMA * np.sqrt(np.clip(values, 0.0, None))
    theta = np.linspace(0.0, 2 * math.pi, n)
    east_north = vectors @ np.vstack([radii[0] * np.cos(theta), radii[1] * np.sin(theta)])
    dlon = np.degrees(east_north[0] / (_EARTH_M * math.cos(math.radians(lat))))
    dlat = np.degrees(east_north[1] / _EARTH_M)
    return lon + dlon, lat + dlat


def _extent(lons: Iterable[float], lats: Iterable[float], margin: float, min_span: float) -> list[float]:
    """Degrees around the points, at least ``min_span`` of latitude high and about as wide on the ground."""
    xs, ys = list(lons), list(lats)
    lo_x, hi_x = min(xs), max(xs)
    lo_y, hi_y = min(ys), max(ys)
    squash = math.cos(math.radians((lo_y + hi_y) / 2))
    width = max(hi_x - lo_x, 0.8 * max(hi_y - lo_y, min_span) / squash)
    mid_x = (lo_x + hi_x) / 2
    lo_x, hi_x = mid_x - width / 2, mid_x + width / 2
    pad_x = (hi_x - lo_x) * margin
    pad_y = max((hi_y - lo_y) * margin, (min_span - (hi_y - lo_y)) / 2, 0.0)
    return [lo_x - pad_x, hi_x + pad_x, lo_y - pad_y, hi_y + pad_y]


def _basemap(ax: Axes, extent: list[float]) -> None:
    """Land and borders from the vendored Natural Earth outlines, only the rings near ``extent``."""
    x0, x1, y0, y1 = extent
    ax.set_facecolor("#dbe9f4")  # sea
    rings = []
    for country in countries():
        for ring in country.rings:
            xy = np.asarray(ring)
            if xy[:, 0].max() < x0 or xy[:, 0].min() > x1 or xy[:, 1].max() < y0 or xy[:, 1].min() > y1:
                continue
            rings.append(xy)
    # One collection, not a patch per ring: a tenth of the drawing time.
    ax.add_collection(_polygons(rings, facecolor="#f2efe6", edgecolor="#8a8a8a", linewidth=0.6, zorder=1))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(1.0 / math.cos(math.radians((y0 + y1) / 2)))
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")


def _polygons(rings: list[Array], **style: Any) -> Any:
    from matplotlib.collections import PolyCollection

    return PolyCollection(rings, **style)


def _sites(ax: Axes, sites: list[Site], *, coverage: bool) -> None:
    shown: set[str] = set()
    for site in sites:
        marker, colour, style = _KIND_STYLE.get(site.kind, ("s", "black", "-"))
        if coverage:
            if site.orbit_radius_m is not None:  # the AEW orbit, and its radar's reach from the orbit
                ax.plot(*_circle(site.lat, site.lon, site.orbit_radius_m), color=colour, lw=1.4, zorder=3)
                reach = _circle(site.lat, site.lon, site.orbit_radius_m + site.range_m, 180)
                ax.plot(*reach, color=colour, lw=0.8, ls="-.", alpha=0.6, zorder=2)
            else:
                ax.plot(*_circle(site.lat, site.lon, site.range_m), color=colour, lw=0.6, ls=style, alpha=0.5)
        label = None if site.kind in shown else site.kind.replace("_", " ")
        shown.add(site.kind)
        ax.scatter([site.lon], [site.lat], marker=marker, color=colour, s=28, zorder=5, label=label)


def threat_colour(k: int) -> Any:
    return pyplot().get_cmap("tab10")(k % 10)


def track_threat(data: ReportData) -> dict[str, str]:
    """Track id -> the threat the summary's evaluation associated it with (its ``track_ids``).

    Not the tracks' report labels: a bearing-only track that took one of the threat's reports is
    labelled with it while tens of km off, and is drawn as another track (grey).
    """
    owner: dict[str, str] = {}
    for threat in data.summary.get("threats", []):
        for track_id in threat.get("track_ids") or []:
            owner.setdefault(str(track_id), str(threat["id"]))
    return owner


def _locate_points(data: ReportData) -> list[tuple[str, float, float]]:
    """(threat, lon, lat) where each located threat's locating track was at its time to locate."""
    points = []
    for threat in data.summary.get("threats", []):
        track = data.tracks.get(str(threat.get("located_by_track")))
        ttl = threat.get("time_to_locate_s")
        if track is None or ttl is None:
            continue
        t = data.threat_start_s(str(threat["id"])) + float(ttl)
        points.append(
            (
                str(threat["id"]),
                float(np.interp(t, track.t, track.lon)),
                float(np.interp(t, track.t, track.lat)),
            )
        )
    return points


def _tracks(ax: Axes, data: ReportData, *, ellipses: bool) -> None:
    threats = list(data.truth)
    owner = track_threat(data)
    for k, (threat_id, path) in enumerate(data.truth.items()):
        ax.plot(
            path.lon,
            path.lat,
            color=threat_colour(k),
            lw=2.2,
            alpha=0.45,
            zorder=6,
            label=f"{threat_id} truth" if k < 6 else None,
        )
    others = 0
    for track in data.tracks.values():
        threat = owner.get(track.track_id)
        colour = threat_colour(threats.index(threat)) if threat in threats else "#777777"
        label = None
        if threat not in threats:
            label = "other tracks" if others == 0 else None
            others += 1
        ax.plot(track.lon, track.lat, color=colour, lw=0.9, ls="--", zorder=7, label=label)
        if ellipses:
            _ellipses(ax, track, colour, max(2, min(_ELLIPSES_PER_TRACK, _ELLIPSES_MAX // len(data.tracks))))
    for n, (threat_id, lon, lat) in enumerate(_locate_points(data)):
        ax.scatter(
            [lon],
            [lat],
            marker="*",
            s=170,
            color="gold",
            edgecolor="black",
            zorder=9,
            label="located" if n == 0 else None,
        )
        ax.annotate(threat_id, (lon, lat), textcoords="offset points", xytext=(6, 6), fontsize=7, zorder=9)


def _ellipses(ax: Axes, track: TrackPath, colour: Any, count: int) -> None:
    step = max(1, len(track.t) // count)
    rings = [
        np.column_stack(_ellipse(float(track.lat[i]), float(track.lon[i]), track.cov[i, :2, :2]))
        for i in range(0, len(track.t), step)
    ]
    style = {"facecolor": colour, "edgecolor": colour, "alpha": 0.12, "linewidth": 0.4, "zorder": 6}
    ax.add_collection(_polygons(rings, **style))


def save(fig: Figure, out: Path) -> Path:
    fig.savefig(out, dpi=_DPI, bbox_inches="tight")
    pyplot().close(fig)
    return out


def draw_map(data: ReportData, out: Path) -> Path:
    """The theatre: land and borders, every sensor and its coverage, the threats' paths."""
    plt = pyplot()
    lons = [s.lon for s in data.sites] + [float(p.lon.mean()) for p in data.truth.values()]
    lats = [s.lat for s in data.sites] + [float(p.lat.mean()) for p in data.truth.values()]
    fig, ax = plt.subplots(figsize=(8.5, 8.5))
    _basemap(ax, _extent(lons, lats, 0.35, 3.0))
    _sites(ax, data.sites, coverage=True)
    _tracks(ax, data, ellipses=False)
    ax.set_title(f"{data.summary.get('scenario', '')}: sensor sites and coverage")
    ax.legend(loc="lower left", fontsize=7, framealpha=0.9)
    return save(fig, out)


def draw_engagement(data: ReportData, out: Path) -> Path:
    """Close up: true paths, fused tracks with their uncertainty ellipses, the locate points."""
    plt = pyplot()
    lons = [float(v) for p in data.truth.values() for v in (p.lon.min(), p.lon.max())]
    lats = [float(v) for p in data.truth.values() for v in (p.lat.min(), p.lat.max())]
    fig, ax = plt.subplots(figsize=(8.5, 7))
    extent = _extent(lons or [data.origin[1]], lats or [data.origin[0]], 0.15, 0.08)
    _basemap(ax, extent)
    x0, x1, y0, y1 = extent
    _sites(ax, [s for s in data.sites if x0 <= s.lon <= x1 and y0 <= s.lat <= y1], coverage=False)
    _tracks(ax, data, ellipses=True)
    ax.set_title(f"true paths (solid), fused tracks (dashed), {_ELLIPSE_SIGMA:.0f}{SIGMA} position ellipses")
    ax.legend(loc="lower left", fontsize=7, framealpha=0.9)
    return save(fig, out)
