"""Stone Soup's EKF on the same labelled detections as gridsim's filter (optional dependency).

Stone Soup (``pip install 'gridsim[bench]'``) has no streaming multi-target tracker to compare
with, so it filters each threat on its own labelled detections: the same initial state and the
same reports, in time order, one ``ExtendedKalmanPredictor.predict`` plus one
``ExtendedKalmanUpdater.update`` each. Its stock models are 2D: ``CartesianToBearingRange`` and
``Cartesian2DToBearing`` with the sensor position as ``translation_offset``, in the theater
plane. Each report is mapped into that plane once, before timing: the azimuth is rotated out
of the sensor's own frame, and the slant range becomes a plane range using the threat's true
altitude; gridsim's EKF is given the true altitude too in this comparison (its tracker is not).
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from grid.app.bench.runners import FilterInput, RunResult
from grid.evaluation.picture import TrackUpdate
from grid.fusion import Detection
from grid.geo import EARTH_RADIUS_M

__all__ = ["available", "plane_measurement", "run_stonesoup", "run_stonesoup_gnn", "version"]

_EPOCH = datetime(2025, 1, 1)
_ORDER = [0, 2, 1, 3]  # gridsim [e, n, ve, vn] -> Stone Soup [x, vx, y, vy]

Altitude = Callable[[str, float], float]  # (threat id, time) -> true altitude


def available() -> bool:
    """Whether Stone Soup can be imported."""
    return importlib.util.find_spec("stonesoup") is not None


def version() -> str | None:
    """Stone Soup's version, or None when it is not installed."""
    if not available():
        return None
    import stonesoup  # type: ignore[import-untyped, import-not-found, unused-ignore]

    return str(stonesoup.__version__)


def plane_measurement(det: Detection, altitude_m: float) -> tuple[float, float | None]:
    """(bearing counter-clockwise from east in the theater plane, plane range or None)."""
    r00, r01, _, r10, r11, _, _, _, _ = det.frame
    s, c = math.sin(det.bearing_rad), math.cos(det.bearing_rad)
    theta = math.atan2(r01 * s + r11 * c, r00 * s + r10 * c)  # rotation.T @ (sin az, cos az, 0)
    if det.range_m is None:
        return theta, None
    r = det.range_m
    e_s, n_s, u_s = det.site
    e, n = e_s + r * math.cos(theta), n_s + r * math.sin(theta)
    rise = altitude_m - (e * e + n * n) / (2.0 * EARTH_RADIUS_M) - u_s
    return theta, math.sqrt(max(r * r - rise * rise, 1.0))


class _Models:
    """One Stone Soup measurement model per sensor (per report for a moving platform)."""

    def __init__(self) -> None:
        from stonesoup.models.measurement.nonlinear import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
            Cartesian2DToBearing,
            CartesianToBearingRange,
        )

        self._ranged = CartesianToBearingRange
        self._bearing = Cartesian2DToBearing
        self._cache: dict[tuple[str, float, float, bool], Any] = {}

    def model(self, det: Detection, ranged: bool) -> Any:
        offset = (det.site[0], det.site[1])
        key = (det.sensor_id, offset[0], offset[1], ranged)
        found = self._cache.get(key)
        if found is None:
            where = np.array([[offset[0]], [offset[1]]])
            sb = det.sigma_bearing_rad
            if ranged:
                sr = float(det.sigma_range_m or 0.0)
                found = self._ranged(
                    ndim_state=4,
                    mapping=(0, 2),
                    noise_covar=np.diag([sb * sb, sr * sr]),
                    translation_offset=where,
                )
            else:
                found = self._bearing(
                    ndim_state=4, mapping=(0, 2), noise_covar=np.array([[sb * sb]]), translation_offset=where
                )
            self._cache[key] = found
        return found


def _state(problem: FilterInput, gaussian_state: Any, state_vector: Any, covariance: Any) -> Any:
    seed = problem.seed
    x = np.asarray(seed.state, dtype=np.float64)[_ORDER]
    p = np.asarray(seed.covariance, dtype=np.float64)[np.ix_(_ORDER, _ORDER)]
    return gaussian_state(state_vector(x), covariance(p), timestamp=_EPOCH + timedelta(seconds=seed.key[0]))


