"""Track-quality measures against hand-built track streams over a known truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grid.evaluation import Scoring, TrackUpdate, TruthTable, evaluate, labelled_quality, picture_at
from grid.geo import LocalFrame
from grid.world.scenario import scenario_from_dict
from grid.world.truth import GroundTruth

ORIGIN = (44.2, 28.8)


def _truth() -> GroundTruth:
    """Threat ``a`` flies 50 m/s due east from the origin from t = 10 s; ``b`` 20 km north, from t = 0."""
    frame = LocalFrame(*ORIGIN)

    def point(east: float, north: float) -> list[float]:
        lat, lon, _ = frame.surface_point(east, north, 0.0)
        return [lat, lon]

    scenario = scenario_from_dict(
        {
            "name": "quality",
            "duration_s": 300,
            "origin": list(ORIGIN),
            "threats": [
                {
                    "id": "a",
                    "start_s": 10,
                    "speed_mps": 50,
                    "altitude_m": 300,
                    "path": [point(0, 0), point(20_000, 0)],
                },
                {
                    "id": "b",
                    "speed_mps": 50,
                    "altitude_m": 300,
                    "path": [point(0, 20_000), point(20_000, 20_000)],
                },
            ],
        }
    )
    return GroundTruth(scenario)


def _on(
    truth: GroundTruth, threat: str, t: float, track: str, north_error: float, **kw: object
) -> TrackUpdate:
    state = truth.trajectories[threat].plane_state(t)
    assert state is not None
    e, n, ve, vn = state
    return TrackUpdate(
        time=t,
        issued=t,
        track_id=track,
        east=e,
        north=n + north_error,
        vel_east=ve,
        vel_north=vn,
        **kw,  # type: ignore[arg-type]
    )


def _scoring(**kw: float) -> Scoring:
    return Scoring(first_detection={"a": 12.0, "b": 1.0}, locate_radius_m=150.0, settle_s=20.0, **kw)


def test_rmse_locate_switches_and_false_tracks() -> None:
    """T1 follows a 30 m off, then T2 takes over: one switch; T9 far off is false; b is never tracked."""
    truth = _truth()
    updates = [_on(truth, "a", 14.0, "T1", 300.0, confirmed=False)]  # tentative, outside the radius
    updates += [_on(truth, "a", float(t), "T1", 30.0) for t in range(15, 60)]
    updates += [_on(truth, "a", float(t), "T2", 40.0) for t in range(75, 120)]
    updates += [TrackUpdate(time=50.0, issued=50.0, track_id="T9", east=-40_000.0, north=0.0)]
    updates.sort(key=lambda u: u.issued)
    quality = evaluate(TruthTable(truth), updates, _scoring())
    a = quality.threats["a"]
    assert a.time_to_first_detection_s == pytest.approx(2.0)
    assert a.time_to_first_track_s == pytest.approx(4.0)
    assert a.time_to_locate_s == pytest.approx(5.0)  # first confirmed update within 150 m, and its next two
    assert a.track_ids == ("T1", "T2")
    assert a.id_switches == 1
    assert a.track_breaks == 1  # T1 stops at 59 s, is dropped from the picture after 10 s, T2 starts at 75 s
    # From 32 s on (first detection + 20 s): errors of 30 m (T1, 28 updates) and 40 m (T2, 45 updates).
    expected = math.sqrt((28 * 30.0**2 + 45 * 40.0**2) / 73)
    assert a.converged_rmse_m == pytest.approx(expected, rel=1e-6)
    assert quality.false_tracks == 1
    b = quality.threats["b"]
    assert (b.time_to_locate_s, b.converged_rmse_m, b.track_ids) == (None, None, ())


def test_duplicate_track_is_not_in_the_rmse() -> None:
    """A second track 200 m off the same threat is a false estimate, not part of its RMSE."""
    truth = _truth()
    updates = []
    for t in range(15, 60):
        updates += [_on(truth, "a", float(t), "T1", 10.0), _on(truth, "a", float(t) + 0.5, "T2", 200.0)]
    quality = evaluate(TruthTable(truth), updates, _scoring())
    assert quality.threats["a"].converged_rmse_m == pytest.approx(10.0)
    assert quality.threats["a"].id_switches == 0
    assert quality.ospa_m > 0.0


def test_picture_extrapolates_and_drops_stale_and_deleted() -> None:
    """A live track is moved by its velocity; one too old or deleted is gone."""
    moving = TrackUpdate(time=10.0, issued=10.5, track_id="M", east=0.0, north=0.0, vel_east=10.0)
    stale = TrackUpdate(time=1.0, issued=1.0, track_id="S", east=5.0, north=5.0)
    gone = [TrackUpdate(time=9.0, issued=9.0, track_id="D", east=1.0, north=1.0)]
    gone.append(TrackUpdate(time=9.0, issued=11.0, track_id="D", east=1.0, north=1.0, deleted=True))
    updates = sorted([moving, stale, *gone], key=lambda u: u.issued)
    assert picture_at(updates, 10.2) == {"S": (5.0, 5.0), "D": (1.0, 1.0)}  # M not issued yet
    assert picture_at(updates, 12.0) == {"M": (20.0, 0.0)}


def test_labelled_quality_uses_the_label() -> None:
    """Single-target runs are scored against the threat named by the track id."""
    truth = _truth()
    updates = [_on(truth, "a", float(t), "a", 20.0) for t in range(13, 100)]
    a = labelled_quality(TruthTable(truth), updates, _scoring())["a"]
    assert a.converged_rmse_m == pytest.approx(20.0)
    assert a.time_to_locate_s == pytest.approx(3.0)
    assert len(a.squared_errors) == len([t for t in range(13, 100) if t >= 32])


def test_truth_table_interpolates_and_masks() -> None:
    """Table positions match the trajectory to a millimetre and are NaN outside the flight."""
    truth = _truth()
    table = TruthTable(truth)
    times = np.array([5.0, 10.0, 33.3, 200.0])
    pos = table.positions(times)
    j = table.ids.index("a")
    assert np.isnan(pos[0, j, 0])
    for k, t in enumerate(times[1:], start=1):
        state = truth.trajectories["a"].plane_state(float(t))
        assert state is not None
        assert pos[k, j] == pytest.approx(state[:2], abs=1e-3)


def test_nothing_is_scored_after_the_run_ends() -> None:
    """With until_s, a threat still flying at the end of the run is not a missed target after it."""
    truth = _truth()
    table = TruthTable(truth, until_s=60.0)
    assert np.isnan(table.positions(np.array([61.0]))).all()
    updates = [_on(truth, "a", float(t), "T1", 0.0) for t in range(10, 60)]
    updates += [_on(truth, "b", float(t), "T2", 0.0) for t in range(0, 60)]
    quality = evaluate(table, sorted(updates, key=lambda u: u.issued), _scoring())
    assert [t for t, _ in quality.ospa_series][-1] == pytest.approx(60.0)
    assert quality.ospa_series[-1][1] == pytest.approx(0.0, abs=1.0)
    assert [t for t, _ in quality.gospa_series] == [t for t, _ in quality.ospa_series]
    assert quality.gospa_m == pytest.approx(
        sum(g for _, g in quality.gospa_series) / len(quality.gospa_series)
    )


def test_given_locate_times_are_used_not_recomputed() -> None:
    """A caller that computed the time to locate already (the run summary) passes it in: one definition."""
    truth = _truth()
    updates = [_on(truth, "a", float(t), "T1", 30.0) for t in range(15, 60)]
    computed = evaluate(TruthTable(truth), updates, _scoring())
    start = truth.trajectories["a"].threat.start_s
    given = evaluate(TruthTable(truth), updates, _scoring(), located={"a": (start + 20.0, "T1")})
    assert computed.threats["a"].time_to_locate_s == pytest.approx(5.0)
    assert given.threats["a"].time_to_locate_s == pytest.approx(20.0)
    assert given.threats["b"].time_to_locate_s is None  # not given: computed as usual
