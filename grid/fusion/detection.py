"""The fusion centre's view of one sensor report."""

from __future__ import annotations

from dataclasses import dataclass, field

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

    ``site``, ``frame``, ``key`` and ``has_range`` are derived once at construction: the
    tracker reads them on every gate test, where numpy element access would dominate.
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
    site: tuple[float, float, float] = field(init=False, repr=False, compare=False)
    frame: tuple[float, ...] = field(init=False, repr=False, compare=False)
    key: tuple[float, str, str] = field(init=False, repr=False, compare=False)
    has_range: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        e, n, u = (float(v) for v in self.sensor_enu)
        object.__setattr__(self, "site", (e, n, u))
        object.__setattr__(self, "frame", tuple(float(v) for v in np.ravel(self.rotation)))
        # Canonical fusion order: measurement time, then sensor and report id to break ties.
        object.__setattr__(self, "key", (self.time, self.sensor_id, self.report_id))
        object.__setattr__(self, "has_range", self.range_m is not None and self.sigma_range_m is not None)
