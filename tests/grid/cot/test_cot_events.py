"""The sans-IO CoT converter: every field of an event, parsed back with an XML parser."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from grid.cot.events import ce_m, course_speed, to_cot, type_code
from grid.errors import MessageRejected
from grid.wire.messages import FusedTrack

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)


def _track(status: str = "confirmed", cov_e: float = 400.0, cov_n: float = 100.0) -> FusedTrack:
    cov = [0.0] * 16
    cov[0], cov[5], cov[10], cov[15] = cov_e, cov_n, 4.0, 4.0
    return FusedTrack(
        run_id="r-1",
        track_id="T7",
        status=status,
        time_s=12.0,
        lat=45.5,
        lon=25.25,
        alt_m=300.0,
        east_m=10.0,
        north_m=20.0,
        vel_east_mps=10.0,
        vel_north_mps=0.0,
        covariance=tuple(cov),
    )


def _when(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def test_event_fields() -> None:
    """An update: unknown air, fused, ce from the covariance, stale after now, track, marking."""
    event = ET.fromstring(to_cot(_track(), now=NOW, stale_s=30.0))
    assert event.tag == "event"
    assert event.get("type") == "a-u-A"
    assert event.get("how") == "m-f"
    assert event.get("uid") == "gridsim-r-1-T7"
    assert event.get("opex") == "s-gridsim"
    assert event.get("access") == "Unclassified"
    assert _when(event.get("time", "")) == NOW
    assert _when(event.get("start", "")) == NOW
    assert _when(event.get("stale", "")) == NOW + timedelta(seconds=30)
    point = event.find("point")
    assert point is not None
    assert float(point.get("lat", "")) == pytest.approx(45.5)
    assert float(point.get("lon", "")) == pytest.approx(25.25)
    assert float(point.get("hae", "")) == pytest.approx(300.0)
    assert float(point.get("ce", "")) == pytest.approx(20.0)
    track = event.find("detail/track")
    assert track is not None
    assert float(track.get("course", "")) == pytest.approx(90.0)
    assert float(track.get("speed", "")) == pytest.approx(10.0)
    remarks = event.find("detail/remarks")
    assert remarks is not None
    assert (remarks.text or "").startswith("SIMULATED gridsim")


def test_drop_event_is_stale_before_start() -> None:
    """A deleted track gives an event whose stale time precedes its start."""
    event = ET.fromstring(to_cot(_track("deleted"), now=NOW, stale_s=30.0))
    assert _when(event.get("stale", "")) < _when(event.get("start", ""))


def test_type_codes() -> None:
    """Rotary and fixed-wing drones are hostile; none or unknown is unknown air."""
    assert type_code("rotary") == "a-h-A-M-H-Q"
    assert type_code("fixed_wing") == "a-h-A-M-F-Q"
    assert type_code(None) == "a-u-A"
    assert type_code("balloon") == "a-u-A"
    event = ET.fromstring(to_cot(_track(), now=NOW, stale_s=5.0, classification="rotary"))
    assert event.get("type") == "a-h-A-M-H-Q"


def test_ce_uses_largest_eigenvalue_of_correlated_covariance() -> None:
    """An off-diagonal term raises ce above the larger variance's root."""
    cov = [0.0] * 16
    cov[0], cov[1], cov[4], cov[5] = 100.0, 50.0, 50.0, 100.0
    assert ce_m(tuple(cov)) == pytest.approx(math.sqrt(150.0))


def test_course_is_clockwise_from_north() -> None:
    """South-west is 225 degrees."""
    course, speed = course_speed(-1.0, -1.0)
    assert course == pytest.approx(225.0)
    assert speed == pytest.approx(math.sqrt(2))


def test_bad_stale_rejected() -> None:
    """A stale period that is not positive is a typed error."""
    with pytest.raises(MessageRejected):
        to_cot(_track(), now=NOW, stale_s=0.0)
