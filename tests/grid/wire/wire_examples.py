"""Fixed envelopes of every body type, built in code; their encodings are kept in ``golden/``.

The golden bytes were produced by the hand-written codec (commit 5144a1b) from exactly these
envelopes, so a test can prove that today's codec writes the same bytes and reads them back.
"""

from __future__ import annotations

from grid.wire.messages import (
    Awareness,
    AwarenessSource,
    Envelope,
    FusedTrack,
    FusionStats,
    NodePicture,
    NodeState,
    NodeStatus,
    RunAction,
    RunControl,
    RunResults,
    ThreatReport,
)

SENT_NS = 1_764_712_800_123_456_789


def _env(body: object, origin: str, n: int) -> Envelope:
    return Envelope(body=body, origin=origin, msg_id=f"{n:032x}", sent_ns=SENT_NS + n)  # type: ignore[arg-type]


def examples() -> list[Envelope]:
    """One or more envelopes of each body type, optional fields both present and absent."""
    cov = tuple(float(i == j) * (10.0 + i) + 0.25 * (i != j) for i in range(4) for j in range(4))
    bodies: list[tuple[object, str]] = [
        (
            ThreatReport(
                run_id="run-20261202-220000",
                sensor_id="RO-RAD-CAPE-MIDIA",
                sensor_kind="radar",
                sensor_lat=44.355,
                sensor_lon=28.68,
                sensor_alt_m=30.0,
                time_s=123.456,
                bearing_deg=359.999,
                sigma_bearing_deg=0.4,
                range_m=150_000.0,
                sigma_range_m=30.0,
                elevation_deg=-1.5,
                sigma_elevation_deg=0.8,
                max_range_m=150_000.0,
                truth_id="uav-1",
            ),
            "RO",
        ),
        (
            ThreatReport(
                run_id="r" * 64,
                sensor_id="BG-ACOUSTIC-7",
                sensor_kind="acoustic",
                sensor_lat=-90.0,
                sensor_lon=180.0,
                sensor_alt_m=-500.0,
                time_s=0.0,
                bearing_deg=0.0,
                sigma_bearing_deg=90.0,
                max_range_m=1.0,
            ),
            "BG",
        ),
        (
            FusedTrack(
                run_id="run-1",
                track_id="T17",
                status="confirmed",
                time_s=600.0,
                lat=44.2,
                lon=28.8,
                alt_m=300.0,
                east_m=-12_345.678,
                north_m=98_765.4321,
                vel_east_mps=-50.0,
                vel_north_mps=-20.0,
                covariance=cov,
                node_ids=("RO", "BG", "PL"),
                truth_ids=("uav-1",),
                updates=42,
            ),
            "fusion",
        ),
        (
            FusedTrack(
                run_id="run-1",
                track_id="T1",
                status="tentative",
                time_s=1e7,
                lat=90.0,
                lon=-180.0,
                alt_m=30_000.0,
                east_m=1e7,
                north_m=-1e7,
                vel_east_mps=1e4,
                vel_north_mps=-1e4,
                covariance=(0.0,) * 16,
            ),
            "fusion",
        ),
        (NodeStatus(node_id="RO", state=NodeState.ONLINE), "RO"),
        (
            NodeStatus(
                node_id="PL",
                state=NodeState.RUNNING,
                run_id="run-1",
                counters={"published": 1200, "rejected.bad_type": 0, "big": 2**63 - 1, "neg": -(2**63)},
                outage_reports=("a" * 32, "b" * 32),
                outage_published_s=(41.5, 42.0),
            ),
            "PL",
        ),
        (NodeStatus(node_id="LT", state=NodeState.OFFLINE, run_id=None), "LT"),
        (
            RunControl(
                action=RunAction.START,
                run_id="run-1",
                epoch_ns=SENT_NS,
                speed=10.0,
                seed=-7,
                scenario={
                    "name": "black-sea",
                    "duration_s": 600,
                    "threats": [{"id": "uav-1", "path": [[44.0, 28.0], [44.1, 28.1]], "speed_mps": 50.5}],
                    "nothing": None,
                    "flag": True,
                    "blob": b"\x00\x01",
                },
            ),
            "run",
        ),
        (RunControl(action=RunAction.END, run_id="run-1", epoch_ns=0, speed=1.0), "run"),
        (
            Awareness(
                run_id="run-1",
                node_id="RO",
                threat_id="uav-1",
                time_s=17.25,
                source=AwarenessSource.GRID_REPORT,
            ),
            "RO",
        ),
        (
            FusionStats(
                run_id="run-1",
                delivered=12_000,
                duplicates=3,
                rejected={"bad_type": 2},
                latency_ms={"p50": 1.25, "p99": 9.5},
                tracker={"confirmed": 4},
                update_us={"p50": 120.0},
                report_age_ms={"RO.p50": 3.0, "RO.count": 100.0},
                resubscribed_s=(12.0, 80.5),
                lost_published_s=(13.0,),
            ),
            "fusion",
        ),
        (FusionStats(run_id="run-2", delivered=0, duplicates=0), "fusion"),
        (
            NodePicture(
                run_id="run-1",
                node_id="RO",
                threats={"uav-1": {"time_to_locate_s": 12.5, "rmse_m": None, "track_updates": 9}},
            ),
            "RO",
        ),
        (
            RunResults(
                run_id="run-1",
                summary={"run_id": "run-1", "nodes": {"RO": {"sent": 3}}, "ratios": [0.5, 1, None]},
            ),
            "results",
        ),
    ]
    return [_env(body, origin, n) for n, (body, origin) in enumerate(bodies)]
