"""Sans-IO converter: a fused track update -> one CoT event (XML bytes).

The fusion centre's tracks carry no classification, so every event is ``a-u-A`` (unknown air)
unless a classification is given (``gridsim cot --classify truth``, :mod:`grid.cot.classify`):
``rotary`` -> ``a-h-A-M-H-Q``, ``fixed_wing`` -> ``a-h-A-M-F-Q``, hostile; the remarks then say it
was classified. ``how`` is ``m-f`` (machine, fused): pytak's ``gen_cot`` hard-codes ``m-g``, so the
XML is built here with ``xml.etree``. Every event is marked simulated: ``opex="s-gridsim"`` (the CoT
event schema's operation/exercise/simulation flag, ``s`` = simulation), ``access="Unclassified"``
and ``<remarks>SIMULATED gridsim</remarks>``.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from grid.errors import MessageRejected
from grid.wire.messages import FusedTrack

__all__ = ["DROPPED", "TYPE_CODES", "UNKNOWN_AIR", "ce_m", "course_speed", "event_uid", "to_cot", "type_code"]

UNKNOWN_AIR = "a-u-A"
TYPE_CODES = {"rotary": "a-h-A-M-H-Q", "fixed_wing": "a-h-A-M-F-Q"}
DROPPED = "deleted"  # the track status whose event is a drop (stale before start)
LE_UNKNOWN = 9999999.0  # CoT's "unknown" for ce/le
REMARKS = "SIMULATED gridsim"


def type_code(classification: str | None) -> str:
    """The CoT type for a track's classification (none or unknown: ``a-u-A``)."""
    if classification is None:
        return UNKNOWN_AIR
    return TYPE_CODES.get(classification, UNKNOWN_AIR)


def ce_m(covariance: tuple[float, ...]) -> float:
    """Circular error (m): sqrt of the largest eigenvalue of the 2x2 east/north position covariance."""
    a, b, c, d = covariance[0], covariance[1], covariance[4], covariance[5]
    half_trace, det = (a + d) / 2, a * d - b * c
    largest = half_trace + math.sqrt(max(half_trace * half_trace - det, 0.0))
    return math.sqrt(max(largest, 0.0))


def course_speed(vel_east_mps: float, vel_north_mps: float) -> tuple[float, float]:
    """Course (degrees clockwise from true north, [0, 360)) and speed (m/s) of a velocity."""
    course = math.degrees(math.atan2(vel_east_mps, vel_north_mps)) % 360.0
    return course, math.hypot(vel_east_mps, vel_north_mps)


def event_uid(track: FusedTrack) -> str:
    """The CoT uid of a track: one per run and track, so that each update moves the same icon."""
    return f"gridsim-{track.run_id}-{track.track_id}"


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def to_cot(track: FusedTrack, *, now: datetime, stale_s: float, classification: str | None = None) -> bytes:
    """The CoT event of ``track`` at wall time ``now``; a deleted track gives a drop event.

    Raises:
        MessageRejected: ``stale_s`` not positive, or a covariance that is not 4x4.
    """
    if not stale_s > 0:
        raise MessageRejected("bad_value", f"stale_s must be > 0, got {stale_s!r}")
    if len(track.covariance) != 16:
        raise MessageRejected("bad_value", "covariance: expected 16 numbers (4x4 row-major)")
    dropped = track.status == DROPPED
    stale = now - timedelta(seconds=1) if dropped else now + timedelta(seconds=stale_s)
    event = ET.Element(
        "event",
        {
            "version": "2.0",
            "uid": event_uid(track),
            "type": type_code(classification),
            "how": "m-f",
            "time": _stamp(now),
            "start": _stamp(now),
            "stale": _stamp(stale),
            "opex": "s-gridsim",
            "access": "Unclassified",
        },
    )
    ET.SubElement(
        event,
        "point",
        {
            "lat": f"{track.lat:.7f}",
            "lon": f"{track.lon:.7f}",
            "hae": f"{track.alt_m:.1f}",
            "ce": f"{ce_m(track.covariance):.1f}",
            "le": f"{LE_UNKNOWN:.1f}",
        },
    )
    detail = ET.SubElement(event, "detail")
    course, speed = course_speed(track.vel_east_mps, track.vel_north_mps)
    ET.SubElement(detail, "track", {"course": f"{course:.1f}", "speed": f"{speed:.2f}"})
    ET.SubElement(detail, "contact", {"callsign": f"gridsim {track.track_id}"})
    remarks = ET.SubElement(detail, "remarks")
    remarks.text = f"{REMARKS} run {track.run_id} track {track.track_id} {track.status}"
    if classification is not None:
        remarks.text += f"; classified {classification} from the scenario (simulated classifier)"
    # ET.tostring is typed Any (str or bytes by encoding); with an encoding it is bytes.
    return bytes(ET.tostring(event, encoding="utf-8", xml_declaration=True)) + b"\n"
