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

from grid.fusion.detection import Detection
from grid.fusion.filter import Filter, Innovation
from grid.fusion.gaussian import Gaussian
from grid.fusion.models import MeasurementModel, MotionModel, altitude_measurement
from grid.fusion.track import HistoryEntry, Track

__all__ = ["Gate", "Prior", "TrackEstimator"]

_PREGATE_SLACK_M = 200.0
_TWO_PI = 2.0 * math.pi


Gate = tuple[float, float, int, bool]  # (d2, ln det S, measurement dimension, fusable)


def _entry_key(entry: HistoryEntry) -> tuple[float, str, str]:
    return entry.key


def _detection_key(detection: Detection) -> tuple[float, str, str]:
    return detection.key


@dataclass(frozen=True, slots=True)
class Prior:
    """A track's prior at a detection's time; ``fusable`` is False when the detection falls
    before the history's base (then the prior is a retrodiction of the base, for gating only)."""

    estimate: Gaussian
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
        nis_weight: weight of each new detection in the track's running mean NIS.
    """

    motion: MotionModel
    filter: Filter
    model: MeasurementModel
    replay_window_s: float = 10.0
    altitude_q: float = 10.0
    nis_weight: float = 0.2

    def prior(self, track: Track, detection: Detection) -> Prior:
        """The prior against which ``detection`` would be fused."""
        base, fusable = self._base(track, detection)
        return self._predict(base, detection, fusable=fusable)

    def gate(self, track: Track, detection: Detection) -> Gate:
        """(d2, ln det S, dim, fusable) of ``detection`` against the track, from the predicted
        position alone.

        Every measurement model here observes position only, so this equals the EKF's full
        innovation at a fraction of its cost; the tracker computes the full innovation only for
        the track a detection is assigned to. A detection of a scan the track already holds a
        detection of is gated against the prior of that scan (as its rival for the scan).
        """
        base, fusable = self._base(track, detection, rival=True)
        return self._gate_from(base, detection, fusable)

    def _gate_from(self, base: HistoryEntry, detection: Detection, fusable: bool) -> Gate:
        dt = detection.time - base.key[0]
        e, n, pee, pen, pnn = self.motion.position(base.estimate, dt)
        lin = self.model.linearise(
            (e, n, 0.0, 0.0), detection, base.altitude_m, base.altitude_var + self.altitude_q * abs(dt)
        )
        r = lin.r
        if len(lin.y) == 1:
            ((h0, h1),) = lin.h
            s = h0 * (h0 * pee + h1 * pen) + h1 * (h0 * pen + h1 * pnn) + r[0]
            y = lin.y[0]
            return y * y / s, math.log(s), 1, fusable
        (a0, a1), (b0, b1) = lin.h
        s00 = a0 * (a0 * pee + a1 * pen) + a1 * (a0 * pen + a1 * pnn) + r[0]
        s01 = a0 * (b0 * pee + b1 * pen) + a1 * (b0 * pen + b1 * pnn) + r[1]
        s11 = b0 * (b0 * pee + b1 * pen) + b1 * (b0 * pen + b1 * pnn) + r[3]
        det = s00 * s11 - s01 * s01
        y0, y1 = lin.y
        return (s11 * y0 * y0 - 2.0 * s01 * y0 * y1 + s00 * y1 * y1) / det, math.log(det), 2, fusable

    @staticmethod
    def held(track: Track, detection: Detection) -> int:
        """Index in the track's history of the step holding a detection of the same scan as
        ``detection`` (same sensor, same measurement time), or -1."""
        history = track.history
        time, sensor = detection.time, detection.sensor_id
        if history[-1].key[0] < time:
            return -1
        index = bisect.bisect_left(history, (time, sensor, ""), key=_entry_key)
        if index < len(history):
            key = history[index].key
            if key[0] == time and key[1] == sensor:
                return index
        return -1

    def held_gate(self, track: Track, index: int) -> Gate:
        """The gate of the detection held at ``history[index]`` against the prior it was fused on."""
        history = track.history
        return self._gate_from(history[index - 1], history[index].detections[0], True)

    def replace(self, track: Track, index: int, detection: Detection) -> Detection:
        """Swap the detection held at ``history[index]`` (not the base) for ``detection`` of the
        same scan, replaying the later steps; returns the detection taken out."""
        history = track.history
        removed = history[index].detections[0]
        later = history[index + 1 :]
        del history[index:]
        steps = sorted(
            [(detection, 1.0), *((entry.detections[0], entry.weight) for entry in later)],
            key=lambda step: step[0].key,
        )
        for det, weight in steps:
            history.append(self._step(history[-1], det, None, None, weight))
        track.relabel(detection)
        self._prune(history)
        return removed

    @staticmethod
    def _base(track: Track, detection: Detection, *, rival: bool = False) -> tuple[HistoryEntry, bool]:
        """The step a detection is predicted from, and whether it may be fused there; with
        ``rival``, never a step holding a detection of the same scan."""
        history = track.history
        key = detection.key
        latest = history[-1].key
        if key > latest and (not rival or latest[0] != key[0] or latest[1] != key[1] or len(history) == 1):
            return history[-1], True
        index = bisect.bisect_right(history, key, key=_entry_key) - 1
        fusable = index >= 0 and key != history[index].key
        # Not after a detection of the same scan: the two are rivals for it, not successive.
        while rival and index > 0 and history[index].key[0] == key[0] and history[index].key[1] == key[1]:
            index -= 1
        return history[max(index, 0)], fusable

    def may_gate(self, track: Track, detection: Detection, sigmas: float = 6.0) -> bool:
        """Cheap pre-gate: False if the track's extrapolated position is out of the sensor's
        coverage (``max_range_m``) or the detection's azimuth misses it, each by more than
        ``sigmas`` combined standard deviations.

        The coverage rule is part of gating (a sensor cannot have seen a target beyond its
        range); the azimuth rule is a conservative shortcut that skips the linearisation for
        far tracks, the chi-square gate being applied to the rest.
        """
        latest = track.history[-1]
        x0, x1, x2, x3 = latest.estimate.x
        p = latest.estimate.p
        dt = detection.time - latest.key[0]
        s0, s1, _ = detection.site
        de, dn = x0 + x2 * dt - s0, x1 + x3 * dt - s1
        r = detection.frame
        le, ln = r[0] * de + r[1] * dn, r[3] * de + r[4] * dn
        # Trace-based position spread: never below the worst-axis sigma, plus slack for altitude and tilt.
        spread = (
            math.sqrt(p[0] + p[5])
            + abs(dt) * math.sqrt(p[10] + p[15])
            + 1.5 * self.motion.spread(dt)
            + _PREGATE_SLACK_M
        )
        reach = sigmas * spread
        distance = math.hypot(le, ln)
        if detection.max_range_m is not None and distance - reach > detection.max_range_m:
            return False
        if reach >= distance:
            return True
        miss = abs(math.pi - (math.pi - detection.bearing_rad + math.atan2(le, ln)) % _TWO_PI)
        return miss <= sigmas * detection.sigma_bearing_rad + math.asin(reach / distance)

    def innovation(self, track: Track, detection: Detection) -> tuple[Innovation, Prior]:
        """Innovation of ``detection`` against the track, and the prior it was taken against."""
        p = self.prior(track, detection)
        return self.filter.innovation(self.model, p.estimate, detection, p.altitude), p

    def fuse(
        self,
        track: Track,
        detections: list[Detection],
        prior: Prior | None = None,
        innovation: Innovation | None = None,
        weight: float = 1.0,
    ) -> None:
        """Fold ``detections`` (all fusable, any order) into the track's history.

        ``prior`` (and ``innovation``) may be what :meth:`innovation` gave for the earliest of
        them against the unchanged history: they save a predict and a linearisation, with an
        identical result. ``weight`` < 1 fuses them as PDA updates (JPDA); steps replayed keep
        the weight they were fused with. Only detections fused with weight 0.5 or more count as
        the track's (its labels, update count and NIS).
        """
        new = sorted(detections, key=_detection_key) if len(detections) > 1 else detections
        history = track.history
        weights: dict[tuple[float, str, str], float] = {}
        if new[0].key > history[-1].key:
            merged = new
        else:
            start = bisect.bisect_right(history, new[0].key, key=_entry_key)
            weights = {entry.key: entry.weight for entry in history[start:]}
            replay = [entry.detections[0] for entry in history[start:]]
            del history[start:]
            merged = sorted(replay + new, key=_detection_key)
        owned = weight >= 0.5
        for det in merged:
            replayed = weights.get(det.key)
            entry = self._step(history[-1], det, prior, innovation, weight if replayed is None else replayed)
            history.append(entry)
            prior, innovation = None, None
            if replayed is None and owned:
                track.nis += self.nis_weight * (entry.nis - track.nis)
        if owned:
            track.record(new)
        self._prune(history)

    def retrodict(self, track: Track, detection: Detection) -> None:
        """Fuse ``detection``, older than all of a young track's history (its base the initiation).

        The initiation is predicted back to the detection's time (the motion model's noise grows
        with the gap either way) and updated with it: that is the new base. The initiation stays
        in the history as a step of weight 0 (its information is in the new base), so replays
        and the one-detection-per-scan rule still see it; the later steps are replayed after it.
        """
        history = track.history
        base, later = history[0], history[1:]
        first = self._step(base, detection, None, None)
        history[:] = [first, self._step(first, base.detections[0], None, None, weight=0.0)]
        for entry in later:
            history.append(self._step(history[-1], entry.detections[0], None, None, entry.weight))
        track.nis += self.nis_weight * (first.nis - track.nis)
        track.record([detection])
        track.hit_times.sort()
        self._prune(history)

    def _predict(self, base: HistoryEntry, detection: Detection, *, fusable: bool = True) -> Prior:
        dt = detection.time - base.key[0]
        estimate = self.filter.predict(self.motion, base.estimate, dt)
        return Prior(estimate, (base.altitude_m, base.altitude_var + self.altitude_q * abs(dt)), fusable)

    def _step(
        self,
        base: HistoryEntry,
        detection: Detection,
        prior: Prior | None,
        innovation: Innovation | None,
        weight: float = 1.0,
    ) -> HistoryEntry:
        if prior is None:
            prior = self._predict(base, detection)
        post = self.filter.update(
            self.model, prior.estimate, detection, prior.altitude, innovation=innovation, weight=weight
        )
        altitude, altitude_var = prior.altitude
        if detection.elevation_rad is not None and weight >= 0.5:
            measured = altitude_measurement(detection)
            if measured is not None:
                gain = altitude_var / (altitude_var + measured[1])
                altitude += gain * (measured[0] - altitude)
                altitude_var *= 1.0 - gain
        inn = post.innovation
        return HistoryEntry(
            detection.key, (detection,), post.estimate, altitude, altitude_var, inn.d2 / len(inn.y), weight
        )

    def _prune(self, history: list[HistoryEntry]) -> None:
        """Keep the steps inside the window plus the newest one before it, the new base."""
        cutoff = history[-1].key[0] - self.replay_window_s
        if history[1 if len(history) > 1 else 0].key[0] >= cutoff:
            return
        first_inside = bisect.bisect_left(history, (cutoff, "", ""), key=_entry_key)
        if first_inside > 1:
            del history[: first_inside - 1]
