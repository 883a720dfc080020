"""Threat reports as the tracker's detections, in a run's theater frame.

Shared by the fusion centre and by member nodes that fuse their own picture.
"""

from __future__ import annotations

import math

from grid.fusion import Detection
from grid.geo import LocalFrame
from grid.wire.messages import ThreatReport

__all__ = ["detection_from_report"]


def detection_from_report(frame: LocalFrame, msg_id: str, origin: str, report: ThreatReport) -> Detection:
    """The tracker's view of ``report`` (message ``msg_id`` from node ``origin``), angles in radians."""
    r = report
    return Detection(
        time=r.time_s,
        report_id=msg_id,
        node_id=origin,
        sensor_id=r.sensor_id,
        sensor_enu=frame.to_enu(r.sensor_lat, r.sensor_lon, r.sensor_alt_m),
        rotation=frame.rotation_to(r.sensor_lat, r.sensor_lon),
        bearing_rad=math.radians(r.bearing_deg),
        sigma_bearing_rad=math.radians(r.sigma_bearing_deg),
        range_m=r.range_m,
        sigma_range_m=r.sigma_range_m,
        elevation_rad=None if r.elevation_deg is None else math.radians(r.elevation_deg),
        sigma_elevation_rad=None if r.sigma_elevation_deg is None else math.radians(r.sigma_elevation_deg),
        max_range_m=r.max_range_m,
        truth_id=r.truth_id,
    )
