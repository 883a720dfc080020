"""The shipped base map: readable offline, and it covers the theatre."""

from __future__ import annotations

import json

import pytest

from grid.world.basemap import BASEMAP_PATH, countries
from grid.world.roster import load_roster

pytestmark = pytest.mark.timeout(30)


def test_every_member_state_with_a_home_country_is_on_the_map() -> None:
    names = {c.name for c in countries()}
    for expected in ("Romania", "Bulgaria", "Turkey", "Ukraine", "Poland", "Germany", "Greece"):
        assert expected in names


def test_every_sensor_site_lies_inside_the_map_bounds() -> None:
    west, south, east, north = json.loads(BASEMAP_PATH.read_text())["bbox"]
    roster = load_roster()
    for member in roster.values():
        for sensor in member.sensors:
            if sensor.site is not None:  # the AEW orbit has a centre instead
                assert west <= sensor.site.lon <= east
                assert south <= sensor.site.lat <= north


def test_rings_are_closed_lon_lat_outlines() -> None:
    for country in countries():
        assert country.rings
        for ring in country.rings:
            assert len(ring) >= 4
            assert ring[0] == ring[-1]
            assert all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in ring)
