"""A forgery's summary entry: which tracks were its phantom's, who refused it, and the verdict."""

from __future__ import annotations

from typing import Any

from grid.evaluation.picture import TrackUpdate
from grid.geo import LocalFrame
from grid.results.event_effects import event_effects
from grid.results.forgery import ForgeryView, add_outsider
from grid.world.events import Forgery, Phantom
from grid.world.roster import Roster
from grid.world.timeline import phantom_trajectory

FRAME = LocalFrame(44.2, 28.8)
EVENT = Forgery(
    kind="forgery",
    at_s=10.0,
    as_node="FR",
    phantom=Phantom(id="ghost", speed_mps=60.0, altitude_m=400.0, path=[(43.6, 29.2), (43.75, 28.95)]),
)


def _update(track: str, t: float, east: float, north: float, *, confirmed: bool = True) -> TrackUpdate:
    return TrackUpdate(time=t, issued=t, track_id=track, east=east, north=north, confirmed=confirmed)


def _at_phantom(track: str, t: float, offset_m: float = 0.0, *, confirmed: bool = True) -> TrackUpdate:
    plane = phantom_trajectory(EVENT, FRAME).plane_state(t)
    assert plane is not None
    return _update(track, t, plane[0] + offset_m, plane[1], confirmed=confirmed)


def _entry(
    roster: Roster,
    updates: list[TrackUpdate],
    rejected: dict[str, int] | None = None,
    per_node: dict[str, dict[str, int]] | None = None,
) -> dict[str, Any]:
    view = ForgeryView(frame=FRAME, track_updates=updates, radius_m=1000.0, fusion_rejected=rejected or {})
    (entry,) = event_effects(
        [EVENT], roster=roster, per_node=per_node or {}, reports_by_truth={}, forgery=view
    )
    return entry


def _account(**published: int) -> dict[str, Any]:
    return {
        "connected": True,
        "refused_by_broker": None,
        "published": published,
        "published_total": sum(published.values()),
    }


def test_a_confirmed_track_at_the_phantom_is_its_track(roster: Roster) -> None:
    """Confirmed updates within the radius while the event is on count; tentative or far ones do not."""
    updates = [
        _at_phantom("T1", 20.0, 300.0),
        _at_phantom("T2", 20.0, 0.0, confirmed=False),
        _at_phantom("T3", 20.0, 5000.0),
        _update("T4", 5.0, 0.0, 0.0),  # before at_s: the phantom is not flying yet
    ]
    entry = _entry(roster, updates)
    assert (entry["phantom_tracked"], entry["phantom_tracks"]) == (True, ["T1"])
    assert entry["nearest_track_m"] == 300.0
    assert entry["caught_by"].startswith("not played")
    add_outsider(entry, _account(unsigned=3))
    assert entry["caught_by"].startswith("nothing: the fusion centre refused 0 of the outsider's 3")
    assert entry["caught_by"].endswith("its phantom was tracked (T1)")


def test_refused_by_the_receivers(roster: Roster) -> None:
    """The centre's and the peers' refusals, by reason; no track at the phantom."""
    peer = next(iter(roster.peers("FR")))
    per_node = {peer: {"rejected.unsigned": 2, "rejected.stale": 1, "published": 40}, "FR": {"rejected.x": 9}}
    entry = _entry(roster, [_at_phantom("T1", 20.0, 4000.0)], {"unsigned": 2, "stale": 1}, per_node)
    assert entry["rejected_by_fusion"] == {"stale": 1, "unsigned": 2}
    assert entry["rejected_by_peers"] == {"stale": 1, "unsigned": 2}, "FR's own counters are not its peers'"
    assert (entry["phantom_tracked"], entry["nearest_track_m"]) == (False, 4000.0)
    add_outsider(entry, _account(unsigned=2, stale=1))
    assert entry["caught_by"] == (
        "the receivers' checks: the fusion centre refused 3 of the outsider's 3 messages "
        f"(stale 1, unsigned 2), FR's {len(roster.peers('FR'))} peers 3 in all; its phantom was never tracked"
    )


def test_refused_by_the_broker(roster: Roster) -> None:
    """A connection the broker refused: nothing published, the reason quoted."""
    entry = _entry(roster, [])
    add_outsider(entry, {**_account(), "connected": False, "refused_by_broker": "no certificate"})
    assert entry["nearest_track_m"] is None
    assert entry["caught_by"] == (
        "the broker: it refused the outsider's connection, so nothing was published; its phantom was "
        "never tracked [no certificate]"
    )
