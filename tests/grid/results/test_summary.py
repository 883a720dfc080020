"""The summary: its warnings say what makes a run's figures unsound; its track measures use every update."""

from __future__ import annotations

import math
from typing import Any

from grid.evaluation.picture import TrackUpdate
from grid.fusion import TrackStatus
from grid.geo import LocalFrame
from grid.mqtt.broker import BrokerInfo
from grid.participants.track_log import TrackLog
from grid.results.observed import Observed
from grid.results.summary import build_summary, cyber_section, run_warnings
from grid.wire.messages import CyberStats, Envelope, FusedTrack, FusionStats
from grid.world.roster import Roster
from grid.world.scenario import load_scenario
from grid.world.truth import GroundTruth


def _summary(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "speed": 10.0,
        "tracker": {"detections": 1000, "too_late": 0},
        "latency_ms": {"p50": 2.0},
        "messages": {"lost": 0},
        "missing_accounts": [],
    }
    return base | overrides


def test_sound_run_has_no_warnings() -> None:
    """A run that fused every report in time, lost nothing and heard from everyone is not flagged."""
    assert run_warnings(_summary()) == []


def test_overloaded_grid_is_named_with_its_speed() -> None:
    """Most reports too late and seconds of latency: the warning blames the speed and says so."""
    (warning,) = run_warnings(
        _summary(tracker={"detections": 1000, "too_late": 900}, latency_ms={"p50": 11_700.0})
    )
    assert "900 of 1000 reports (90%)" in warning
    assert "overloaded at --speed 10.0" in warning
    assert "11.7 s" in warning


def test_late_reports_without_latency_point_at_outages() -> None:
    """Late reports with a healthy latency are put down to outages or impaired links first."""
    (warning,) = run_warnings(_summary(tracker={"detections": 1000, "too_late": 100}))
    assert "outages or impaired links" in warning


def test_a_few_late_reports_are_tolerated() -> None:
    """Up to 5% late reports (e.g. a short outage) do not make a run unsound."""
    assert run_warnings(_summary(tracker={"detections": 1000, "too_late": 50})) == []


def test_lost_reports_and_missing_accounts_are_listed() -> None:
    """Lost reports and silent participants each get their own warning."""
    warnings = run_warnings(_summary(messages={"lost": 17}, missing_accounts=["RO", "fusion"]))
    assert warnings == [
        "17 published reports never reached the fusion centre (see messages.lost)",
        "no final account from RO, fusion: their counters are missing",
    ]


def _fused(update: TrackUpdate, frame: LocalFrame) -> FusedTrack:
    """The fused track message of ``update``, as the fusion centre would publish it."""
    lat, lon, _ = frame.surface_point(update.east, update.north, 300.0)
    return FusedTrack(
        run_id="run-1",
        track_id=update.track_id,
        status=TrackStatus.CONFIRMED,
        time_s=update.time,
        lat=lat,
        lon=lon,
        alt_m=300.0,
        east_m=update.east,
        north_m=update.north,
        vel_east_mps=0.0,
        vel_north_mps=0.0,
        covariance=(0.0,) * 16,
    )


def test_track_measures_use_every_tracker_update_from_the_account(roster: Roster) -> None:
    """Time to locate, RMSE and the update count come from the account's log, not the fused tracks received.

    The grid received one fused track of five updates (a rate-bounded air picture); without the
    account the summary falls back on what it received.
    """
    scenario = load_scenario().model_copy(update={"duration_s": 120.0})
    truth = GroundTruth(scenario)
    threat = scenario.threats[0]
    updates = []
    for k, t in enumerate(threat.start_s + s for s in (5.0, 10.0, 15.0, 20.0, 25.0)):
        plane = truth.trajectories[threat.id].plane_state(t)
        assert plane is not None
        # 0, 30, ... 120 m off: located from the first.
        updates.append(
            TrackUpdate(time=t, issued=t, track_id="T0001", east=plane[0] + 30.0 * k, north=plane[1])
        )
    log = TrackLog()
    log.extend(updates)
    track_ids, rows = log.rows()
    account = FusionStats(
        run_id="run-1",
        delivered=0,
        duplicates=0,
        track_interval_s=1.0,
        tracks_published=1,
        track_ids=track_ids,
        track_log=rows,
    )
    broker = BrokerInfo(kind="external", host="127.0.0.1", port=1883)
    seen = Observed("run-1")
    seen.observe(Envelope(body=_fused(updates[-1], truth.frame), origin="fusion"), updates[-1].issued)
    received_only = build_summary(
        scenario=scenario, roster=roster, speed=1.0, broker=broker, seen=seen, wall_s=0.0
    )
    assert received_only["air_picture"] is None, "no account, no air picture figures"
    assert received_only["threats"][0]["track_updates"] == 1
    assert received_only["threats"][0]["time_to_locate_s"] is None, "the one update received is 120 m off"

    seen.observe(Envelope(body=account, origin="fusion"), 200.0)
    summary = build_summary(scenario=scenario, roster=roster, speed=1.0, broker=broker, seen=seen, wall_s=0.0)
    (entry,) = summary["threats"]
    assert entry["track_updates"] == 5
    assert entry["time_to_locate_s"] == 5.0
    assert entry["rmse_m"] == round(math.sqrt((0 + 30**2 + 60**2 + 90**2 + 120**2) / 5), 2)
    assert summary["messages"]["track_updates"] == 5
    assert summary["air_picture"] == {"interval_s": 1.0, "published": 1, "tracker_updates": 5}


def test_cyber_section_without_the_hubs_account_has_every_key_empty(roster: Roster) -> None:
    """No account from the hub: the section is present, with the metrics' keys and nothing in them."""
    section = cyber_section(None, roster)
    assert section["indicators"] == []
    assert section["duplicates_absorbed"] == 0
    assert section["analysis_saved"] == 0.0
    assert section["time_to_warning_s"] == dict.fromkeys(roster)
    assert section["rejected"] == {}
    assert section["taxii"] == {}


def test_cyber_section_is_the_hubs_metrics_with_rejections_and_taxii(roster: Roster) -> None:
    """The hub's metrics, key for key, then its rejections and TAXII figures."""
    metrics = {"indicators": [], "duplicates_absorbed": 2, "analysis_saved": 0.5, "time_to_warning_s": {}}
    stats = CyberStats(run_id="r", metrics=metrics, rejected={"bad_pattern": 1}, taxii={"pushed": 3})
    assert cyber_section(stats, roster) == {**metrics, "rejected": {"bad_pattern": 1}, "taxii": {"pushed": 3}}
