"""A stand-in classifier for ``gridsim cot --classify truth``: a track's kind from the scenario.

The fusion centre does not classify its tracks (its sensors report positions, bearings and RF, not
airframes), so by default every event is unknown air, ``a-u-A``. For a TAK picture that shows the
hostile drone codes, this classifier plays a perfect one: it takes the kind of the threat a
*confirmed* track follows from the run's scenario (the retained run control carries it), through
the track's ``truth_ids``, which the simulation attaches for scoring. A drone is rotary; a
tentative track, a false track (no truth) or one that follows threats of different kinds stays
unclassified, and so does a cruise missile (not a drone). Every event it classifies says so in its
remarks. Sans-IO: the caller passes the run control and each track.
"""

from __future__ import annotations

from grid.errors import GridError
from grid.wire.messages import FusedTrack, RunControl
from grid.world.scenario import ThreatKind, scenario_from_dict

__all__ = ["KIND_CLASSES", "TruthClassifier"]

# A threat's kind -> the classification grid.cot.events.type_code maps to a CoT type.
KIND_CLASSES = {ThreatKind.DRONE: "rotary", ThreatKind.FIXED_WING: "fixed_wing"}


class TruthClassifier:
    """Classifications from each run's scenario; tracks of runs it has not seen stay unclassified."""

    def __init__(self) -> None:
        self._kinds: dict[str, dict[str, ThreatKind]] = {}  # run id -> threat (member) id -> kind
        self._last: dict[tuple[str, str], str] = {}  # (run, track) -> its classification so far

    def learn(self, control: RunControl) -> None:
        """Take the threats of a run's start; a scenario that does not validate teaches nothing."""
        if control.run_id in self._kinds or not control.scenario:
            return
        try:
            scenario = scenario_from_dict(control.scenario, source=f"run {control.run_id}")
        except GridError:
            return  # the run's own services refuse it too: its tracks stay unclassified
        self._kinds[control.run_id] = {t.id: t.kind for t in scenario.expanded_threats()}

    def classify(self, track: FusedTrack) -> str | None:
        """``rotary``, ``fixed_wing`` or None (unclassified); a deleted track keeps its last one."""
        key = (track.run_id, track.track_id)
        if track.status == "deleted":  # its drop event has the type its updates had
            return self._last.pop(key, None)
        kinds = self._kinds.get(track.run_id)
        if kinds is None or track.status != "confirmed" or not track.truth_ids:
            return None
        classes = {KIND_CLASSES.get(kinds[t]) if t in kinds else None for t in track.truth_ids}
        found = classes.pop() if len(classes) == 1 else None
        if found is None:
            self._last.pop(key, None)
        else:
            self._last[key] = found
        return found
