"""Member awareness against hand-built report flows."""

from __future__ import annotations

import numpy as np

from grid.evaluation.awareness import awareness_times
from grid.fusion import Detection


def _report(node: str, time: float, truth: str | None = "x") -> Detection:
    return Detection(
        time=time,
        report_id=f"{node}-{time}",
        node_id=node,
        sensor_id=f"{node}-s",
        sensor_enu=np.zeros(3),
        rotation=np.eye(3),
        bearing_rad=0.0,
        sigma_bearing_rad=0.01,
        truth_id=truth,
    )


def test_own_sensor_grid_report_and_fused_track() -> None:
    """A learns from its own sensor, B from A's report on arrival, C only from the fused track."""
    grids = {"A": ["north"], "B": ["north", "south"], "C": ["east"]}
    reports = [(10.3, _report("A", 10.0)), (12.0, _report("B", 11.5)), (9.0, _report("C", 8.0, truth=None))]
    times = awareness_times(reports, grids, {"x": 20.0})
    assert times == {"A": {"x": 10.0}, "B": {"x": 10.3}, "C": {"x": 20.0}}


def test_never_learned_threat_is_absent() -> None:
    """With no fused track and no shared grid, a member stays unaware."""
    times = awareness_times([(5.0, _report("A", 5.0))], {"A": ["g1"], "B": ["g2"]}, {})
    assert times == {"A": {"x": 5.0}, "B": {}}
