"""The base map: Natural Earth's country outlines around the theatre, shipped inside the package.

``grid/world/data/basemap.geojson`` is written by ``scripts/build-web`` from npm's ``world-atlas``
(Natural Earth 1:50m, public domain), so neither the run report nor the live map fetches a layer.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BASEMAP_PATH", "Country", "countries"]

BASEMAP_PATH = Path(__file__).resolve().parent / "data" / "basemap.geojson"


@dataclass(frozen=True, slots=True)
class Country:
    """One country's outline: closed rings of (lon, lat) degrees, islands and mainland alike."""

    name: str
    rings: tuple[tuple[tuple[float, float], ...], ...]


def _outer_rings(geometry: dict[str, object]) -> list[list[list[float]]]:
    coordinates = geometry["coordinates"]
    assert isinstance(coordinates, list)
    polygons = [coordinates] if geometry["type"] == "Polygon" else coordinates
    # Each polygon's first ring is its outline; the rest are holes (lakes, enclaves).
    return [polygon[0] for polygon in polygons if polygon]


@functools.cache
def countries() -> tuple[Country, ...]:
    """Every country on the base map, read once."""
    data = json.loads(BASEMAP_PATH.read_text(encoding="utf-8"))
    return tuple(
        Country(
            name=str(f["properties"]["name"]),
            rings=tuple(tuple((float(x), float(y)) for x, y in ring) for ring in _outer_rings(f["geometry"])),
        )
        for f in data["features"]
    )