def run_stonesoup(inputs: Sequence[FilterInput], altitude: Altitude, *, q: float = 1.0) -> RunResult:
    """Stone Soup's EKF on each threat's labelled detections; times each predict plus update."""
    from stonesoup.models.transition.linear import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
        CombinedLinearGaussianTransitionModel,
        ConstantVelocity,
    )
    from stonesoup.predictor.kalman import ExtendedKalmanPredictor  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from stonesoup.types.angle import Bearing  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from stonesoup.types.array import CovarianceMatrix, StateVector  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from stonesoup.types.detection import Detection as SsDetection  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from stonesoup.types.hypothesis import SingleHypothesis  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from stonesoup.types.state import GaussianState  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from stonesoup.updater.kalman import ExtendedKalmanUpdater  # type: ignore[import-untyped, import-not-found, unused-ignore]

    predictor = ExtendedKalmanPredictor(CombinedLinearGaussianTransitionModel([ConstantVelocity(q)] * 2))
    updater = ExtendedKalmanUpdater(measurement_model=None)
    models = _Models()
    clock = time.perf_counter
    updates: list[TrackUpdate] = []
    spent, calls = 0.0, 0
    for problem in inputs:
        prepared = []
        for det in problem.detections:  # conversion is data preparation: not timed
            theta, rho = plane_measurement(det, altitude(problem.threat_id, det.time))
            vector = StateVector([Bearing(theta)]) if rho is None else StateVector([Bearing(theta), rho])
            stamp = _EPOCH + timedelta(seconds=det.time)
            prepared.append(
                (
                    det.time,
                    SsDetection(
                        vector, timestamp=stamp, measurement_model=models.model(det, rho is not None)
                    ),
                )
            )
        seed = problem.seed
        x = np.asarray(seed.state, dtype=np.float64)[_ORDER]
        p = np.asarray(seed.covariance, dtype=np.float64)[np.ix_(_ORDER, _ORDER)]
        state = GaussianState(
            StateVector(x), CovarianceMatrix(p), timestamp=_EPOCH + timedelta(seconds=seed.key[0])
        )
        for t, ss_det in prepared:
            started = clock()
            prediction = predictor.predict(state, timestamp=ss_det.timestamp)
            state = updater.update(SingleHypothesis(prediction, ss_det))
            spent += clock() - started
            calls += 1
            sv = state.state_vector
            updates.append(
                TrackUpdate(
                    time=t,
                    issued=t,
                    track_id=problem.threat_id,
                    east=float(sv[0, 0]),
                    north=float(sv[2, 0]),
                    vel_east=float(sv[1, 0]),
                    vel_north=float(sv[3, 0]),
                )
            )
    return RunResult(updates, spent / max(calls, 1) * 1e6, calls, {})


def run_stonesoup_gnn(
    inputs: Sequence[FilterInput], reports: Sequence[Detection], altitude: Altitude, *, limit: int = 1000
) -> tuple[float, int]:
    """Stone Soup's own multi-target association on a slice of the stream, for its cost only.

    Every threat's track starts from its seed (no initiation or deletion); then each report
    after the last seed, one at a time as the fusion centre receives them, goes through
    ``GNNWith2DAssignment`` with a ``DistanceHypothesiser`` (Mahalanobis, gate 3), and the
    tracks are updated or coasted as in Stone Soup's tutorials. Returns (microseconds per
    report, reports timed), at most ``limit`` reports.
    """
    from stonesoup.dataassociator.neighbour import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
        GNNWith2DAssignment,
    )
    from stonesoup.hypothesiser.distance import DistanceHypothesiser  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from stonesoup.measures import Mahalanobis  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from stonesoup.models.transition.linear import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
        CombinedLinearGaussianTransitionModel,
        ConstantVelocity,
    )
    from stonesoup.predictor.kalman import ExtendedKalmanPredictor  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from stonesoup.types.angle import Bearing  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from stonesoup.types.array import CovarianceMatrix, StateVector  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from stonesoup.types.detection import Detection as SsDetection  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from stonesoup.types.state import GaussianState  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from stonesoup.types.track import Track  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from stonesoup.updater.kalman import ExtendedKalmanUpdater  # type: ignore[import-untyped, import-not-found, unused-ignore]

    predictor = ExtendedKalmanPredictor(CombinedLinearGaussianTransitionModel([ConstantVelocity(1.0)] * 2))
    updater = ExtendedKalmanUpdater(measurement_model=None)
    associator = GNNWith2DAssignment(
        DistanceHypothesiser(predictor, updater, Mahalanobis(), missed_distance=3)
    )
    tracks = {Track([_state(p, GaussianState, StateVector, CovarianceMatrix)]) for p in inputs}
    start = max((p.seed.key[0] for p in inputs), default=0.0)
    models = _Models()
    prepared = []
    for det in reports:
        if det.time <= start:
            continue
        known = det.truth_id is not None and any(p.threat_id == det.truth_id for p in inputs)
        theta, rho = plane_measurement(
            det, altitude(det.truth_id, det.time) if known and det.truth_id else 300.0
        )
        vector = StateVector([Bearing(theta)]) if rho is None else StateVector([Bearing(theta), rho])
        stamp = _EPOCH + timedelta(seconds=det.time)
        prepared.append(
            SsDetection(vector, timestamp=stamp, measurement_model=models.model(det, rho is not None))
        )
        if len(prepared) >= limit:
            break
    clock = time.perf_counter
    started = clock()
    for ss_det in prepared:
        hypotheses = associator.associate(tracks, {ss_det}, ss_det.timestamp)
        for track, hypothesis in hypotheses.items():
            track.append(updater.update(hypothesis) if hypothesis else hypothesis.prediction)
    spent = clock() - started
    return spent / max(len(prepared), 1) * 1e6, len(prepared)
