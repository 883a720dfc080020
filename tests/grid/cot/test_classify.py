"""The stand-in classifier: a confirmed track's kind from the run's scenario, via its truth ids."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from grid.cot.classify import TruthClassifier
from grid.cot.events import to_cot
from grid.wire.messages import FusedTrack, RunAction, RunControl

SCENARIO = {
    "name": "mixed",
    "duration_s": 60,
    "threats": [
        {
            "id": "uav-1",
            "kind": "drone",
            "speed_mps": 50,
            "altitude_m": 300,
            "path": [[44.1, 29.1], [44.0, 28.6]],
        },
        {
            "id": "fw-1",
            "kind": "fixed_wing",
            "speed_mps": 60,
            "altitude_m": 900,
            "path": [[44.2, 29.1], [44.0, 28.6]],
        },
        {
            "id": "cm-1",
            "kind": "cruise",
            "speed_mps": 240,
            "altitude_m": 30,
            "path": [[43.9, 29.4], [44.1, 28.6]],
        },
    ],
}


def _control(run_id: str = "r-1", scenario: dict[str, object] | None = None) -> RunControl:
    return RunControl(
        action=RunAction.START,
        run_id=run_id,
        epoch_ns=0,
        speed=1.0,
        scenario=SCENARIO if scenario is None else scenario,
    )


def _track(status: str, *truth: str, track_id: str = "T1", run_id: str = "r-1") -> FusedTrack:
    return FusedTrack(
        run_id=run_id,
        track_id=track_id,
        status=status,
        time_s=1.0,
        lat=44.0,
        lon=28.8,
        alt_m=300.0,
        east_m=0.0,
        north_m=0.0,
        vel_east_mps=0.0,
        vel_north_mps=10.0,
        covariance=(1.0,) * 16,
        truth_ids=truth,
    )


def test_confirmed_tracks_get_their_threats_kind() -> None:
    """Drone: rotary; fixed wing: fixed_wing; cruise, tentative, no truth, mixed kinds: unclassified."""
    classifier = TruthClassifier()
    assert classifier.classify(_track("confirmed", "uav-1")) is None  # the run is not known yet
    classifier.learn(_control())
    assert classifier.classify(_track("tentative", "uav-1")) is None
    assert classifier.classify(_track("confirmed", "uav-1")) == "rotary"
    assert classifier.classify(_track("confirmed", "fw-1", track_id="T2")) == "fixed_wing"
    assert classifier.classify(_track("confirmed", "cm-1", track_id="T3")) is None
    assert classifier.classify(_track("confirmed", track_id="T4")) is None
    assert classifier.classify(_track("confirmed", "uav-1", "fw-1", track_id="T5")) is None
    assert classifier.classify(_track("confirmed", "uav-1", run_id="r-2")) is None


def test_a_drop_keeps_the_tracks_last_class_and_a_bad_scenario_teaches_nothing() -> None:
    """The drop event has its updates' type; a scenario that does not validate classifies nothing."""
    classifier = TruthClassifier()
    classifier.learn(_control())
    classifier.learn(_control("r-bad", {"name": "x", "threats": "not a list"}))
    assert classifier.classify(_track("confirmed", "uav-1")) == "rotary"
    assert classifier.classify(_track("deleted")) == "rotary"
    assert classifier.classify(_track("deleted")) is None  # forgotten once dropped
    assert classifier.classify(_track("confirmed", "uav-1", run_id="r-bad")) is None


def test_classified_event_is_hostile_and_says_so() -> None:
    """A classified event has the hostile rotary code and a remark naming the stand-in classifier."""
    event = ET.fromstring(
        to_cot(_track("confirmed", "uav-1"), now=datetime.now(UTC), stale_s=5.0, classification="rotary")
    )
    assert event.get("type") == "a-h-A-M-H-Q"
    assert (event.findtext("detail/remarks") or "").endswith(
        "; classified rotary from the scenario (simulated classifier)"
    )
