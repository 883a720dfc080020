"""Distributed mode: every node fuses its own picture, scored as the summary scores the fusion centre's."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from grid.app.run import RunOptions, run_grid
from grid.clock import ScaledClock
from grid.evaluation.picture import TrackUpdate
from grid.fusion import TrackStatus
from grid.mqtt.broker import BrokerInfo
from grid.participants.node import _Picture
from grid.participants.service import ActiveRun
from grid.results.observed import Observed
from grid.results.summary import build_summary
from grid.wire.messages import Envelope, FusedTrack, NodePicture
from grid.world.roster import Roster
from grid.world.scenario import Scenario, load_scenario
from grid.world.truth import GroundTruth


def short_scenario() -> Scenario:
    """The default drone scenario cut to 40 s: RO locates the drone within seconds."""
    return load_scenario().model_copy(update={"duration_s": 40.0})


async def _run(broker: BrokerInfo, roster: Roster, out: Path, *, fuse_locally: bool) -> dict[str, Any]:
    options = RunOptions(
        scenario=short_scenario(),
        roster=roster,
        speed=5.0,  # accuracy is checked: over 3x CPU headroom on one loaded core
        broker_url=broker.url,
        out_dir=out,
        fuse_locally=fuse_locally,
    )
    return await run_grid(options)


@pytest.mark.broker
async def test_every_node_reports_its_own_picture(
    mosquitto: BrokerInfo, roster: Roster, tmp_path: Path
) -> None:
    """With fuse_locally every node's picture is in the summary, and RO's own picture locates the drone."""
    summary = await _run(mosquitto, roster, tmp_path, fuse_locally=True)
    pictures = summary["pictures"]
    assert set(pictures) == set(roster)
    assert all(set(entry) == {"uav-1"} for entry in pictures.values())
    ro = pictures["RO"]["uav-1"]
    assert ro["time_to_locate_s"] is not None
    assert math.isfinite(ro["rmse_m"])
    assert ro["rmse_m"] < 300.0
    central = summary["threats"][0]["time_to_locate_s"]
    assert ro["central_time_to_locate_s"] == central
    if central is None:
        # Sixteen trackers on a loaded machine: the fusion centre got its reports too late to fuse
        # them, and the summary says so (the node's own picture, checked above, is local).
        assert any("too late to be fused" in warning for warning in summary["warnings"]), summary["warnings"]
    else:
        assert isinstance(ro["locate_delay_s"], float)
    assert summary["missing_accounts"] == []


@pytest.mark.broker
async def test_no_pictures_by_default(mosquitto: BrokerInfo, roster: Roster, tmp_path: Path) -> None:
    """Without fuse_locally no node publishes a picture and the summary has no ``pictures`` key."""
    summary = await _run(mosquitto, roster, tmp_path, fuse_locally=False)
    assert "pictures" not in summary
    assert summary["missing_accounts"] == []


def test_summary_compares_pictures_with_the_centre(roster: Roster) -> None:
    """Observed pictures appear in the summary beside the central figures, delay null when not located."""
    scenario = short_scenario()
    seen = Observed("run-1")
    pictures: dict[str, dict[str, Any]] = {
        "RO": {"uav-1": {"time_to_locate_s": 12.5, "rmse_m": 40.0, "track_updates": 9}},
        "BG": {"uav-1": {"time_to_locate_s": None, "rmse_m": None, "track_updates": 0}},
    }
    for node_id, threats in pictures.items():
        body = NodePicture(run_id="run-1", node_id=node_id, threats=threats)
        seen.observe(Envelope(body=body, origin=node_id), 0.0)
    broker = BrokerInfo(kind="external", host="127.0.0.1", port=1883)
    summary = build_summary(scenario=scenario, roster=roster, speed=1.0, broker=broker, seen=seen, wall_s=0.0)
    assert set(summary["pictures"]) == {"RO", "BG"}
    ro, bg = summary["pictures"]["RO"]["uav-1"], summary["pictures"]["BG"]["uav-1"]
    assert ro["time_to_locate_s"] == 12.5
    assert ro["central_time_to_locate_s"] is None  # no fused tracks were observed
    assert ro["locate_delay_s"] is None
    assert bg["time_to_locate_s"] is None
    assert bg["locate_delay_s"] is None


def test_own_picture_is_scored_like_the_summary(roster: Roster) -> None:
    """The same confirmed updates give a node's own picture and the run summary the same figures."""
    scenario = short_scenario()
    truth = GroundTruth(scenario)
    threat = scenario.threats[0]
    picture = _Picture(ActiveRun("run-1", scenario, ScaledClock(epoch_ns=0, speed=1.0)))
    seen = Observed("run-1")
    for k, t in enumerate(threat.start_s + s for s in (5.0, 10.0, 15.0, 20.0, 25.0)):
        plane = truth.trajectories[threat.id].plane_state(t)
        assert plane is not None
        east, north = plane[0] + 30.0 * k, plane[1]  # 0, 30, ... 120 m off: located at the first three
        picture.updates.append(TrackUpdate(time=t, issued=t, track_id="T0001", east=east, north=north))
        lat, lon, _ = truth.frame.surface_point(east, north, 300.0)
        track = FusedTrack(
            run_id="run-1",
            track_id="T0001",
            status=TrackStatus.CONFIRMED,
            time_s=t,
            lat=lat,
            lon=lon,
            alt_m=300.0,
            east_m=east,
            north_m=north,
            vel_east_mps=0.0,
            vel_north_mps=0.0,
            covariance=(0.0,) * 16,
        )
        seen.observe(Envelope(body=track, origin="fusion"), t)
    broker = BrokerInfo(kind="external", host="127.0.0.1", port=1883)
    summary = build_summary(scenario=scenario, roster=roster, speed=1.0, broker=broker, seen=seen, wall_s=0.0)
    central = summary["threats"][0]
    own = picture.scores(ActiveRun("run-1", scenario, ScaledClock(epoch_ns=0, speed=1.0)))[threat.id]
    assert own == {k: central[k] for k in ("time_to_locate_s", "rmse_m", "track_updates")}
    assert own["time_to_locate_s"] == 5.0
    assert own["track_updates"] == 5
    assert own["rmse_m"] == round(math.sqrt((0 + 30**2 + 60**2 + 90**2 + 120**2) / 5), 2)
