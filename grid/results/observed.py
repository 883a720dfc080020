"""What the run controller sees on the broker during one run, kept for the summary."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from grid.evaluation.picture import TrackUpdate
from grid.fusion import TrackStatus
from grid.mqtt.outage import PlayedOutage
from grid.participants.track_log import updates_from_log
from grid.wire.messages import (
    Awareness,
    CyberStats,
    Envelope,
    FusedTrack,
    FusionStats,
    NodePicture,
    NodeState,
    NodeStatus,
    SensorScan,
    ThreatReport,
    reports_in,
)

__all__ = ["Observed", "Progress"]


@dataclass(kw_only=True)
class Progress:
    """Live figures for the progress display."""

    sim_time_s: float = 0.0
    duration_s: float = 0.0
    reports: int = 0
    track_updates: int = 0
    confirmed_tracks: set[str] = field(default_factory=set)
    aware_nodes: set[str] = field(default_factory=set)


@dataclass
class Observed:
    """Everything seen of one run: reports, tracks, awareness and each participant's account."""

    run_id: str
    progress: Progress = field(default_factory=Progress)
    first_report: dict[str, float] = field(default_factory=dict)
    # The fused tracks received: the rate-bounded air picture, not every tracker update.
    received_tracks: list[TrackUpdate] = field(default_factory=list)
    # The same as received, covariance and all, each with its simulation time of receipt (the run
    # report's tracks.jsonl).
    fused_tracks: list[tuple[float, FusedTrack]] = field(default_factory=list)
    # Confirmed track id -> every node whose reports it used: one node alone is uncorroborated.
    track_nodes: dict[str, set[str]] = field(default_factory=dict)
    awareness: dict[str, dict[str, Awareness]] = field(default_factory=dict)
    final_status: dict[str, NodeStatus] = field(default_factory=dict)
    fusion: FusionStats | None = None
    cyber: CyberStats | None = None  # the cyber-exchange hub's account
    pictures: dict[str, NodePicture] = field(default_factory=dict)  # node id -> its own picture
    reports_seen: set[str] = field(default_factory=set)
    reports_by_truth: dict[str, int] = field(default_factory=dict)
    # Reports of real or phantom targets (message id, origin, report), for the Cramér-Rao bound.
    labelled_reports: list[tuple[str, str, ThreatReport]] = field(default_factory=list)
    measurements: list[tuple[str, float, float, float | None, float | None]] = field(default_factory=list)
    broker_outages: list[PlayedOutage] = field(default_factory=list)
    # node id -> (simulation time, state) of each status change seen during the run; an offline
    # status without a run id is the broker's last will for a connection that dropped.
    status_log: dict[str, list[tuple[float, NodeState]]] = field(default_factory=dict)
    _logged: tuple[FusionStats, list[TrackUpdate]] | None = field(default=None, repr=False)

    def observe(self, env: Envelope, now: float) -> None:
        """Take in one message of this run, received at simulation time ``now`` (others are ignored)."""
        body, progress = env.body, self.progress
        if isinstance(body, NodeStatus):
            self._note_status(body, now)
        if getattr(body, "run_id", None) != self.run_id:
            return
        if isinstance(body, (SensorScan, ThreatReport)):
            if env.msg_id in self.reports_seen:
                return
            self.reports_seen.add(env.msg_id)
            for report_id, report in reports_in(env):
                self._note_report(report_id, env.origin, report)
        elif isinstance(body, FusedTrack):
            progress.track_updates += 1
            self.fused_tracks.append((now, body))
            confirmed = body.status == TrackStatus.CONFIRMED
            if confirmed:
                progress.confirmed_tracks.add(body.track_id)
                self.track_nodes.setdefault(body.track_id, set()).update(body.node_ids)
            self.received_tracks.append(
                TrackUpdate(
                    time=body.time_s,
                    issued=max(now, body.time_s),
                    track_id=body.track_id,
                    east=body.east_m,
                    north=body.north_m,
                    vel_east=body.vel_east_mps,
                    vel_north=body.vel_north_mps,
                    confirmed=confirmed,
                    deleted=body.status == TrackStatus.DELETED,
                )
            )
        elif isinstance(body, Awareness):
            self.awareness.setdefault(body.node_id, {}).setdefault(body.threat_id, body)
            progress.aware_nodes.add(body.node_id)
        elif isinstance(body, NodeStatus):
            if body.state is NodeState.ONLINE:
                self.final_status[body.node_id] = body
        elif isinstance(body, FusionStats | CyberStats | NodePicture):
            self._note_account(body)

    def _note_account(self, body: FusionStats | CyberStats | NodePicture) -> None:
        if isinstance(body, FusionStats):
            self.fusion = body
        elif isinstance(body, CyberStats):
            self.cyber = body
        else:
            self.pictures[body.node_id] = body

    @property
    def track_updates(self) -> list[TrackUpdate]:
        """Every tracker update of the run, from the fusion centre's account (what the track measures use).

        Without the account (the summary warns of it), the fused tracks received stand in.
        """
        fusion = self.fusion
        if fusion is None:
            return self.received_tracks
        if self._logged is None or self._logged[0] is not fusion:
            self._logged = (fusion, updates_from_log(fusion))  # decoded once per account
        return self._logged[1]

    def _note_report(self, report_id: str, origin: str, report: ThreatReport) -> None:
        self.measurements.append(
            (report.sensor_id, report.time_s, report.bearing_deg, report.range_m, report.elevation_deg)
        )
        self.progress.reports += 1
        truth_id = report.truth_id
        if truth_id is not None:
            self.reports_by_truth[truth_id] = self.reports_by_truth.get(truth_id, 0) + 1
            self.labelled_reports.append((report_id, origin, report))
            prev = self.first_report.get(truth_id)
            self.first_report[truth_id] = report.time_s if prev is None else min(prev, report.time_s)

    def _note_status(self, status: NodeStatus, now: float) -> None:
        if status.run_id in (None, self.run_id):
            changes = self.status_log.setdefault(status.node_id, [])
            if not changes or changes[-1][1] is not status.state:
                changes.append((now, status.state))

    def accounts_complete(self, participants: int) -> bool:
        """Whether the fusion centre's and the hub's accounts and every participant's final status are in."""
        return self.fusion is not None and self.cyber is not None and len(self.final_status) >= participants

    def measurement_digest(self) -> str:
        """A fingerprint of every measurement of the run, independent of arrival order and speed."""
        digest = hashlib.sha256()
        for m in sorted(self.measurements, key=lambda m: (m[0], m[1])):
            digest.update(repr(m).encode())
        return digest.hexdigest()[:16]
