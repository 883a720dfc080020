"""AirPicture: each track at most once per interval, confirmation and deletion at once, on virtual time."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grid.errors import ConfigError
from grid.fusion import TrackSnapshot, TrackStatus
from grid.participants.air_picture import AirPicture


def snap(
    track_id: str, t: float, status: TrackStatus = TrackStatus.CONFIRMED, east: float = 0.0
) -> TrackSnapshot:
    """A snapshot of ``track_id`` at ``t`` (``east`` tells states apart)."""
    return TrackSnapshot(
        track_id=track_id,
        status=status,
        time=t,
        state=np.array([east, 0.0, 0.0, 0.0]),
        covariance=np.eye(4),
        altitude_m=100.0,
        node_ids=frozenset({"RO"}),
        sensor_ids=frozenset({"RO-1"}),
        truth_ids=frozenset(),
        updates=1,
    )


def test_at_most_one_publication_per_interval_and_the_latest_state_wins() -> None:
    """Updates within the interval are held; once it has elapsed the newest one goes out, not the others."""
    air = AirPicture(1.0)
    first = snap("T1", 0.0)
    assert air.offer(0.0, first) == [first], "a new track at once"
    assert air.offer(0.3, snap("T1", 0.3, east=3.0)) == []
    assert air.offer(0.6, snap("T1", 0.6, east=6.0)) == []
    assert air.next_due() == 1.0
    assert air.due(0.9) == []
    (sent,) = air.due(1.0)
    assert sent.time == 0.6, "the latest held state"
    assert float(sent.state[0]) == 6.0
    assert air.next_due() is None
    assert air.offer(1.5, snap("T1", 1.5)) == [], "the interval runs from the last publication"
    assert [s.time for s in air.offer(2.0, snap("T1", 2.0))] == [2.0], (
        "an update after the interval goes at once"
    )
    assert air.due(10.0) == [], "nothing was left held"
    assert (air.offered, air.published) == (5, 3)


def test_confirmation_and_deletion_go_out_at_once() -> None:
    """A track's first confirmed snapshot and its deletion skip the interval; later confirmed ones do not."""
    air = AirPicture(5.0)
    assert len(air.offer(0.0, snap("T1", 0.0, TrackStatus.TENTATIVE))) == 1
    assert air.offer(0.5, snap("T1", 0.5, TrackStatus.TENTATIVE)) == [], "tentatives at the bounded rate"
    (confirmed,) = air.offer(1.0, snap("T1", 1.0))
    assert confirmed.status is TrackStatus.CONFIRMED
    assert air.next_due() is None, "the confirmation replaced the held tentative"
    assert air.offer(2.0, snap("T1", 2.0)) == []
    (deleted,) = air.offer(3.0, snap("T1", 3.0, TrackStatus.DELETED))
    assert deleted.status is TrackStatus.DELETED
    assert air.next_due() is None, "a deletion supersedes the held update"
    assert air.flush(9.0) == []


def test_tracks_are_bounded_each_on_its_own_interval() -> None:
    """One track's publication does not hold back another's."""
    air = AirPicture(1.0)
    air.offer(0.0, snap("T1", 0.0))
    air.offer(0.5, snap("T2", 0.5))
    air.offer(0.8, snap("T1", 0.8))
    air.offer(0.9, snap("T2", 0.9))
    assert air.next_due() == 1.0
    assert [s.track_id for s in air.due(1.0)] == ["T1"]
    assert air.next_due() == 1.5
    assert [s.track_id for s in air.due(1.5)] == ["T2"]


@given(start=st.floats(0.0, 1e6), interval=st.floats(1e-3, 100.0), step=st.floats(0.0, 1.0))
def test_a_held_state_is_due_exactly_when_next_due_says(start: float, interval: float, step: float) -> None:
    """due(next_due()) always hands the held state over, whatever the rounding: the flusher never spins."""
    air = AirPicture(interval)
    air.offer(start, snap("T1", start))
    held = min(start + step * interval, start + interval)
    if air.offer(held, snap("T1", held)):
        return  # not held: its interval had already elapsed
    due_at = air.next_due()
    assert due_at is not None
    assert len(air.due(due_at)) == 1


def test_flush_sends_every_held_state() -> None:
    """At the run's end the last state of every track still held goes out, interval or not."""
    air = AirPicture(10.0)
    air.offer(0.0, snap("T1", 0.0))
    air.offer(0.0, snap("T2", 0.0))
    air.offer(1.0, snap("T1", 1.0, east=1.0))
    air.offer(2.0, snap("T2", 2.0, east=2.0))
    assert sorted((s.track_id, s.time) for s in air.flush(3.0)) == [("T1", 1.0), ("T2", 2.0)]
    assert air.flush(4.0) == []


@given(times=st.lists(st.floats(0.0, 100.0), min_size=1, max_size=40))
def test_interval_zero_publishes_everything(times: list[float]) -> None:
    """With interval 0 every snapshot is published as it is offered."""
    air = AirPicture(0.0)
    for k, t in enumerate(sorted(times)):
        s = snap(f"T{k % 3}", t)
        assert air.offer(t, s) == [s]
    assert air.published == len(times)
    assert air.next_due() is None


@given(
    offers=st.lists(
        st.tuples(st.sampled_from(["T1", "T2"]), st.floats(0.0, 0.7), st.sampled_from(list(TrackStatus))),
        max_size=60,
    ),
    interval=st.sampled_from([0.5, 1.0, 2.0]),
)
def test_no_track_is_published_twice_within_an_interval_but_for_confirmation_and_deletion(
    offers: list[tuple[str, float, TrackStatus]], interval: float
) -> None:
    """Whatever the offers (and flusher calls between them), publications of a track are an interval apart.

    Exceptions: its first confirmation and its deletion. And every track's latest state is sent by the end.
    """
    air, t = AirPicture(interval), 0.0
    sent: list[tuple[float, TrackSnapshot]] = []
    latest: dict[str, TrackSnapshot] = {}
    deleted: set[str] = set()
    for track_id, step, status in offers:
        if track_id in deleted:
            continue  # a deleted track never changes again
        t += step
        s = snap(track_id, t, status)
        latest[track_id] = s
        deleted |= {track_id} if status is TrackStatus.DELETED else set()
        sent += [(t, x) for x in air.offer(t, s)]
        sent += [(t, x) for x in air.due(t)]
    sent += [(t, x) for x in air.flush(t)]
    for track_id, newest in latest.items():
        mine = [(when, s) for when, s in sent if s.track_id == track_id]
        assert mine[-1][1] is newest, "the latest state went out"
        confirmed_yet = mine[0][1].status is TrackStatus.CONFIRMED
        for (before, _), (when, s) in itertools.pairwise(mine):
            urgent = s.status is TrackStatus.DELETED or (
                s.status is TrackStatus.CONFIRMED and not confirmed_yet
            )
            confirmed_yet |= s.status is TrackStatus.CONFIRMED
            assert urgent or when >= before + interval or when == t, "no early publication but at the end"


def test_a_negative_interval_is_a_config_error() -> None:
    """The interval is checked where it is given."""
    with pytest.raises(ConfigError, match=">= 0"):
        AirPicture(-1.0)
    with pytest.raises(ConfigError):
        AirPicture(float("nan"))
