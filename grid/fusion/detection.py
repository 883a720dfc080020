"""The fusion centre's view of one sensor report."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Array", "Detection"]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class Detection:
    """One measurement of one target by one sensor, ready for estimation.

    Angles are in the sensor's own east-north-up frame; ``rotation`` takes theater-frame
    vectors to that frame. ``truth_id`` is a simulation label: it is never used for
    estimation, only carried to ``TrackSnapshot.truth_ids`` for evaluation.
    """

    time: float
    report_id: str
    node_id: str
    sensor_id: str
    sensor_enu: Array
    rotation: Array
    bearing_rad: float
    sigma_bearing_rad: float
    range_m: float | None = None
    sigma_range_m: float | None = None
    elevation_rad: float | None = None
    sigma_elevation_rad: float | None = None
    max_range_m: float | None = None
    truth_id: str | None = None

    @property
    def has_range(self) -> bool:
        """Whether the detection carries a usable slant range and its sigma."""
        return self.range_m is not None and self.sigma_range_m is not None

    @property
    def key(self) -> tuple[float, str, str]:
        """Canonical fusion order: measurement time, then sensor and report id to break ties."""
        return (self.time, self.sensor_id, self.report_id)
