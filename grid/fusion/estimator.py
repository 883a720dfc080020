"""Per-track estimation in measurement-time order, with retrodiction by replay.

Each track keeps a short history of (detection, posterior) steps ordered by
:attr:`Detection.key`. A detection later than the newest step is a plain predict-update; an
older one (still after the history's base) is inserted in order and every later step is
re-applied from the posterior before it, so the result equals processing in time order.
The altitude, a scalar random walk fed by radar elevations, is replayed with the state.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from grid.fusion.detection import Array, Detection
from grid.fusion.filter import Filter, Innovation
from grid.fusion.models import MeasurementModel, MotionModel, altitude_measurement, wrap_angle
from grid.fusion.track import HistoryEntry, Track

__all__ = ["Prior", "TrackEstimator"]

_PREGATE_SLACK_M = 200.0


def _entry_key(entry: HistoryEntry) -> tuple[float, str, str]:
    return entry.key


def _detection_key(detection: Detection) -> tuple[float, str, str]:
    return detection.key


@dataclass(frozen=True, slots=True)
class Prior:
    """A track's prior at a detection's time; ``fusable`` is False when the detection falls
    before the history's base (then the prior is a retrodiction of the base, for gating only)."""

    state: Array
    covariance: Array
    altitude: tuple[float, float]  # (mean, variance)
    fusable: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackEstimator:
    """Predicts, updates and replays one track's history.

    Attributes:
        motion: the motion model.
        filter: EKF or UKF.
        model: the measurement model (chooses range-bearing or bearing-only per detection).
        replay_window_s: how far behind a track's newest step a detection may still be fused.
        altitude_q: altitude random-walk intensity, m^2/s.
    """

    motion: MotionModel
    filter: Filter
    model: MeasurementModel
    replay_window_s: float = 10.0
    altitude_q: float = 10.0

    def prior(self, track: Track, detection: Detection) -> Prior:
        """The prior against which ``detection`` would be fused."""
        history = track.history
        index = bisect.bisect_right(history, detection.key, key=_entry_key) - 1
        fusable = index >= 0 and detection.key != history[index].key
        return self._predict(history[max(index, 0)], detection, fusable=fusable)

    def may_gate(self, track: Track, detection: Detection, sigmas: float = 6.0) -> bool:
        """Cheap, conservative pre-gate: False only if the detection's azimuth misses the track's
        extrapolated position by more than ``sigmas`` combined standard deviations.

        Skips the linearisation for far tracks; the real gate is applied to the rest.
        """
        latest = track.history[-1]
        x = latest.state.tolist()
        p = latest.covariance
        dt = detection.time - latest.time
        s = detection.sensor_enu.tolist()
        de, dn = x[0] + x[2] * dt - s[0], x[1] + x[3] * dt - s[1]
        r = detection.rotation.tolist()
        le, ln = r[0][0] * de + r[0][1] * dn, r[1][0] * de + r[1][1] * dn
        q = self.motion.noise(dt)
        # Trace-based position spread: never below the worst-axis sigma, plus slack for altitude and tilt.
        spread = (
            math.sqrt(float(p[0, 0] + p[1, 1] + q[0, 0] + q[1, 1]))
            + abs(dt) * math.sqrt(float(p[2, 2] + p[3, 3]))
            + _PREGATE_SLACK_M
        )
        reach = sigmas * spread
        distance = math.hypot(le, ln)
        if reach >= distance:
            return True
        miss = abs(wrap_angle(detection.bearing_rad - math.atan2(le, ln)))
        return miss <= sigmas * detection.sigma_bearing_rad + math.asin(reach / distance)

    def innovation(self, track: Track, detection: Detection) -> tuple[Innovation, Prior]:
        """Innovation of ``detection`` against the track, and the prior it was taken against."""
        p = self.prior(track, detection)
        return self.filter.innovation(self.model, p.state, p.covariance, detection, p.altitude), p

    def fuse(self, track: Track, detections: list[Detection], prior: Prior | None = None) -> None:
        """Fold ``detections`` (all fusable, any order) into the track's history.

        ``prior`` may be the one :meth:`prior` gave for the earliest of them against the
        unchanged history: it saves a predict, with an identical result.
        """
        new = sorted(detections, key=_detection_key) if len(detections) > 1 else detections
        history = track.history
        start = bisect.bisect_right(history, new[0].key, key=_entry_key)
        merged = new
        if start < len(history):
            replay = [entry.detections[0] for entry in history[start:]]
            del history[start:]
            merged = sorted(replay + new, key=_detection_key)
        for det in merged:
            history.append(self._step(history[-1], det, prior))
            prior = None
        track.record(tuple(new))
        self._prune(history)

    def _predict(self, base: HistoryEntry, detection: Detection, *, fusable: bool = True) -> Prior:
        dt = detection.time - base.time
        state, covariance = self.filter.predict(self.motion, base.state, base.covariance, dt)
        return Prior(
            state, covariance, (base.altitude_m, base.altitude_var + self.altitude_q * abs(dt)), fusable
        )

    def _step(self, base: HistoryEntry, detection: Detection, prior: Prior | None) -> HistoryEntry:
        if prior is None:
            prior = self._predict(base, detection)
        post = self.filter.update(self.model, prior.state, prior.covariance, detection, prior.altitude)
        altitude, altitude_var = prior.altitude
        measured = altitude_measurement(detection)
        if measured is not None:
            gain = altitude_var / (altitude_var + measured[1])
            altitude += gain * (measured[0] - altitude)
            altitude_var *= 1.0 - gain
        post.state.flags.writeable = False
        post.covariance.flags.writeable = False
        return HistoryEntry(detection.key, (detection,), post.state, post.covariance, altitude, altitude_var)

    def _prune(self, history: list[HistoryEntry]) -> None:
        """Keep the steps inside the window plus the newest one before it, the new base."""
        cutoff = history[-1].time - self.replay_window_s
        if history[1 if len(history) > 1 else 0].time >= cutoff:
            return
        first_inside = bisect.bisect_left(history, (cutoff, "", ""), key=_entry_key)
        if first_inside > 1:
            del history[: first_inside - 1]
